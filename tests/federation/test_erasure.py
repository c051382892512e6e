"""A member who erases their data is forgotten at every node their listings reached: the
withdrawals go out in the erasure's own transaction, and receivers blank what they kept."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from federation import catchup
from federation.envelope import make_envelope
from federation.identity import local_identity
from federation.models import Delivery, Envelope, RemoteListing
from node.db import session_scope
from node.members import service as members
from node.members.models import Member
from tests.federation.network import Network, member, post_batch
from tests.federation.outbox_support import listing_body
from tests.node.factories import need, offer

PASSWORD = "correct horse battery staple"


def queued_for(app: Flask, peer_id: str) -> list[dict[str, Any]]:
    """The envelopes waiting for a peer, in the order they were queued."""
    with session_scope(app) as db:
        raws = db.scalars(select(Envelope.raw).join(Delivery, Delivery.envelope_id == Envelope.id)
                          .where(Delivery.peer_id == peer_id).order_by(Delivery.id))
        return [json.loads(raw) for raw in raws]


def remote_rows(app: Flask, sender: str) -> list[RemoteListing]:
    with session_scope(app) as db:
        rows = list(db.scalars(select(RemoteListing).where(RemoteListing.node_id == sender)))
        for row in rows:
            db.expunge(row)
        return rows


def assert_forgotten(app: Flask, sender: str, listing_ids: set[str]) -> None:
    rows = remote_rows(app, sender)
    assert {str(row.listing_id) for row in rows} == listing_ids
    for row in rows:
        assert row.status == "erased"
        kept = (row.category, row.title, row.description, row.handle, row.h3_cell, row.unit, row.quantity,
                row.available_from, row.available_until, row.expires_at)
        assert kept == ("", "", "", "", "", "", 0.0, None, None, None)


@pytest.fixture
def trio(network: Network) -> Network:
    for name in ("a", "b", "c"):
        network.node(name)
    network.peer("a", "b")
    network.peer("a", "c")
    return network


def _busy_member(network: Network) -> tuple[Any, dict[str, str]]:
    """Ana on node a, with an open need, an open offer and a withdrawn offer: wire type by id."""
    ana = member(network.nodes["a"], "ana")
    open_need = ana.post("/needs", json=need(title="Insulin")).get_json()["id"]
    open_offer = ana.post("/offers", json=offer(title="Spare tent")).get_json()["id"]
    closed = ana.post("/offers", json=offer(title="Old bike")).get_json()["id"]
    assert ana.post(f"/offers/{closed}/withdraw").status_code == 200
    return ana, {open_need: "need.withdrawn", open_offer: "surplus.withdrawn", closed: "surplus.withdrawn"}


def test_erasure_withdraws_every_listing_in_the_same_transaction(trio: Network) -> None:
    a = trio.nodes["a"]
    ana, listing_ids = _busy_member(trio)
    trio.pump()
    b_id = trio.id("b")
    with session_scope(a) as db:
        envelopes_before = db.scalar(select(func.count()).select_from(Envelope))

    # An erasure whose transaction fails announces nothing.
    with pytest.raises(RuntimeError), session_scope(a) as db:
        person = db.scalar(select(Member).where(Member.handle == "ana"))
        assert person is not None
        members.erase_member(db, person, PASSWORD)
        raise RuntimeError("the erasure's transaction fails after the signal")
    with session_scope(a) as db:
        assert db.scalar(select(func.count()).select_from(Envelope)) == envelopes_before
    assert queued_for(a, b_id) == []

    assert ana.post("/me/erase", json={"password": PASSWORD}).status_code == 204
    queued = queued_for(a, b_id)
    erased = {e["body"]["listing_id"]: e["type"] for e in queued if e["body"].get("status") == "erased"}
    assert erased == listing_ids  # the withdrawn offer too: b still holds what it said
    assert all(e["type"].endswith(".withdrawn") for e in queued)
    assert "Insulin" not in json.dumps(queued) and '"handle"' not in json.dumps(queued)
    assert len(queued_for(a, trio.id("c"))) == len(queued)


def test_a_receiving_node_forgets_the_erased_member(trio: Network) -> None:
    b, c = trio.nodes["b"], trio.nodes["c"]
    trio.down.add("c")  # c is away all along and catches up afterwards
    ana, listing_ids = _busy_member(trio)
    trio.pump()
    a_id = trio.id("a")
    assert {row.title for row in remote_rows(b, a_id)} == {"Insulin", "Spare tent", "Old bike"}

    assert ana.post("/me/erase", json={"password": PASSWORD}).status_code == 204
    trio.pump()

    # b learns it through its inbox, c by catching up on everything a published, from the
    # first publication to the erasure: the publications do not bring anything back.
    trio.down.discard("c")
    result = catchup.pull(c, a_id)
    assert result.complete and not result.rejected and result.accepted == result.fetched > 3
    for app in (b, c):
        assert_forgotten(app, a_id, set(listing_ids))
        bea = member(app, f"bea{app.name[-1:]}")
        for query in ("", "?status=open", "?status=withdrawn", "?status=erased"):
            assert bea.get(f"/network/listings{query}").get_json()["total"] == 0, query
    trio.pump()
    assert trio.queued("a") == 0


def test_an_erasure_wins_over_a_withdrawal_that_overtakes_it(trio: Network) -> None:
    a, b = trio.nodes["a"], trio.nodes["b"]
    me = local_identity(a)
    listing_id = str(uuid.uuid4())
    body = listing_body("Insulin", listing_id=listing_id)
    published = make_envelope(me, "need.published", body, 1)
    erased = make_envelope(me, "need.withdrawn", {"listing_id": listing_id, "status": "erased"}, 3)
    withdrawn = make_envelope(me, "need.withdrawn", {"listing_id": listing_id, "status": "withdrawn"}, 4)
    republished = make_envelope(me, "need.updated", body, 5)
    answers = post_batch(b, [published, withdrawn, erased, republished], hop=me.node_id).get_json()
    assert [item["status"] for item in answers["results"]] == ["accepted"] * 4
    assert_forgotten(b, me.node_id, {listing_id})
    with session_scope(b) as db:
        outcomes = dict(db.execute(select(Envelope.seq, Envelope.outcome)
                                   .where(Envelope.sender == me.node_id)).all())
    assert outcomes[5] == "ignored: the listing was erased"
