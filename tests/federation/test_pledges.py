"""Pledges across nodes: only the owner decides, partly if need be, never more than there is."""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta
from typing import Any

from flask import Flask
from sqlalchemy import select

from federation.envelope import make_envelope, now
from federation.identity import local_identity
from federation.models import Pledge, PledgeStatus
from federation.pledges import expire_leases
from node.db import session_scope
from tests.federation.network import Network, member, post_batch, row_counts
from tests.node.factories import need


def pledges(app: Flask) -> list[tuple[float, str]]:
    with session_scope(app) as db:
        rows = db.execute(select(Pledge.quantity, Pledge.status).order_by(Pledge.created_at))
        return [(r[0], r[1].value) for r in rows]


def trio(network: Network) -> tuple[Flask, Flask, Flask, dict[str, Any]]:
    owner, a, c = network.node("owner"), network.node("a"), network.node("c")
    for name in ("a", "c"):
        network.peer("owner", name)
    created = member(owner, "olga").post("/needs", json=need(title="Water", quantity=5, unit="l")).get_json()
    network.pump()
    return owner, a, c, created


def pledge(network: Network, app: Flask, listing: dict[str, Any], quantity: float, unit: str = "l") -> Any:
    api = member(app, f"p{uuid.uuid4().hex[:8]}")
    return api.post(
        "/pledges",
        json={
            "owner": network.id("owner"),
            "listing_id": listing["id"],
            "listing_kind": "need",
            "quantity": quantity,
            "unit": unit,
            "note": "can bring it tonight",
        },
    )


def test_the_owner_accepts_partly_then_declines_once_it_is_all_promised(network: Network) -> None:
    owner, a, c, listing = trio(network)
    response = pledge(network, a, listing, 3)
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["status"] == "offered"
    network.pump()
    assert pledges(a) == [(3.0, "accepted")]
    pledge(network, c, listing, 4)
    network.pump()
    assert pledges(c) == [(2.0, "accepted")]  # only 2 were left
    pledge(network, a, listing, 1)
    network.pump()
    assert pledges(a)[-1] == (1.0, "declined")
    with session_scope(a) as db:
        reasons = list(db.scalars(select(Pledge.reason).where(Pledge.status == PledgeStatus.DECLINED)))
    assert reasons == ["the need is already fully pledged"]
    assert sorted(pledges(owner)) == [(1.0, "declined"), (2.0, "accepted"), (3.0, "accepted")]


def test_a_pledge_in_another_unit_or_to_a_closed_listing_is_declined(network: Network) -> None:
    owner, a, _c, listing = trio(network)
    pledge(network, a, listing, 1, unit="kg")
    network.pump()
    with session_scope(a) as db:
        assert db.scalar(select(Pledge.reason)) == "the need is counted in 'l', not 'kg'"
    with session_scope(owner) as db:
        from node.resources.models import Listing
        from node.resources.service import withdraw_listing

        row = db.get(Listing, uuid.UUID(listing["id"]))
        assert row is not None
        withdraw_listing(db, row)
    pledge(network, a, listing, 1)
    network.pump()
    assert pledges(a)[-1] == (1.0, "declined")


def offer_envelope(
    network: Network,
    sender: str,
    listing_id: str,
    quantity: float,
    seq: int,
    owner: str = "owner",
    **body: Any,
) -> dict[str, Any]:
    app = network.nodes[sender]
    content = {
        "pledge_id": str(uuid.uuid4()),
        "owner": network.id(owner),
        "listing_id": listing_id,
        "listing_kind": "need",
        "quantity": quantity,
        "unit": "l",
        "lease_until": "2099-01-01T00:00:00Z",
    }
    content.update(body)
    return make_envelope(local_identity(app), "pledge.offered", content, seq, audience=[network.id(owner)])


def test_concurrent_pledges_never_promise_more_than_there_is(network: Network) -> None:
    owner, _a, _c, listing = trio(network)
    batches = {
        name: [offer_envelope(network, name, listing["id"], 1, seq) for seq in range(100, 104)]
        for name in ("a", "c")
    }
    answers: list[Any] = []

    def send(name: str) -> None:
        answers.append(post_batch(owner, batches[name], hop=network.id(name)))

    threads = [threading.Thread(target=send, args=(name,)) for name in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(answer.status_code == 200 for answer in answers)
    decided = pledges(owner)
    accepted = sum(quantity for quantity, status in decided if status == "accepted")
    assert accepted == 5 and len(decided) == 8
    assert sum(1 for _, status in decided if status == "declined") == 3


def test_only_the_owner_decides(network: Network) -> None:
    owner, a, c, listing = trio(network)
    network.peer("a", "c")
    # An offer to a node that does not own the listing is refused, and nothing is kept.
    not_theirs = offer_envelope(network, "a", listing["id"], 1, 50, owner="c")
    before = row_counts(c)
    [result] = post_batch(c, [not_theirs]).get_json()["results"]
    assert (result["status"], result["reason"]) == ("rejected", "not-owner")
    assert row_counts(c) == before
    unknown = offer_envelope(network, "a", str(uuid.uuid4()), 1, 51)
    [result] = post_batch(owner, [unknown]).get_json()["results"]
    assert (result["status"], result["reason"]) == ("rejected", "not-owner")
    # An answer about a's pledge from a node that is not the owner is refused too.
    pledge(network, a, listing, 1)
    with session_scope(a) as db:
        pledge_id = str(db.scalar(select(Pledge.id)))
    fake = make_envelope(
        local_identity(c),
        "pledge.accepted",
        {"pledge_id": pledge_id, "listing_id": listing["id"], "quantity": 1, "remaining": 4},
        60,
        audience=[network.id("a")],
    )
    before = row_counts(a)
    [result] = post_batch(a, [fake]).get_json()["results"]
    assert (result["status"], result["reason"]) == ("rejected", "not-owner")
    assert row_counts(a) == before
    assert pledges(a) == [(1.0, "offered")]


def test_an_unanswered_pledge_lapses_and_a_late_one_is_declined(network: Network) -> None:
    owner, a, _c, listing = trio(network)
    network.down.add("owner")
    pledge(network, a, listing, 2)
    network.pump()
    assert expire_leases_at(a, now() + timedelta(hours=25)) == 1
    assert pledges(a) == [(2.0, "expired")]
    late = offer_envelope(network, "a", listing["id"], 2, 70, lease_until="2000-01-01T00:00:00Z")
    network.down.discard("owner")
    post_batch(owner, [late])
    assert pledges(owner)[-1] == (2.0, "declined")
    with session_scope(owner) as db:
        assert db.scalar(select(Pledge.reason)) == "the pledge's lease ran out before it arrived"


def expire_leases_at(app: Flask, moment: Any) -> int:
    with session_scope(app) as db:
        return expire_leases(db, moment)
