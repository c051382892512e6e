"""Electing delegates on one node: mandate proposals, term limits and rotation, the delegate's
key, the signed credential and its announcement, reports back to the assembly."""

from __future__ import annotations

import json
import uuid
from typing import Any

from flask import Flask
from sqlalchemy import select

from delegates import client, documents
from delegates.documents import MandateDoc
from delegates.models import Mandate
from federation import signing
from federation.identity import local_identity
from node.db import session_scope
from tests.conftest import PASSWORD, Api
from tests.delegates.single_node import decide, envelopes, ok, propose
from tests.federation.outbox_support import new_node_id
from tests.node.factories import assert_problem, row_counts


def test_election_then_key_then_credential(
    app: Flask, make_member: Any, steward: Api, assembly: dict[str, Any], federation: str
) -> None:
    nadia = make_member("nadia")
    positions = [{"topic": "relief", "stance": "for", "note": "pool the generators"}]
    proposal = ok(propose(steward, assembly, federation, positions=positions), 201)
    assert proposal["kind"] == "mandate" and proposal["payload"]["delegate"] == "nadia"
    decide(steward, proposal)
    mandate = ok(nadia.get("/mandates?mine=true"))["items"][0]
    assert mandate["status"] == "awaiting_key" and mandate["credential"] is None and not mandate["live"]
    assert_problem(steward.post(f"/mandates/{mandate['id']}/key", json={}), 404, "not-found")
    issued = ok(nadia.post(f"/mandates/{mandate['id']}/key", json={}), 201)
    credential, private = issued["mandate"]["credential"], issued["private_key"]
    assert issued["mandate"]["live"] and issued["mandate"]["public_key"] == credential["key"]
    # The private half matches the bound key, and the node kept none of it.
    assert signing.public_key_text(client.load_key(private)) == credential["key"]
    assert private not in json.dumps(row_counts(app)) and private not in json.dumps(export_of(nadia))
    signing.verify(credential, local_identity(app).public_key)
    doc = documents.parse(MandateDoc, credential, "mandate")
    assert doc.issuer == local_identity(app).node_id and doc.federation == federation
    assert doc.positions[0].note == "pool the generators" and doc.scope == ["relief"]
    assert_problem(nadia.post(f"/mandates/{mandate['id']}/key", json={}), 409, "conflict")
    sent = envelopes(app, "mandate.issued")
    assert [e["body"]["mandate"] for e in sent] == [credential] and sent[0]["audience"] == [federation]
    assert steward.get(f"/mandates/{mandate['id']}").get_json()["mine"] is False


def export_of(api: Api) -> Any:
    return ok(api.get("/me/export"))


def test_delegate_made_key_only_the_public_half_registered(
    app: Flask, make_member: Any, steward: Api, assembly: dict[str, Any], federation: str
) -> None:
    nadia = make_member("nadia")
    private, public = client.make_key()
    decide(steward, ok(propose(steward, assembly, federation, public_key=public), 201))
    mandate = ok(nadia.get("/mandates?mine=true"))["items"][0]
    assert mandate["status"] == "live" and mandate["credential"]["key"] == public
    act = client.vote(private, mandate["credential"], str(uuid.uuid4()), "for")
    signing.verify(act, public)
    export = export_of(nadia)
    assert export["mandates"][0]["public_key"] == public


def test_register_your_own_key_after_the_election(
    make_member: Any, steward: Api, assembly: dict[str, Any], federation: str
) -> None:
    nadia = make_member("nadia")
    decide(steward, ok(propose(steward, assembly, federation), 201))
    mandate = ok(nadia.get("/mandates?mine=true"))["items"][0]
    bad = nadia.post(f"/mandates/{mandate['id']}/key", json={"public_key": "not-a-key"})
    assert_problem(bad, 422, "validation")
    _, public = client.make_key()
    issued = ok(nadia.post(f"/mandates/{mandate['id']}/key", json={"public_key": public}), 201)
    assert issued["private_key"] is None and issued["mandate"]["credential"]["key"] == public


def test_a_rejected_election_issues_nothing(
    app: Flask, make_member: Any, steward: Api, assembly: dict[str, Any], federation: str
) -> None:
    make_member("nadia")
    decision = decide(steward, ok(propose(steward, assembly, federation), 201), stance="against")
    assert decision["outcome"] == "rejected"
    with session_scope(app) as db:
        assert db.scalars(select(Mandate)).all() == []
    assert envelopes(app, "mandate.issued") == []


def test_mandate_proposals_are_checked(
    make_member: Any, steward: Api, assembly: dict[str, Any], federation: str
) -> None:
    make_member("nadia")
    assert_problem(propose(steward, assembly, new_node_id()), 422, "validation", "federation")
    assert_problem(propose(steward, assembly, federation, term_days=61), 422, "validation", "term_days")
    assert_problem(propose(steward, assembly, federation, delegate="nobody"), 404, "not-found", "delegate")
    assert_problem(propose(steward, assembly, federation, scope=[]), 422, "validation", "scope")
    bad_position = [{"topic": "relief", "proposal": str(uuid.uuid4()), "stance": "for"}]
    assert_problem(propose(steward, assembly, federation, positions=bad_position), 422, "validation")
    not_free = [{"topic": "relief", "stance": "for", "allowed": ["for"]}]
    assert_problem(propose(steward, assembly, federation, positions=not_free), 422, "validation")
    proposal = ok(propose(steward, assembly, federation), 201)
    amend = steward.post(f"/proposals/{proposal['id']}/amendments", json={"text": "someone else"})
    assert_problem(amend, 409, "invalid-state")


def test_term_limits_and_rotation(
    app: Flask, make_member: Any, steward: Api, assembly: dict[str, Any], federation: str
) -> None:
    nadia = make_member("nadia")
    make_member("omar")
    ok(steward.patch(f"/assemblies/{assembly['id']}", json={"delegate_max_terms": 1}))
    decide(steward, ok(propose(steward, assembly, federation), 201))
    # A live mandate already: not twice to the same federation.
    again = propose(steward, assembly, federation)
    body = assert_problem(again, 422, "validation", "delegate")
    assert "1 mandate(s)" in body["errors"][0]["reason"]
    candidates = ok(nadia.get(f"/assemblies/{assembly['id']}/delegate-candidates?federation={federation}"))
    by_handle = {c["handle"]: c for c in candidates["items"]}
    assert by_handle["nadia"]["eligible"] is False and by_handle["nadia"]["terms_in_window"] == 1
    assert by_handle["omar"]["eligible"] is True
    assert candidates["items"][0]["terms_in_window"] == 0  # those who served least come first
    ok(propose(steward, assembly, federation, delegate="omar"), 201)


def test_eligibility_is_checked_again_when_decided(
    app: Flask, make_member: Any, steward: Api, assembly: dict[str, Any], federation: str
) -> None:
    make_member("nadia")
    first = ok(propose(steward, assembly, federation), 201)
    second = ok(propose(steward, assembly, federation), 201)
    decide(steward, first)
    decide(steward, second)
    with session_scope(app) as db:
        assert len(db.scalars(select(Mandate)).all()) == 1
    record = ok(steward.get(f"/assemblies/{assembly['id']}/record"))
    assert any(m["text"].startswith("No mandate issued: nadia already holds") for m in record["minutes"])


def test_an_elected_member_who_left_gets_no_mandate(
    app: Flask, make_member: Any, steward: Api, assembly: dict[str, Any], federation: str
) -> None:
    nadia = make_member("nadia")
    proposal = ok(propose(steward, assembly, federation), 201)
    assert nadia.post("/me/erase", json={"password": PASSWORD}).status_code in (200, 204)
    decide(steward, proposal)
    record = ok(steward.get(f"/assemblies/{assembly['id']}/record"))
    assert "the elected member has left the node" in record["minutes"][-1]["text"]


def test_reports_back_to_the_assembly(
    make_member: Any, steward: Api, assembly: dict[str, Any], federation: str
) -> None:
    nadia = make_member("nadia")
    decide(steward, ok(propose(steward, assembly, federation), 201))
    mandate = ok(nadia.get("/mandates?mine=true"))["items"][0]
    assert_problem(steward.post(f"/mandates/{mandate['id']}/reports", json={"text": "x"}), 403, "forbidden")
    report = ok(
        nadia.post(f"/mandates/{mandate['id']}/reports", json={"text": "The council pooled the generators."}),
        201,
    )
    assert report["kind"] == "report" and report["author_handle"] == "nadia"
    record = ok(steward.get(f"/assemblies/{assembly['id']}/record"))
    assert record["minutes"][-1]["text"] == "The council pooled the generators."


def test_mandate_lists(make_member: Any, steward: Api, assembly: dict[str, Any], federation: str) -> None:
    nadia = make_member("nadia")
    decide(steward, ok(propose(steward, assembly, federation), 201))
    assert ok(steward.get("/mandates?mine=true"))["total"] == 0
    assert ok(steward.get(f"/mandates?federation={federation}&status=awaiting_key"))["total"] == 1
    assert ok(nadia.get("/mandates?status=live"))["total"] == 0
    assert_problem(nadia.get(f"/mandates/{uuid.uuid4()}"), 404, "not-found")
