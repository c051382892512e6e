"""Local matching: ranked suggestions, and proposals that the other side decides on."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import h3
import pytest

from node.db import utcnow
from node.resources.matching import availability
from node.resources.models import Listing, ListingKind
from tests.node.factories import CELL, assert_problem, later, need, offer

NEAR = h3.grid_ring(CELL, 1)[0]
FAR = h3.grid_ring(CELL, 8)[0]


def titles(api: Any, path: str) -> list[str]:
    r = api.get(path)
    assert r.status_code == 200, r.json
    return [s["listing"]["title"] for s in r.json["items"]]


def test_suggestions_rank_exact_category_before_related(make_member: Any) -> None:
    alice, bob = make_member("alice"), make_member("bob")
    need_id = alice.post("/needs", json=need(category="food")).json["id"]
    bob.post("/offers", json=offer(category="meals", title="related"))
    bob.post("/offers", json=offer(category="food", title="exact"))
    bob.post("/offers", json=offer(category="tools", title="unrelated"))
    alice.post("/offers", json=offer(category="food", title="alice's own"))
    assert titles(alice, f"/needs/{need_id}/suggestions") == ["exact", "related"]


def test_suggestions_rank_nearer_first(make_member: Any) -> None:
    alice, bob = make_member("alice"), make_member("bob")
    need_id = alice.post("/needs", json=need()).json["id"]
    bob.post("/offers", json=offer(title="far", h3_cell=FAR))
    bob.post("/offers", json=offer(title="same cell", h3_cell=CELL))
    bob.post("/offers", json=offer(title="next cell", h3_cell=NEAR))
    r = alice.get(f"/needs/{need_id}/suggestions").json["items"]
    assert [s["listing"]["title"] for s in r] == ["same cell", "next cell", "far"]
    distances = [s["distance_km"] for s in r]
    assert distances[0] == 0 and 0 < distances[1] < distances[2]
    assert r[0]["score"] > r[1]["score"] > r[2]["score"]
    assert set(r[0]["reasons"]) == {"category", "distance", "urgency", "availability"}


def test_suggestions_for_an_offer_rank_urgent_needs_first(make_member: Any) -> None:
    alice, bob = make_member("alice"), make_member("bob")
    offer_id = alice.post("/offers", json=offer()).json["id"]
    for urgency in ("soon", "emergency", "routine", "urgent"):
        bob.post("/needs", json=need(title=urgency, urgency=urgency))
    assert titles(alice, f"/offers/{offer_id}/suggestions") == ["emergency", "urgent", "soon", "routine"]


def test_suggestions_rank_windows_that_meet_first(make_member: Any) -> None:
    alice, bob = make_member("alice"), make_member("bob")
    window = {"available_from": later(days=1), "available_until": later(days=2)}
    need_id = alice.post("/needs", json=need(**window)).json["id"]
    bob.post("/offers", json=offer(title="gone before", available_until=later(hours=12)))
    bob.post("/offers", json=offer(title="overlaps", available_from=later(hours=36)))
    bob.post("/offers", json=offer(title="any time"))
    ranked = alice.get(f"/needs/{need_id}/suggestions").json["items"]
    assert [s["listing"]["title"] for s in ranked][-1] == "gone before"
    assert {s["listing"]["title"]: s["reasons"]["availability"] for s in ranked} == {
        "gone before": 0.0,
        "overlaps": 1.0,
        "any time": 1.0,
    }


def test_suggestions_leave_out_closed_and_expired(make_member: Any) -> None:
    alice, bob = make_member("alice"), make_member("bob")
    need_id = alice.post("/needs", json=need()).json["id"]
    gone = bob.post("/offers", json=offer(title="withdrawn")).json["id"]
    bob.post(f"/offers/{gone}/withdraw")
    bob.post("/offers", json=offer(title="open"))
    assert titles(alice, f"/needs/{need_id}/suggestions") == ["open"]
    assert_problem(alice.get(f"/offers/{need_id}/suggestions"), 404, "not-found")


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ((None, None), (None, None), 1.0),
        ((1, 3), (2, 4), 1.0),
        ((1, 2), (3, 4), 0.0),
        ((None, -1), (None, None), 0.0),  # already over
        ((5, None), (None, 6), 1.0),
    ],
)
def test_availability_windows(a: tuple[Any, Any], b: tuple[Any, Any], expected: float) -> None:
    now = utcnow()

    def listing(window: tuple[Any, Any]) -> Listing:
        start, end = (now + timedelta(days=d) if d is not None else None for d in window)
        return Listing(kind=ListingKind.NEED, available_from=start, available_until=end)

    assert availability(listing(a), listing(b), now) == expected


def _pair(make_member: Any) -> tuple[Any, Any, str, str]:
    alice, bob = make_member("alice"), make_member("bob")
    need_id = alice.post("/needs", json=need()).json["id"]
    offer_id = bob.post("/offers", json=offer()).json["id"]
    return alice, bob, need_id, offer_id


def test_the_other_side_accepts_and_contacts_appear_only_then(make_member: Any) -> None:
    alice, bob, need_id, offer_id = _pair(make_member)
    carol = make_member("carol")
    r = alice.post("/matches", json={"need_id": need_id, "offer_id": offer_id, "note": "tonight?"})
    assert r.status_code == 201, r.json
    match = r.json
    assert (match["status"], match["proposed_by"], match["note"]) == ("proposed", "alice", "tonight?")
    assert match["counterpart_contact"] is None
    assert bob.get(f"/matches/{match['id']}").json["counterpart_contact"] is None
    assert_problem(carol.get(f"/matches/{match['id']}"), 403, "forbidden")
    assert carol.get("/matches").json["total"] == 0
    assert_problem(alice.post(f"/matches/{match['id']}/accept"), 403, "forbidden")
    assert_problem(carol.post(f"/matches/{match['id']}/accept"), 403, "forbidden")
    accepted = bob.post(f"/matches/{match['id']}/accept").json
    assert accepted["status"] == "accepted"
    assert accepted["counterpart_contact"]["email"] == "alice@example.org"
    assert alice.get(f"/matches/{match['id']}").json["counterpart_contact"]["email"] == "bob@example.org"
    assert [m["id"] for m in alice.get("/matches?status=accepted").json["items"]] == [match["id"]]
    assert_problem(bob.post(f"/matches/{match['id']}/accept"), 409, "invalid-state")


def test_decline_by_the_other_side_only(make_member: Any) -> None:
    alice, bob, need_id, offer_id = _pair(make_member)
    match = bob.post("/matches", json={"need_id": need_id, "offer_id": offer_id}).json
    assert_problem(bob.post(f"/matches/{match['id']}/decline", json={}), 403, "forbidden")
    declined = alice.post(f"/matches/{match['id']}/decline", json={"outcome": "found some"}).json
    assert (declined["status"], declined["outcome"], declined["counterpart_contact"]) == (
        "declined",
        "found some",
        None,
    )
    assert alice.get(f"/needs/{need_id}").json["status"] == "open"
    assert_problem(alice.post(f"/matches/{match['id']}/fulfil", json={}), 409, "invalid-state")


def test_cancel_a_proposal_by_its_proposer_only(make_member: Any) -> None:
    alice, bob, need_id, offer_id = _pair(make_member)
    match = alice.post("/matches", json={"need_id": need_id, "offer_id": offer_id}).json
    again = alice.post("/matches", json={"need_id": need_id, "offer_id": offer_id})
    assert_problem(again, 409, "invalid-state")
    assert_problem(bob.post(f"/matches/{match['id']}/cancel", json={}), 403, "forbidden")
    assert alice.post(f"/matches/{match['id']}/cancel", json={}).json["status"] == "cancelled"


def test_cancelling_an_accepted_match_reopens_both(make_member: Any) -> None:
    alice, bob, need_id, offer_id = _pair(make_member)
    match = alice.post("/matches", json={"need_id": need_id, "offer_id": offer_id}).json
    bob.post(f"/matches/{match['id']}/accept")
    cancelled = bob.post(f"/matches/{match['id']}/cancel", json={"outcome": "bike broke"}).json
    assert (cancelled["status"], cancelled["outcome"]) == ("cancelled", "bike broke")
    assert alice.get(f"/needs/{need_id}").json["status"] == "open"
    assert bob.get(f"/offers/{offer_id}").json["status"] == "open"


def test_accepting_one_cancels_rival_proposals(make_member: Any) -> None:
    alice, bob, need_id, offer_id = _pair(make_member)
    carol = make_member("carol")
    rival_offer = carol.post("/offers", json=offer(title="carol's rice")).json["id"]
    first = alice.post("/matches", json={"need_id": need_id, "offer_id": offer_id}).json
    rival = carol.post("/matches", json={"need_id": need_id, "offer_id": rival_offer}).json
    bob.post(f"/matches/{first['id']}/accept")
    assert carol.get(f"/matches/{rival['id']}").json["status"] == "cancelled"
    assert_problem(alice.post(f"/matches/{rival['id']}/accept"), 409, "invalid-state")
    assert_problem(
        carol.post("/matches", json={"need_id": need_id, "offer_id": rival_offer}),
        409,
        "invalid-state",
        "need_id",
    )


def test_proposals_need_one_own_side_and_two_members(make_member: Any) -> None:
    alice, _, need_id, offer_id = _pair(make_member)
    carol = make_member("carol")
    assert_problem(carol.post("/matches", json={"need_id": need_id, "offer_id": offer_id}), 403, "forbidden")
    own_offer = alice.post("/offers", json=offer()).json["id"]
    assert_problem(
        alice.post("/matches", json={"need_id": need_id, "offer_id": own_offer}),
        422,
        "validation",
        "offer_id",
    )
    assert_problem(alice.post("/matches", json={"need_id": offer_id, "offer_id": need_id}), 404, "not-found")


def test_withdrawing_a_matched_listing_reopens_the_other_side(make_member: Any) -> None:
    alice, bob, need_id, offer_id = _pair(make_member)
    match = alice.post("/matches", json={"need_id": need_id, "offer_id": offer_id}).json
    bob.post(f"/matches/{match['id']}/accept")
    assert alice.post(f"/needs/{need_id}/withdraw").json["status"] == "withdrawn"
    assert bob.get(f"/matches/{match['id']}").json["status"] == "cancelled"
    assert bob.get(f"/offers/{offer_id}").json["status"] == "open"
