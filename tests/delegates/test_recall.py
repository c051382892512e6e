"""Recall on the issuing node: by the assembly's decision, by a petition reaching its
threshold, and never without a decision."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from delegates import documents, recall
from delegates.documents import RecallDoc
from delegates.errors import Refused
from delegates.models import Mandate
from federation import signing
from federation.identity import local_identity
from node.assemblies.models import Decision
from node.db import session_scope
from tests.conftest import Api
from tests.delegates.single_node import decide, envelopes, ok, propose
from tests.node.factories import assert_problem, row_counts


@pytest.fixture
def elected(make_member: Any, steward: Api, assembly: dict[str, Any], federation: str) -> dict[str, Any]:
    """A live mandate of nadia's."""
    nadia = make_member("nadia")
    decide(steward, ok(propose(steward, assembly, federation), 201))
    mandate = ok(nadia.get("/mandates?mine=true"))["items"][0]
    return dict(ok(nadia.post(f"/mandates/{mandate['id']}/key", json={}), 201)["mandate"])


def test_recall_by_the_assembly(app: Flask, steward: Api, elected: dict[str, Any], make_member: Any) -> None:
    ana = make_member("ana")
    path = f"/mandates/{elected['id']}"
    proposal = ok(ana.post(f"{path}/recall-proposals", json={"reason": "broke the mandate"}), 201)
    assert proposal["kind"] == "recall" and proposal["payload"]["mandate"] == elected["id"]
    dup = ana.post(f"/mandates/{elected['id']}/recall-proposals", json={"reason": "again"})
    assert_problem(dup, 409, "conflict")
    decide(steward, proposal)
    seen = ok(ana.get(f"/mandates/{elected['id']}"))
    assert seen["status"] == "recalled" and not seen["live"] and seen["recall_reason"] == "broke the mandate"
    sent = envelopes(app, "mandate.recalled")
    assert len(sent) == 1 and sent[0]["priority"] == 1
    signed = sent[0]["body"]["recall"]
    signing.verify(signed, local_identity(app).public_key)
    doc = documents.parse(RecallDoc, signed, "recall")
    assert doc.mandate == elected["id"] and doc.decision != elected["decision_id"]
    assert sent[0]["body"]["mandate"] == elected["credential"]
    assert_problem(
        ana.post(f"/mandates/{elected['id']}/recall-proposals", json={"reason": "x"}), 409, "invalid-state"
    )
    assert_problem(ana.post(f"{path}/petitions", json={"reason": "x"}), 409, "invalid-state")


def test_a_failed_recall_vote_changes_nothing(app: Flask, steward: Api, elected: dict[str, Any]) -> None:
    proposal = ok(steward.post(f"/mandates/{elected['id']}/recall-proposals", json={"reason": "r"}), 201)
    assert decide(steward, proposal, stance="against")["outcome"] == "rejected"
    assert ok(steward.get(f"/mandates/{elected['id']}"))["status"] == "live"
    assert envelopes(app, "mandate.recalled") == []


def test_petition_opens_the_recall_vote_at_its_threshold(
    app: Flask, steward: Api, assembly: dict[str, Any], elected: dict[str, Any], make_member: Any
) -> None:
    rules = {"recall_petition_count": 3, "recall_petition_percent": 0}
    ok(steward.patch(f"/assemblies/{assembly['id']}", json=rules))
    ana, ben, cai = make_member("ana"), make_member("ben"), make_member("cai")
    path = f"/mandates/{elected['id']}/petitions"
    opened = ok(ana.post(path, json={"reason": "missed every meeting"}), 201)
    assert (opened["signatures"], opened["threshold"], opened["signed_by_me"]) == (1, 3, True)
    assert_problem(ben.post(f"/mandates/{elected['id']}/petitions", json={"reason": "x"}), 409, "conflict")
    assert_problem(ana.post(f"/petitions/{opened['id']}/sign"), 409, "conflict")
    assert ok(ben.post(f"/petitions/{opened['id']}/sign"))["status"] == "open"
    triggered = ok(cai.post(f"/petitions/{opened['id']}/sign"))
    assert triggered["status"] == "triggered" and triggered["proposal_id"]
    vote = ok(ana.get(f"/proposals/{triggered['proposal_id']}"))
    assert vote["kind"] == "recall" and vote["payload"]["petition"] == opened["id"]
    assert_problem(ana.post(f"/petitions/{opened['id']}/sign"), 409, "invalid-state")
    decide(steward, vote)
    assert ok(ana.get(f"/mandates/{elected['id']}"))["status"] == "recalled"
    assert ok(ana.get(f"/petitions/{opened['id']}"))["status"] == "closed"
    record = ok(ana.get(f"/assemblies/{assembly['id']}/record"))
    kinds = [m["kind"] for m in record["minutes"]]
    assert "petition" in kinds and kinds[-1] == "recall"


def test_threshold_as_a_share_of_members(
    steward: Api, assembly: dict[str, Any], elected: dict[str, Any], make_member: Any
) -> None:
    for n in range(8):
        make_member(f"member{n}x")
    rules = {"recall_petition_count": 1, "recall_petition_percent": 30}
    ok(steward.patch(f"/assemblies/{assembly['id']}", json=rules))
    petition = ok(steward.post(f"/mandates/{elected['id']}/petitions", json={"reason": "r"}), 201)
    assert petition["threshold"] == 3  # 30 % of ten members


def test_no_recall_without_a_passed_recall_decision(
    app: Flask, steward: Api, assembly: dict[str, Any], elected: dict[str, Any]
) -> None:
    general = ok(
        steward.post(
            f"/assemblies/{assembly['id']}/proposals",
            json={"title": "Recall nadia", "text": "We recall nadia."},
        ),
        201,
    )
    decide(steward, general)
    failed = ok(steward.post(f"/mandates/{elected['id']}/recall-proposals", json={"reason": "r"}), 201)
    decide(steward, failed, stance="against")
    before = row_counts(app)
    with app.app_context(), session_scope(app) as db:
        mandate = db.get_one(Mandate, uuid.UUID(elected["id"]))
        for proposal_id in (general["id"], failed["id"]):
            where = Decision.proposal_id == uuid.UUID(proposal_id)
            decision = db.scalars(select(Decision).where(where)).one()
            with pytest.raises(Refused) as caught:
                recall.recall_by_decision(db, app, mandate, decision)
            assert caught.value.reason == "recall-not-backed"
    assert row_counts(app) == before
    assert ok(steward.get(f"/mandates/{elected['id']}"))["status"] == "live"


def test_recall_before_the_key_is_registered(
    app: Flask, make_member: Any, steward: Api, assembly: dict[str, Any], federation: str
) -> None:
    nadia = make_member("nadia")
    decide(steward, ok(propose(steward, assembly, federation), 201))
    mandate = ok(nadia.get("/mandates?mine=true"))["items"][0]
    path = f"/mandates/{mandate['id']}/recall-proposals"
    decide(steward, ok(steward.post(path, json={"reason": "r"}), 201))
    assert ok(nadia.get(f"/mandates/{mandate['id']}"))["status"] == "recalled"
    assert envelopes(app, "mandate.recalled") == []
    assert_problem(nadia.post(f"/mandates/{mandate['id']}/key", json={}), 409, "conflict")


def test_only_the_issuing_node_recalls(app: Flask, steward: Api, elected: dict[str, Any]) -> None:
    with session_scope(app) as db:
        mandate = db.get_one(Mandate, uuid.UUID(elected["id"]))
        mandate.issuer = "ma1" + "a" * 32  # as if heard from another node
    assert_problem(
        steward.post(f"/mandates/{elected['id']}/recall-proposals", json={"reason": "r"}), 404, "not-found"
    )
