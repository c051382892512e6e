"""Bad input and attacks on mandates, recalls and council acts: each is refused with its
reason, through a node's API and through the inbox of every node that hears it, and nothing
is applied (the rows each node holds stay as they were)."""

from __future__ import annotations

import json
import threading
import uuid
from datetime import timedelta
from typing import Any

from flask import Flask
from sqlalchemy import select, update

from delegates import client, council, documents
from delegates import recall as recall_module
from delegates.errors import Refused
from delegates.models import Act, Mandate
from federation import signing
from federation.identity import local_identity
from federation.models import Rejection, Relation
from federation.outbox import publish
from node.db import session_scope, utcnow
from tests.delegates.conftest import Delegate, Region, counts, ok
from tests.federation.network import post_batch


def publish_raw(app: Flask, type: str, body: dict[str, Any], audience: list[str]) -> dict[str, Any]:
    """Publish an envelope as a node that skips its own checks (a buggy or hostile node)."""
    with session_scope(app) as db:
        row = publish(db, app, type, body, audience=audience)
        document: dict[str, Any] = json.loads(row.raw)
    return document


def rejected(app: Flask, envelope_id: str) -> str | None:
    """The reason the envelope was refused by the peer it was sent to, as its sender recorded."""
    with session_scope(app) as db:
        row = db.scalar(select(Rejection).where(Rejection.envelope_id == uuid.UUID(envelope_id)))
        return row.reason if row else None


def result_of(app: Flask, envelope: dict[str, Any]) -> dict[str, Any]:
    """Post one envelope to a node's inbox and return its result."""
    response = post_batch(app, [envelope])
    assert response.status_code == 200, response.get_data(as_text=True)
    result: dict[str, Any] = response.get_json()["results"][0]
    return result


def snapshot(region: Region) -> dict[str, dict[str, int]]:
    return {name: counts(region.app(name)) for name in ("north", "south", "city")}


def refused(response: Any, reason: str) -> None:
    body = ok(response, 422)
    assert body["type"] == "/problems/refused" and body["reason"] == reason, body


def vote_body(delegate: Delegate, act: dict[str, Any], proposal: dict[str, Any]) -> dict[str, Any]:
    return {"act": act, "mandate": delegate.credential, "proposal": proposal["document"]}


def send_vote(
    region: Region, sender: str, delegate: Delegate, act: dict[str, Any], proposal: dict[str, Any]
) -> dict[str, Any]:
    """A vote envelope published by `sender` without its own checks."""
    body = vote_body(delegate, act, proposal)
    return publish_raw(region.app(sender), "vote.cast", body, [region.federation])


def test_mandate_not_signed_by_a_member_node(region: Region) -> None:
    rogue = region.net.node("rogue")
    region.net.peer("rogue", "city")  # known to the city, but not a member
    region.pump()
    before = snapshot(region)
    key = local_identity(rogue).key
    own = documents.mandate_document(
        mandate_id=documents.new_uuid(),
        issuer=region.net.id("rogue"),
        federation=region.federation,
        delegate="mallory",
        key=client.make_key()[1],
        scope=["relief"],
        positions=[],
        issued=utcnow(),
        expires=utcnow() + timedelta(days=5),
        decision=documents.new_uuid(),
    )
    envelope = publish_raw(rogue, "mandate.issued", {"mandate": signing.sign(own, key)}, [region.federation])
    # The same credential, claiming to come from north, but signed by the rogue's key.
    forged = dict(own, issuer=region.id("north"), id=documents.new_uuid())
    forged_envelope = publish_raw(
        rogue, "mandate.issued", {"mandate": signing.sign(forged, key)}, [region.federation]
    )
    region.pump()
    assert rejected(rogue, envelope["id"]) == "not-member-node"
    assert rejected(rogue, forged_envelope["id"]) == "mandate-bad-signature"
    assert snapshot(region) == before


def test_act_signed_by_another_key(region: Region) -> None:
    nadia = region.elect("north", "nadia")
    proposal = region.open_proposal()
    region.pump()
    before = snapshot(region)
    wrong_key, _ = client.make_key()
    forged = client.vote(wrong_key, nadia.credential, proposal["id"], "for")
    refused(nadia.send(forged), "wrong-key")
    envelope = send_vote(region, "north", nadia, forged, proposal)
    region.pump()
    assert rejected(region.app("north"), envelope["id"]) == "wrong-key"
    assert result_of(region.app("south"), envelope)["reason"] == "wrong-key"
    assert snapshot(region) == before


def test_act_outside_scope_or_against_positions(region: Region) -> None:
    positions = [
        {"topic": "relief", "stance": "for"},
        {"topic": "housing", "stance": "free", "allowed": ["for", "abstain"]},
    ]
    nadia = region.elect("north", "nadia", scope=["relief", "housing"], positions=positions)
    relief, budget, housing = (region.open_proposal(topic) for topic in ("relief", "budget", "housing"))
    region.pump()
    before = snapshot(region)
    refused(nadia.send(nadia.vote(budget["id"], "for")), "out-of-scope")
    refused(nadia.send(nadia.vote(relief["id"], "against")), "against-mandate")
    refused(nadia.send(nadia.vote(housing["id"], "against")), "against-mandate")
    refused(nadia.send(nadia.act("statement", proposal=budget["id"], text="off topic")), "out-of-scope")
    refused(nadia.send(nadia.act("proposal", title="New tax", text="Tax.", topic="budget")), "out-of-scope")
    refused(nadia.send(nadia.vote(relief["id"], "block", "no")), "stance-not-allowed")
    against = nadia.vote(relief["id"], "against")
    envelope = send_vote(region, "north", nadia, against, relief)
    region.pump()
    assert rejected(region.app("north"), envelope["id"]) == "against-mandate"
    assert snapshot(region) == before
    ok(nadia.send(nadia.vote(housing["id"], "abstain")), 201)
    ok(nadia.send(nadia.vote(relief["id"], "for")), 201)


def _expire(region: Region, mandate_id: str) -> None:
    # Time passes: the mandate's end, as every node recorded it from the credential, is behind us.
    for name in ("north", "south", "city"):
        with session_scope(region.app(name)) as db:
            db.execute(
                update(Mandate)
                .where(Mandate.id == uuid.UUID(mandate_id))
                .values(expires_at=utcnow() - timedelta(seconds=1))
            )


def test_act_after_expiry(region: Region) -> None:
    nadia = region.elect("north", "nadia")
    proposal = region.open_proposal()
    region.pump()
    _expire(region, nadia.mandate_id)
    before = snapshot(region)
    late = nadia.vote(proposal["id"], "for")
    refused(nadia.send(late), "mandate-expired")
    envelope = send_vote(region, "north", nadia, late, proposal)
    region.pump()
    assert rejected(region.app("north"), envelope["id"]) == "mandate-expired"
    assert result_of(region.app("south"), envelope)["reason"] == "mandate-expired"
    assert snapshot(region) == before


def _recall(region: Region, delegate: Delegate) -> None:
    north = region.stewards["north"]
    proposal = ok(north.post(f"/mandates/{delegate.mandate_id}/recall-proposals", json={"reason": "r"}), 201)
    region.decide("north", proposal, [north])


def test_act_after_recall_everywhere(region: Region) -> None:
    nadia = region.elect("north", "nadia")
    proposal = region.open_proposal()
    region.pump()
    _recall(region, nadia)
    region.pump()  # south hears of the recall only through the city's relay
    before = snapshot(region)
    late = nadia.vote(proposal["id"], "for")
    refused(nadia.send(late), "mandate-recalled")
    envelope = send_vote(region, "north", nadia, late, proposal)
    assert result_of(region.app("south"), envelope)["reason"] == "mandate-recalled"
    region.pump()
    assert rejected(region.app("north"), envelope["id"]) == "mandate-recalled"
    assert snapshot(region) == before
    for name in ("north", "south", "city"):
        assert region.council(name, proposal["id"])["tally"]["participants"] == 0


def test_recall_arriving_after_the_act_was_sent_but_before_it_was_counted(region: Region) -> None:
    nadia = region.elect("north", "nadia")
    sami = region.elect("south", "sami")
    proposal = region.open_proposal()
    region.pump()
    ok(sami.send(sami.vote(proposal["id"], "against")), 201)
    # Nadia's vote leaves north; before anyone counts it, north's assembly recalls her.
    ok(nadia.send(nadia.vote(proposal["id"], "for")), 201)
    _recall(region, nadia)
    region.pump()
    for name in ("north", "south", "city"):
        seen = region.council(name, proposal["id"])
        assert seen["tally"]["counts"]["for"] == 0 and seen["tally"]["counts"]["against"] == 1, name
        assert {a["delegate"]: a["counted"] for a in seen["acts"] if a["kind"] == "vote"}.get("nadia") in (
            False,
            None,
        ), name
    decision = ok(region.stewards["city"].post(f"/council/proposals/{proposal['id']}/close"))
    assert decision["outcome"] == "rejected"


def test_the_count_does_not_depend_on_the_order_messages_arrive_in(region: Region) -> None:
    nadia = region.elect("north", "nadia")
    proposal = region.open_proposal()
    region.pump()
    north = region.app("north")
    vote = nadia.vote(proposal["id"], "for")
    vote_envelope = publish_raw(north, "vote.cast", vote_body(nadia, vote, proposal), [region.federation])
    _recall(region, nadia)
    with session_scope(north) as db:
        recall_raw = db.scalar(select(Mandate.recall).where(Mandate.id == uuid.UUID(nadia.mandate_id)))
    assert recall_raw is not None
    # South gets the recall first (through a relay, say), the vote afterwards.
    south = region.app("south")
    recall_envelope = publish_raw(
        north,
        "mandate.recalled",
        {"recall": json.loads(recall_raw), "mandate": nadia.credential},
        [region.federation],
    )
    assert result_of(south, recall_envelope)["status"] == "accepted"
    assert result_of(south, vote_envelope)["reason"] == "mandate-recalled"
    region.pump()  # the city gets the vote first, then the recall
    for name in ("south", "city"):
        assert region.council(name, proposal["id"])["tally"]["participants"] == 0, name


def test_replayed_vote(region: Region) -> None:
    nadia = region.elect("north", "nadia")
    proposal = region.open_proposal()
    region.pump()
    vote = nadia.vote(proposal["id"], "for")
    ok(nadia.send(vote), 201)
    region.pump()
    before = snapshot(region)
    refused(nadia.send(vote), "replayed-act")
    # The same signed vote, wrapped in a fresh envelope by another node.
    envelope = send_vote(region, "south", nadia, vote, proposal)
    region.pump()
    assert rejected(region.app("south"), envelope["id"]) == "replayed-act"
    with session_scope(region.app("north")) as db:
        sent = db.scalars(select(Act.document).where(Act.id == uuid.UUID(vote["id"]))).one()
    assert json.loads(sent) == vote
    assert snapshot(region) == before


def test_a_node_votes_once(region: Region) -> None:
    nadia = region.elect("north", "nadia")
    nico = region.elect("north", "nico")  # a second delegate of the same node
    proposal = region.open_proposal()
    region.pump()
    ok(nadia.send(nadia.vote(proposal["id"], "for")), 201)
    region.pump()
    before = snapshot(region)
    refused(nadia.send(nadia.vote(proposal["id"], "against")), "already-voted")
    refused(nico.send(nico.vote(proposal["id"], "against")), "already-voted")
    envelope = send_vote(region, "north", nico, nico.vote(proposal["id"], "against"), proposal)
    region.pump()
    assert rejected(region.app("north"), envelope["id"]) == "already-voted"
    assert snapshot(region) == before


def test_racing_votes_of_one_node_count_once(region: Region) -> None:
    nadia = region.elect("north", "nadia")
    nico = region.elect("north", "nico")
    proposal = region.open_proposal()
    region.pump()
    city = region.app("city")
    votes = [(nadia, nadia.vote(proposal["id"], "for")), (nico, nico.vote(proposal["id"], "against"))] * 2
    outcomes: list[str] = []
    barrier = threading.Barrier(len(votes))

    def send(delegate: Delegate, act: dict[str, Any]) -> None:
        barrier.wait()
        try:
            with session_scope(city) as db:
                submitted = council.Submitted(act, delegate.credential, proposal["document"])
                council.receive_act(db, city, submitted)
            outcomes.append("counted")
        except Refused as exc:
            outcomes.append(exc.reason)
        except Exception as exc:  # a lost race on the unique keys is refused, never an error
            outcomes.append(type(exc).__name__)

    threads = [threading.Thread(target=send, args=pair) for pair in votes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count("counted") == 1, outcomes
    assert set(outcomes) <= {"counted", "already-voted", "replayed-act"}, outcomes
    assert region.council("city", proposal["id"])["tally"]["participants"] == 1


def test_recall_not_backed_or_not_from_the_issuer(region: Region) -> None:
    nadia = region.elect("north", "nadia")
    region.pump()
    before = snapshot(region)
    south_key = local_identity(region.app("south")).key
    recall = documents.recall_document(
        mandate_id=nadia.mandate_id,
        issuer=region.id("south"),
        federation=region.federation,
        decision=documents.new_uuid(),
        reason="we do not like her",
        recalled=utcnow(),
    )
    by_south = publish_raw(
        region.app("south"),
        "mandate.recalled",
        {"recall": signing.sign(recall, south_key), "mandate": nadia.credential},
        [region.federation],
    )
    north_key = local_identity(region.app("north")).key
    unbacked = {k: v for k, v in recall.items() if k != "decision"} | {"issuer": region.id("north")}
    no_decision = publish_raw(
        region.app("north"),
        "mandate.recalled",
        {"recall": signing.sign(unbacked, north_key), "mandate": nadia.credential},
        [region.federation],
    )
    region.pump()
    assert rejected(region.app("south"), by_south["id"]) == "not-issuer"
    assert rejected(region.app("north"), no_decision["id"]) == "malformed-recall"
    assert snapshot(region) == before
    for name in ("north", "south", "city"):
        assert ok(region.stewards[name].get(f"/mandates/{nadia.mandate_id}"))["status"] == "live"


def test_non_member_node_cannot_vote(region: Region) -> None:
    rogue = region.net.node("rogue")
    region.net.add("rogue", "city", Relation.FEDERATION)  # it claims the city; the city never added it
    region.net.add("city", "rogue", Relation.PEER)
    proposal = region.open_proposal()
    region.pump()
    before = snapshot(region)
    private, public = client.make_key()
    own = documents.mandate_document(
        mandate_id=documents.new_uuid(),
        issuer=region.net.id("rogue"),
        federation=region.federation,
        delegate="mallory",
        key=public,
        scope=["relief"],
        positions=[],
        issued=utcnow(),
        expires=utcnow() + timedelta(days=5),
        decision=documents.new_uuid(),
    )
    credential = signing.sign(own, local_identity(rogue).key)
    vote = client.vote(private, credential, proposal["id"], "for")
    envelope = publish_raw(
        rogue,
        "vote.cast",
        {"act": vote, "mandate": credential, "proposal": proposal["document"]},
        [region.federation],
    )
    region.pump()
    assert rejected(rogue, envelope["id"]) == "not-member-node"
    assert snapshot(region) == before


def test_forged_proposal_and_decision(region: Region) -> None:
    nadia = region.elect("north", "nadia")
    region.pump()
    before = snapshot(region)
    north_key = local_identity(region.app("north")).key
    fake: dict[str, Any] = {
        "v": 1,
        "kind": "council.proposal",
        "id": documents.new_uuid(),
        "federation": region.federation,
        "title": "Give north everything",
        "text": "All of it.",
        "topic": "relief",
        "method": "majority",
        "quorum": 1,
        "supermajority": [2, 3],
        "opened": documents.stamp(utcnow()),
    }
    signed = signing.sign(fake, north_key)  # signed by north, not by the city
    vote = nadia.vote(fake["id"], "for")
    body = {"act": vote, "mandate": nadia.credential, "proposal": signed}
    envelope = publish_raw(region.app("north"), "vote.cast", body, [region.federation])
    opened = publish_raw(region.app("north"), "proposal.opened", {"proposal": signed}, [region.federation])
    region.pump()
    assert rejected(region.app("north"), envelope["id"]) == "proposal-bad-signature"
    assert rejected(region.app("north"), opened["id"]) == "proposal-bad-signature"
    assert snapshot(region) == before


def test_malformed_documents(region: Region) -> None:
    nadia = region.elect("north", "nadia")
    proposal = region.open_proposal()
    region.pump()
    before = snapshot(region)
    refused(nadia.send({"kind": "act"}), "malformed-act")
    tampered = nadia.vote(proposal["id"], "for") | {"stance": "against"}
    refused(nadia.send(tampered), "wrong-key")
    assert snapshot(region) == before
    bad = nadia.api.post(f"/mandates/{nadia.mandate_id}/acts", json={"act": "not an object"})
    assert bad.status_code == 422


def _race(city: Flask, proposal: dict[str, Any], delegate: Delegate, recall: dict[str, Any]) -> list[str]:
    """Apply a vote and the recall of its mandate at the same moment; what became of each."""
    vote = delegate.vote(proposal["id"], "for")
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def cast() -> None:
        barrier.wait()
        try:
            with session_scope(city) as db:
                submitted = council.Submitted(vote, delegate.credential, proposal["document"])
                council.receive_act(db, city, submitted)
            outcomes.append("counted")
        except Refused as exc:
            outcomes.append(exc.reason)

    def recall_it() -> None:
        barrier.wait()
        with session_scope(city) as db:
            outcomes.append(recall_module.accept_recall(db, city, recall, delegate.credential))

    threads = [threading.Thread(target=cast), threading.Thread(target=recall_it)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def test_a_recall_racing_a_vote_never_leaves_it_counted(region: Region) -> None:
    city = region.app("city")
    north_key = local_identity(region.app("north")).key
    proposal = region.open_proposal()
    region.pump()
    for n in range(3):
        delegate = region.elect("north", f"racer{n}")
        recall = signing.sign(documents.recall_document(
            mandate_id=delegate.mandate_id, issuer=region.id("north"), federation=region.federation,
            decision=documents.new_uuid(), reason="race", recalled=utcnow()), north_key)
        outcomes = _race(city, proposal, delegate, recall)
        assert "applied" in outcomes and len(outcomes) == 2, outcomes
        assert region.council("city", proposal["id"])["tally"]["participants"] == 0, outcomes
