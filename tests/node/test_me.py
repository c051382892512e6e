"""A member's own data: reading and editing it, exporting it, erasing it."""

from __future__ import annotations

from typing import Any

from flask import Flask
from sqlalchemy import select

from node.db import Base, session_scope
from node.members.models import Member
from node.resources.models import Listing
from node.signals import listing_changed
from tests.conftest import PASSWORD
from tests.node.factories import assert_problem, need, offer


def test_me_shows_private_fields_only_to_the_member(make_member: Any) -> None:
    alice, bob = make_member("alice"), make_member("bob")
    me = alice.get("/me").json
    assert me["email"] == "alice@example.org" and me["is_steward"] is False
    public = next(m for m in bob.get("/members").json["items"] if m["handle"] == "alice")
    assert "email" not in public and "phone" not in public


def test_edit_profile(make_member: Any) -> None:
    alice = make_member("alice")
    r = alice.patch(
        "/me",
        json={
            "display_name": "Alice A.",
            "bio": "gardener",
            "phone": "+49 30 555",
            "languages": "de, en",
            "email": "Alice.New@example.org",
        },
    )
    assert r.status_code == 200, r.json
    assert r.json["display_name"] == "Alice A." and r.json["email"] == "alice.new@example.org"
    me = alice.get("/me").json
    assert (me["bio"], me["phone"], me["languages"]) == ("gardener", "+49 30 555", "de, en")
    assert alice.patch("/me", json={"phone": None}).json["phone"] is None


def test_edit_refuses_taken_email_and_nulls(make_member: Any) -> None:
    alice, _ = make_member("alice"), make_member("bob")
    assert_problem(alice.patch("/me", json={"email": "BOB@example.org"}), 409, "conflict", "email")
    assert_problem(alice.patch("/me", json={"display_name": None}), 422, "validation", "display_name")
    assert alice.get("/me").json["email"] == "alice@example.org"


def _busy_member(make_member: Any) -> tuple[Any, Any, dict[str, Any]]:
    """Alice with a need, an offer, an inventory item, a match and a second token; Bob too."""
    alice, bob = make_member("alice", steward=True), make_member("bob")
    my_need = alice.post("/needs", json=need(title="Alice needs rice")).json
    my_offer = alice.post("/offers", json=offer(category="tools", title="Alice's drill")).json
    alice.post("/inventory", json={"kind": "tool", "name": "Ladder", "category": "tools"})
    alice.post("/me/tokens", json={"name": "script"})
    bob_offer = bob.post("/offers", json=offer(title="Bob's rice")).json
    bob_need = bob.post("/needs", json=need(category="tools", title="Bob needs a drill")).json
    match = bob.post("/matches", json={"need_id": my_need["id"], "offer_id": bob_offer["id"]}).json
    accepted = alice.post(f"/matches/{match['id']}/accept")
    assert accepted.status_code == 200, accepted.json
    proposal = bob.post("/matches", json={"need_id": bob_need["id"], "offer_id": my_offer["id"]})
    assert proposal.status_code == 201, proposal.json
    ids = {
        "need": my_need["id"],
        "offer": my_offer["id"],
        "bob_offer": bob_offer["id"],
        "bob_need": bob_need["id"],
        "match": match["id"],
        "proposal": proposal.json["id"],
    }
    return alice, bob, ids


def test_export_holds_everything_the_member_has(make_member: Any) -> None:
    alice, _, ids = _busy_member(make_member)
    r = alice.get("/me/export")
    assert r.status_code == 200
    data = r.json
    assert data["format"] == "mutualaid-member-export" and data["version"] == 1
    assert data["profile"]["handle"] == "alice" and data["profile"]["email"] == "alice@example.org"
    assert "password_hash" not in str(data)
    assert sorted(t["name"] for t in data["api_tokens"]) == ["script", "tests"]
    assert all("token_hash" not in t and "token" not in t for t in data["api_tokens"])
    assert len(data["steward_terms"]) == 1 and data["steward_terms"][0]["reason"] == "test"
    assert [n["id"] for n in data["needs"]] == [ids["need"]]
    assert data["needs"][0]["status"] == "matched"
    assert [o["id"] for o in data["offers"]] == [ids["offer"]]
    assert [i["name"] for i in data["inventory"]] == ["Ladder"]
    assert sorted(m["id"] for m in data["matches"]) == sorted([ids["match"], ids["proposal"]])
    # The counterpart's contacts are theirs, not Alice's: the export names nobody else's email.
    assert "bob@example.org" not in str(data)


def test_erase_withdraws_through_the_service_then_deletes_everything(app: Flask, make_member: Any) -> None:
    alice, bob, ids = _busy_member(make_member)
    with session_scope(app) as db:
        alice_id = db.scalar(select(Member.id).where(Member.handle == "alice"))
    changes: list[tuple[str, str]] = []

    def record(_db: Any, *, listing: Listing, change: str, **_: Any) -> None:
        changes.append((str(listing.id), change))

    listing_changed.connect(record)
    try:
        assert_problem(alice.post("/me/erase", json={"password": "wrong"}), 403, "forbidden", "password")
        assert changes == []
        assert alice.post("/me/erase", json={"password": PASSWORD}).status_code == 204
    finally:
        listing_changed.disconnect(record)
    assert (ids["need"], "withdrawn") in changes and (ids["offer"], "withdrawn") in changes
    # Bob's offer was promised to Alice's need; it is open again for someone else.
    assert (ids["bob_offer"], "open") in changes
    assert bob.get(f"/offers/{ids['bob_offer']}").json["status"] == "open"
    assert bob.get(f"/needs/{ids['bob_need']}").json["status"] == "open"
    assert bob.get("/matches").json["total"] == 0
    assert_problem(alice.get("/me"), 401, "unauthenticated")
    _assert_nothing_left(app, alice_id, ["alice@example.org", "Alice needs rice", "Ladder", "Alice's drill"])


def _assert_nothing_left(app: Flask, member_id: Any, texts: list[str]) -> None:
    """No row of any node table names the member's id, and none of theirs holds their texts.

    The federation's log of signed envelopes is left out: what it already announced to peers it
    answers for itself, through the same member_erasing signal. Other members' own rows (a
    notification to the other side of a match) may quote a title they were sent."""
    own_tables = {
        "members",
        "api_tokens",
        "invitations",
        "steward_terms",
        "listings",
        "inventory_items",
        "matches",
        "categories",
    }
    with session_scope(app) as db:
        for table in Base.metadata.sorted_tables:
            if table.name.startswith("federation_"):
                continue
            for row in db.execute(select(table)).all():
                values = [str(v) for v in row]
                assert str(member_id) not in values, (table.name, row)
                if table.name in own_tables:
                    for text in texts:
                        assert not any(text in v for v in values), (table.name, row)
