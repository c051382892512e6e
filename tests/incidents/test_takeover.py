"""Take-over requests for stalled pledges: the owner approves, or the sweep does after the timeout;
progress from the pledger, or a pledge that is not stalled, fulfilled or unknown, is refused."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from federation import takeover
from federation.envelope import now
from federation.models import Pledge, PledgeStatus
from federation.pledges import available
from federation.sweep import sweep
from federation.takeover import Takeover
from node.db import session_scope
from node.resources.models import Listing
from tests.federation.network import Network, member
from tests.incidents.helpers import steward
from tests.node.factories import offer


def setup(network: Network) -> tuple[Flask, Flask, Flask, dict[str, Any], str]:
    """owner has 5 l of water; a's pledge of 3 l was accepted; c may take it over."""
    owner, a, c = network.node("owner"), network.node("a"), network.node("c")
    for name in ("a", "c"):
        network.peer("owner", name)
    posted = member(owner, "olga").post("/offers", json=offer(title="Water", quantity=5, unit="l"))
    surplus = posted.get_json()
    network.pump()
    pledged = member(a, "ann").post("/pledges", json={
        "owner": network.id("owner"), "listing_id": surplus["id"], "listing_kind": "surplus",
        "quantity": 3, "unit": "l",
    })
    assert pledged.status_code == 201, pledged.get_json()
    network.pump()
    pledge_id = pledged.get_json()["id"]
    assert rows(a, Pledge)[0].status == PledgeStatus.ACCEPTED
    return owner, a, c, surplus, pledge_id


def rows(app: Flask, model: Any) -> list[Any]:
    with session_scope(app) as db:
        found = list(db.scalars(select(model)))
        db.expunge_all()
        return found


def stall(owner: Flask, pledge_id: str) -> None:
    """The accepted pledge shows no sign of life for longer than the stall time."""
    with session_scope(owner) as db:
        row = db.get(Pledge, uuid.UUID(pledge_id))
        assert row is not None and row.decided_at is not None
        minutes = owner.config["MUTUALAID"].pledge_stall_minutes
        row.decided_at = now() - timedelta(minutes=minutes + 1)


def ask(network: Network, app: Flask, surplus: dict[str, Any], pledge_id: str, **kw: Any) -> Any:
    body = {"owner": network.id("owner"), "listing_id": surplus["id"], "reason": "their van broke down", **kw}
    response = steward(app, f"s{uuid.uuid4().hex[:8]}").post(f"/pledges/{pledge_id}/takeover", json=body)
    assert response.status_code == 201, response.get_json()
    network.pump()
    return response.get_json()


def at(app: Flask, takeover_id: str) -> Takeover:
    with session_scope(app) as db:
        row = db.get(Takeover, uuid.UUID(takeover_id))
        assert row is not None
        db.expunge(row)
        return row


def left(owner: Flask, surplus: dict[str, Any]) -> float:
    with session_scope(owner) as db:
        listing = db.get(Listing, uuid.UUID(surplus["id"]))
        assert listing is not None
        return available(db, listing, network_id(owner))


def network_id(app: Flask) -> str:
    from federation.identity import local_identity

    return local_identity(app).node_id


def test_the_owner_approves_a_take_over_of_a_stalled_pledge(network: Network) -> None:
    owner, a, c, surplus, pledge_id = setup(network)
    stall(owner, pledge_id)
    asked = ask(network, c, surplus, pledge_id)
    pending = at(owner, asked["id"])
    assert pending.status == "requested" and pending.decide_by is not None
    assert pending.requester_node == network.id("c")

    approved = steward(owner, "otto").post(f"/takeovers/{asked['id']}/approve")
    assert approved.status_code == 200, approved.get_json()
    network.pump()
    by_pledger = {row.pledger_node: row for row in rows(owner, Pledge)}
    assert by_pledger[network.id("a")].status == PledgeStatus.TAKEN_OVER
    assert by_pledger[network.id("c")].status == PledgeStatus.ACCEPTED
    assert by_pledger[network.id("c")].quantity == 3
    assert left(owner, surplus) == 2  # moved whole, never promised twice
    [old] = rows(a, Pledge)
    assert old.status == PledgeStatus.TAKEN_OVER and old.reason == f"taken over by {network.id('c')}"
    assert at(c, asked["id"]).status == "approved"
    [mine] = rows(c, Pledge)  # the requester sees its pledge accepted
    assert mine.status == PledgeStatus.ACCEPTED and mine.quantity == 3 and mine.unit == "l"
    assert mine.id == by_pledger[network.id("c")].id
    again = steward(owner, "otto2").post(f"/takeovers/{asked['id']}/approve")
    assert again.status_code == 409


def test_an_undecided_take_over_is_approved_after_the_timeout(network: Network) -> None:
    owner, a, c, surplus, pledge_id = setup(network)
    stall(owner, pledge_id)
    asked = ask(network, c, surplus, pledge_id)
    minutes = owner.config["MUTUALAID"].takeover_approve_minutes
    with session_scope(owner) as db:
        assert takeover.approve_due(db, owner, now()) == 0  # not yet
    later = now() + timedelta(minutes=minutes, seconds=1)
    assert sweep(owner, later).jobs["takeover-approval"] == 1
    assert sweep(owner, later).jobs["takeover-approval"] == 0  # once
    network.pump()
    assert at(c, asked["id"]).status == "approved"
    assert [row.status for row in rows(c, Pledge)] == [PledgeStatus.ACCEPTED]
    assert [row.status for row in rows(a, Pledge)] == [PledgeStatus.TAKEN_OVER]
    assert left(owner, surplus) == 2


def test_progress_from_the_pledger_refuses_a_pending_take_over(network: Network) -> None:
    owner, a, c, surplus, pledge_id = setup(network)
    stall(owner, pledge_id)
    asked = ask(network, c, surplus, pledge_id)
    moved = steward(a, "ada").post(f"/pledges/{pledge_id}/progress", json={"note": "on the way"})
    assert moved.status_code == 200, moved.get_json()
    network.pump()
    refused = at(c, asked["id"])
    assert (refused.status, refused.reason) == ("refused", "the pledger reported progress")
    # Progress restarts the stall clock: a new request is refused, with the deadline.
    again = ask(network, c, surplus, pledge_id)
    assert at(c, again["id"]).reason.startswith("the pledge is not stalled: its pledger has until ")
    with session_scope(owner) as db:
        assert takeover.approve_due(db, owner, now() + timedelta(days=30)) == 0  # nothing pending
    assert [row.status for row in rows(a, Pledge)] == [PledgeStatus.ACCEPTED]


def test_take_overs_that_cannot_be_are_refused_with_their_reason(network: Network) -> None:
    owner, a, c, surplus, pledge_id = setup(network)
    # Not stalled yet.
    early = ask(network, c, surplus, pledge_id)
    assert at(c, early["id"]).reason.startswith("the pledge is not stalled")
    stall(owner, pledge_id)
    # An unknown pledge.
    unknown = ask(network, c, surplus, str(uuid.uuid4()))
    assert at(c, unknown["id"]).reason == "no such pledge against this node's listings"
    # By the node whose pledge it is.
    own = ask(network, a, surplus, pledge_id)
    assert at(a, own["id"]).reason == "the pledge is already the requesting node's"
    # A second request while one is pending.
    first = ask(network, c, surplus, pledge_id)
    second = ask(network, c, surplus, pledge_id)
    assert at(c, second["id"]).reason == "another take-over of this pledge is pending"
    # Fulfilled: the pending one is refused, and so is any later one.
    done = steward(owner, "otto").post(f"/pledges/{pledge_id}/fulfil")
    assert done.status_code == 200 and done.get_json()["status"] == "fulfilled"
    network.pump()
    assert at(c, first["id"]).reason == "the pledge was fulfilled"
    late = ask(network, c, surplus, pledge_id)
    assert at(c, late["id"]).reason == "the pledge was fulfilled"
    assert steward(owner, "otto2").post(f"/pledges/{pledge_id}/fulfil").status_code == 409
    # Every refusal is recorded at the owner too; nothing was moved.
    assert {row.status for row in rows(owner, Takeover)} == {"refused"}
    assert [row.status for row in rows(owner, Pledge)] == [PledgeStatus.FULFILLED]


def test_after_a_take_over_the_old_pledge_cannot_be_taken_again(network: Network) -> None:
    owner, _, c, surplus, pledge_id = setup(network)
    stall(owner, pledge_id)
    asked = ask(network, c, surplus, pledge_id)
    with owner.app_context(), session_scope(owner) as db:
        takeover.approve(db, owner, uuid.UUID(asked["id"]))
    network.pump()
    d = network.node("d")
    network.peer("owner", "d")
    again = ask(network, d, surplus, pledge_id)
    assert at(d, again["id"]).reason == "the pledge is taken_over, not accepted"
    assert left(owner, surplus) == 2


def test_bad_take_over_requests_are_refused_before_they_are_sent(network: Network) -> None:
    owner, _, _, surplus, pledge_id = setup(network)
    api = steward(owner, "otto")
    own = api.post(f"/pledges/{pledge_id}/takeover", json={"owner": network.id("owner"),
                                                          "listing_id": surplus["id"]})
    assert own.status_code == 422
    assert own.get_json()["errors"] == [{"field": "owner", "reason": "another node's listing"}]
    bad = api.post(f"/pledges/{pledge_id}/takeover", json={"owner": "x", "listing_id": "nope"})
    assert bad.status_code == 422
    assert {e["field"] for e in bad.get_json()["errors"]} == {"owner", "listing_id"}
    assert api.post(f"/takeovers/{uuid.uuid4()}/approve").status_code == 404
    assert member(owner, "nobody").post(f"/takeovers/{uuid.uuid4()}/approve").status_code == 403
    assert api.post(f"/pledges/{uuid.uuid4()}/progress", json={}).status_code == 404


def test_a_take_over_decision_from_another_node_is_refused(network: Network) -> None:
    from federation.envelope import EnvelopeError
    from federation.registry import ApplyContext

    owner, _, c, surplus, pledge_id = setup(network)
    stall(owner, pledge_id)
    asked = ask(network, c, surplus, pledge_id)
    forged = takeover.TakeoverDecided(
        takeover_id=uuid.UUID(asked["id"]), pledge_id=uuid.UUID(pledge_id),
        listing_id=uuid.UUID(surplus["id"]), requester=network.id("c"), approved=True,
        new_pledge_id=uuid.uuid4(), quantity=3, unit="l",
    )

    class Sent:
        sender = network.id("a")  # not the owner

    with session_scope(c) as db:
        ctx = ApplyContext(db=db, app=c, envelope=Sent(), local_id=network.id("c"),  # type: ignore[arg-type]
                           origin=None, verified_key="")  # type: ignore[arg-type]
        with pytest.raises(EnvelopeError, match="does not own"):
            takeover.apply_decided(ctx, forged)
        db.rollback()
    assert at(c, asked["id"]).status == "requested"
