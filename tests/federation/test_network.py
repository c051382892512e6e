"""Several nodes in one process: needs travel, relay through federations keeps the original
signature, loops end, catch-up fills gaps, and nothing personal leaves a node."""

from __future__ import annotations

import json
import uuid
from typing import Any

from flask import Flask
from sqlalchemy import func, select

from federation import catchup, signing
from federation.identity import local_identity
from federation.models import Delivery, Envelope, Peer, Rejection, RemoteListing, SenderCursor
from federation.outbox import drain_peer, publish
from node.db import session_scope
from tests.federation.network import Network, member, post_batch
from tests.federation.outbox_support import listing_body
from tests.node.factories import need, offer


def remote(app: Flask) -> list[tuple[str, str, str]]:
    with session_scope(app) as db:
        rows = db.execute(
            select(RemoteListing.node_id, RemoteListing.title, RemoteListing.status).order_by(
                RemoteListing.title
            )
        )
        return [(r[0], r[1], r[2]) for r in rows]


def stored(app: Flask, envelope_id: str) -> Envelope | None:
    with session_scope(app) as db:
        row = db.get(Envelope, uuid.UUID(envelope_id))
        if row is not None:
            db.expunge(row)
        return row


def envelopes_of(app: Flask, sender: str) -> list[Envelope]:
    with session_scope(app) as db:
        rows = list(db.scalars(select(Envelope).where(Envelope.sender == sender).order_by(Envelope.seq)))
        for row in rows:
            db.expunge(row)
        return rows


def test_needs_and_offers_reach_a_peer_as_they_change(network: Network) -> None:
    a, b = network.node("a"), network.node("b")
    network.peer("a", "b")
    ana = member(a, "ana")
    created = ana.post("/needs", json=need(title="Rice for 4")).get_json()
    ana.post("/offers", json=offer(title="Spare tent"))
    network.pump()
    a_id = network.id("a")
    assert remote(b) == [(a_id, "Rice for 4", "open"), (a_id, "Spare tent", "open")]
    assert ana.patch(f"/needs/{created['id']}", json={"title": "Rice for 6"}).status_code == 200
    assert ana.post(f"/needs/{created['id']}/withdraw").status_code == 200
    network.pump()
    assert remote(b)[0] == (a_id, "Rice for 6", "withdrawn")  # the close keeps the last details
    with session_scope(b) as db:
        kinds = dict(db.execute(select(RemoteListing.title, RemoteListing.kind)).all())
    assert kinds == {"Rice for 6": "need", "Spare tent": "surplus"}
    seqs = [row.seq for row in envelopes_of(b, a_id)]
    assert seqs == list(range(1, len(seqs) + 1))


def test_nothing_personal_leaves_the_node(network: Network) -> None:
    a = network.node("a")
    network.node("b")
    network.peer("a", "b")
    ana = member(a, "ana")
    created = ana.post("/needs", json=need(title="Insulin", h3_cell="8b1f1d481400fff")).get_json()
    ana.patch(f"/needs/{created['id']}", json={"quantity": 3})
    ana.post(f"/needs/{created['id']}/withdraw")
    network.pump()
    sent = " ".join(network.sent[network.id("a")])  # every request body a sent
    assert '"title":"Insulin"' in sent and '"handle":"ana"' in sent  # what neighbours see
    for secret in ("Secret-Surname", "private.example", "1234567", "8b1f1d481400fff"):
        assert secret not in sent
    body = json.loads(envelopes_of(a, network.id("a"))[0].raw)["body"]
    assert body["h3_cell"] == "881f1d4815fffff"  # coarsened before it left


def federation_of(network: Network, fed: str, *members: str) -> None:
    network.node(fed, role="federation")
    for name in members:
        network.node(name)
        network.join(name, fed)
    network.pump()
    for name in members:  # each member fetches the introductions made before it joined
        catchup.pull(network.nodes[name], network.id(fed))


def test_a_federation_relays_unchanged_and_the_signature_verifies_at_the_far_end(network: Network) -> None:
    federation_of(network, "f", "n1", "n2")
    n1, n2, f = network.nodes["n1"], network.nodes["n2"], network.nodes["f"]
    assert network.id("n1") in {p.id for p in _peers(n2)}  # introduced by f
    ana = member(n1, "ana")
    ana.post("/needs", json=need(title="Generator"))
    network.pump()
    assert remote(n2) == [(network.id("n1"), "Generator", "open")]
    [original] = envelopes_of(n1, network.id("n1"))[-1:]
    far = stored(n2, str(original.id))
    assert far is not None and far.via == network.id("f")
    document = json.loads(far.raw)
    assert document == json.loads(original.raw)
    signing.verify(document, local_identity(n1).public_key)
    relayed = stored(f, str(original.id))
    assert relayed is not None and relayed.outcome == "applied"


def _peers(app: Flask) -> list[Peer]:
    with session_scope(app) as db:
        rows = list(db.scalars(select(Peer)))
        for row in rows:
            db.expunge(row)
        return rows


def test_relay_loops_end_at_the_dedupe(network: Network) -> None:
    for name in ("f1", "f2", "f3"):
        network.node(name, role="federation")
    network.peer("f1", "f2")
    network.peer("f2", "f3")
    network.peer("f3", "f1")
    network.node("n1")
    network.join("n1", "f1")
    network.pump()
    ana = member(network.nodes["n1"], "ana")
    ana.post("/needs", json=need(title="Water"))
    network.pump()
    [need_envelope] = [
        e for e in envelopes_of(network.nodes["n1"], network.id("n1")) if e.type == "need.published"
    ]
    for name in ("f1", "f2", "f3"):
        app = network.nodes[name]
        with session_scope(app) as db:
            count = db.scalar(
                select(func.count()).select_from(Envelope).where(Envelope.id == need_envelope.id)
            )
            refused = db.scalar(
                select(func.count()).select_from(Rejection).where(Rejection.envelope_id == need_envelope.id)
            )
        assert count == 1, name
        assert refused == 0, name
        assert remote(app) == [(network.id("n1"), "Water", "open")], name
        assert network.queued(name) == 0


def test_catch_up_after_a_gap_from_the_sender(network: Network) -> None:
    a, b = network.node("a"), network.node("b")
    network.peer("a", "b")
    network.down.add("b")
    ana = member(a, "ana")
    for n in range(30):
        ana.post("/needs", json=need(title=f"Need {n:02d}"))
    network.pump()  # b is down: nothing arrives, the rows wait
    network.down.discard("b")
    last = envelopes_of(a, network.id("a"))[-1]
    response = post_batch(b, [json.loads(last.raw)], hop=network.id("a"))
    assert response.get_json()["results"][0]["status"] == "accepted"
    with session_scope(b) as db:
        cursor = db.get(SenderCursor, network.id("a"))
        assert cursor is not None and (cursor.contiguous_seq, cursor.highest_seq) == (0, last.seq)
    [result] = catchup.pull_gaps(b)
    assert result.source == network.id("a") and result.complete
    assert (result.fetched, result.accepted, result.duplicates) == (last.seq, last.seq - 1, 1)
    assert len(remote(b)) == 30
    network.pump()  # the queued rows now reach b as duplicates
    assert len(remote(b)) == 30 and network.queued("a") == 0
    with session_scope(b) as db:
        cursor = db.get(SenderCursor, network.id("a"))
        assert cursor is not None and cursor.contiguous_seq == cursor.highest_seq == last.seq


def test_catch_up_through_a_federation_when_the_sender_is_not_a_peer(network: Network) -> None:
    federation_of(network, "f", "n1", "n2")
    network.down.add("n2")
    ana = member(network.nodes["n1"], "ana")
    for n in range(5):
        ana.post("/offers", json=offer(title=f"Offer {n}"))
    network.pump()
    network.down.discard("n2")
    result = catchup.pull(network.nodes["n2"], network.id("n1"))
    assert result.source == network.id("f")
    assert result.accepted == 5 and not result.rejected
    assert len(remote(network.nodes["n2"])) == 5


def test_the_incident_lane_holds_at_every_hop(network: Network) -> None:
    """Priority is stored with the envelope and its deliveries at the sender, at the relaying
    federation, and at the receivers, whether the envelope came by the inbox or by catch-up."""
    federation_of(network, "f", "n1", "n2", "n3")
    n1, f = network.nodes["n1"], network.nodes["f"]
    network.down.add("n3")
    with session_scope(n1) as db:
        routine = publish(db, n1, "need.published", listing_body("Blankets")).id
        urgent = publish(db, n1, "need.published", listing_body("Insulin"), priority=1).id
    lanes = {routine: 0, urgent: 1}

    def lanes_at(app: Flask) -> tuple[dict[uuid.UUID, int], dict[uuid.UUID, set[int]]]:
        with session_scope(app) as db:
            stored: dict[uuid.UUID, int] = dict(db.execute(select(Envelope.id, Envelope.priority)
                                     .where(Envelope.id.in_(list(lanes)))).all())
            queued: dict[uuid.UUID, set[int]] = {}
            for envelope_id, priority in db.execute(select(Delivery.envelope_id, Delivery.priority)
                                                    .where(Delivery.envelope_id.in_(list(lanes)))):
                queued.setdefault(envelope_id, set()).add(priority)
        return stored, queued

    assert lanes_at(n1) == (lanes, {routine: {0}, urgent: {1}})
    drain_peer(n1, network.id("f"), force=True)
    assert lanes_at(f) == (lanes, {routine: {0}, urgent: {1}})  # relayed on in the same lane
    drain_peer(f, network.id("n2"), force=True)
    assert lanes_at(network.nodes["n2"]) == (lanes, {})
    [first, *_] = [json.loads(body)["envelopes"] for body in network.sent[network.id("f")]
                   if str(urgent) in body]
    assert first[0]["id"] == str(urgent)  # the incident lane went first
    network.down.discard("n3")
    result = catchup.pull(network.nodes["n3"], network.id("n1"))
    assert result.source == network.id("f") and result.accepted == 2
    assert lanes_at(network.nodes["n3"]) == (lanes, {})


def test_the_feed_answers_only_signed_requests_of_known_nodes(network: Network) -> None:
    a = network.node("a")
    network.node("b")
    network.node("c")
    network.peer("a", "b")
    ana = member(a, "ana")
    for n in range(5):
        ana.post("/needs", json=need(title=f"N{n}"))
    client = a.test_client()
    query = f"/federation/feed?sender={network.id('a')}&after=0&limit=2"
    assert client.get(query).status_code == 401
    from federation.http import signed_get

    def fetch(who: str, **params: Any) -> Any:
        app = network.nodes[who]
        return signed_get(app, local_identity(app), "http://a.test", "/federation/feed", params)

    page = fetch("b", sender=network.id("a"), after=0, limit=2)
    assert page.status == 200
    data = page.json()
    assert [e["seq"] for e in data["envelopes"]] == [1, 2]
    assert (data["through"], data["next_after"]) == (5, 2)
    data = fetch("b", sender=network.id("a"), after=4, limit=2).json()
    assert ([e["seq"] for e in data["envelopes"]], data["next_after"]) == ([5], None)
    assert fetch("c", sender=network.id("a")).status == 403  # not a node a knows
    assert fetch("b", sender="nobody").status == 422
    headers = dict(page_headers(network))
    headers["Mutualaid-Signature"] = headers["Mutualaid-Signature"][::-1]
    assert client.get(query, headers=headers).status_code == 401


def page_headers(network: Network) -> dict[str, str]:
    from federation.http import signed_headers

    b = network.nodes["b"]
    query = f"sender={network.id('a')}&after=0&limit=2"
    return signed_headers(local_identity(b), "GET", "/federation/feed", query)
