"""Needs and offers: posting, changing, the lifecycle, expiry, coarse areas and pages."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import h3
from click.testing import CliRunner
from flask import Flask
from sqlalchemy import update

from node.cli import cli
from node.db import database, utcnow
from node.resources.models import Listing
from tests.node.factories import CELL, FINE_CELL, assert_problem, later, need, offer, set_columns


def test_post_and_read_a_need(make_member: Any) -> None:
    alice, bob = make_member("alice"), make_member("bob")
    r = alice.post(
        "/needs",
        json=need(
            description="for a family of four", available_from=later(hours=1), available_until=later(days=2)
        ),
    )
    assert r.status_code == 201, r.json
    body = r.json
    assert (body["kind"], body["status"], body["handle"], body["mine"]) == ("need", "open", "alice", True)
    assert (body["quantity"], body["unit"], body["urgency"]) == (2, "kg", "urgent")
    seen = bob.get(f"/needs/{body['id']}").json
    assert seen["mine"] is False and seen["handle"] == "alice" and seen["title"] == "Rice for 4"
    assert "email" not in seen
    assert_problem(bob.get(f"/offers/{body['id']}"), 404, "not-found")


def test_defaults_and_expiry(make_member: Any) -> None:
    alice = make_member("alice")
    body = alice.post("/offers", json={"category": "tools", "title": "Drill", "h3_cell": CELL}).json
    assert (body["quantity"], body["unit"], body["urgency"]) == (1, "item", "routine")
    assert body["expires_at"] is not None and body["expires_at"] > later(days=29)


def test_area_is_coarsened_to_the_node_resolution(app_factory: Any, make_member: Any) -> None:
    app = app_factory(h3_resolution=7)
    alice = make_member("alice", target=app)
    cell = alice.post("/needs", json=need(h3_cell=FINE_CELL.upper())).json["h3_cell"]
    assert h3.get_resolution(cell) == 7 and cell == h3.cell_to_parent(FINE_CELL, 7)
    coarse = h3.cell_to_parent(CELL, 5)
    assert alice.post("/needs", json=need(h3_cell=coarse)).json["h3_cell"] == coarse
    listing_id = alice.get("/needs").json["items"][0]["id"]
    moved = alice.patch(f"/needs/{listing_id}", json={"h3_cell": FINE_CELL}).json["h3_cell"]
    assert h3.get_resolution(moved) == 7
    item = alice.post("/inventory", json={"kind": "space", "name": "Garage", "h3_cell": FINE_CELL}).json
    assert h3.get_resolution(item["h3_cell"]) == 7


def test_default_resolution_is_8(make_member: Any) -> None:
    alice = make_member("alice")
    assert alice.post("/needs", json=need(h3_cell=FINE_CELL)).json["h3_cell"] == CELL
    assert_problem(alice.post("/needs", json=need(h3_cell="881f1d4815ffff0")), 422, "validation", "h3_cell")


def test_owner_changes_an_open_listing_others_cannot(make_member: Any) -> None:
    alice, bob = make_member("alice"), make_member("bob")
    listing_id = alice.post("/needs", json=need()).json["id"]
    changes = {"title": "Rice for 6", "quantity": 3, "urgency": "emergency"}
    r = alice.patch(f"/needs/{listing_id}", json=changes)
    assert r.status_code == 200, r.json
    assert (r.json["title"], r.json["quantity"], r.json["urgency"]) == ("Rice for 6", 3, "emergency")
    assert_problem(bob.patch(f"/needs/{listing_id}", json={"title": "mine now"}), 403, "forbidden")
    assert_problem(bob.post(f"/needs/{listing_id}/withdraw"), 403, "forbidden")
    assert_problem(alice.patch(f"/needs/{listing_id}", json={"title": None}), 422, "validation", "title")
    window = {"available_from": later(days=2), "available_until": later(days=1)}
    assert_problem(alice.patch(f"/needs/{listing_id}", json=window), 422, "validation")
    assert alice.get(f"/needs/{listing_id}").json["title"] == "Rice for 6"


def test_withdrawn_listing_is_final(make_member: Any) -> None:
    alice = make_member("alice")
    listing_id = alice.post("/offers", json=offer()).json["id"]
    assert alice.post(f"/offers/{listing_id}/withdraw").json["status"] == "withdrawn"
    assert_problem(alice.post(f"/offers/{listing_id}/withdraw"), 409, "invalid-state")
    assert_problem(alice.patch(f"/offers/{listing_id}", json={"title": "back"}), 409, "invalid-state")
    assert alice.get("/offers").json["items"] == []
    assert [o["id"] for o in alice.get("/offers?status=withdrawn").json["items"]] == [listing_id]


def test_lifecycle_open_matched_fulfilled(make_member: Any) -> None:
    alice, bob = make_member("alice"), make_member("bob")
    need_id = alice.post("/needs", json=need()).json["id"]
    offer_id = bob.post("/offers", json=offer()).json["id"]
    match = alice.post("/matches", json={"need_id": need_id, "offer_id": offer_id}).json
    assert bob.post(f"/matches/{match['id']}/accept").json["status"] == "accepted"
    assert alice.get(f"/needs/{need_id}").json["status"] == "matched"
    assert bob.get(f"/offers/{offer_id}").json["status"] == "matched"
    assert_problem(alice.patch(f"/needs/{need_id}", json={"title": "x"}), 409, "invalid-state")
    done = alice.post(f"/matches/{match['id']}/fulfil", json={"outcome": "picked up"}).json
    assert (done["status"], done["outcome"]) == ("fulfilled", "picked up")
    assert alice.get(f"/needs/{need_id}").json["status"] == "fulfilled"
    assert bob.get(f"/offers/{offer_id}").json["status"] == "fulfilled"
    assert_problem(alice.post(f"/needs/{need_id}/withdraw"), 409, "invalid-state")


def test_expiry_by_time_on_read(app: Flask, make_member: Any) -> None:
    alice = make_member("alice")
    listing_id = alice.post("/needs", json=need(expires_at=later(days=3))).json["id"]
    set_columns(app, Listing, listing_id, expires_at=utcnow() - timedelta(seconds=1))
    assert alice.get("/needs").json["items"] == []
    assert alice.get(f"/needs/{listing_id}").json["status"] == "expired"
    assert [n["id"] for n in alice.get("/needs?status=expired").json["items"]] == [listing_id]
    past = alice.post("/needs", json=need(expires_at=later(seconds=-5)))
    assert_problem(past, 422, "validation", "expires_at")


def test_expire_command_marks_what_is_due(app: Flask, make_member: Any) -> None:
    alice = make_member("alice")
    due = alice.post("/needs", json=need()).json["id"]
    alice.post("/offers", json=offer())
    set_columns(app, Listing, due, expires_at=utcnow() - timedelta(minutes=1))
    settings = app.config["MUTUALAID"]
    env = {"MUTUALAID_DATABASE_URL": settings.sqlalchemy_url, "MUTUALAID_SECRET_KEY": settings.secret_key}
    result = CliRunner().invoke(cli, ["--instance", str(settings.instance_path), "expire"], env=env)
    assert result.exit_code == 0, result.output
    assert "Expired 1 listings." in result.output
    assert [n["id"] for n in alice.get("/needs?status=expired").json["items"]] == [due]
    assert alice.get("/offers").json["total"] == 1


def test_filters(make_member: Any) -> None:
    alice, bob = make_member("alice"), make_member("bob")
    alice.post("/needs", json=need(category="food", urgency="urgent"))
    alice.post("/needs", json=need(category="tools", urgency="routine"))
    bob.post("/needs", json=need(category="food", urgency="routine"))
    assert bob.get("/needs").json["total"] == 3
    assert bob.get("/needs?category=food").json["total"] == 2
    assert bob.get("/needs?urgency=urgent").json["total"] == 1
    assert bob.get("/needs?mine=true").json["total"] == 1
    assert bob.get("/needs?category=food&mine=false&urgency=routine").json["total"] == 1
    assert_problem(bob.get("/needs?category=unheard_of"), 422, "validation", "category")


def test_pagination_is_newest_first_and_complete(make_member: Any) -> None:
    alice = make_member("alice")
    titles = [f"need {i}" for i in range(7)]
    for title in titles:
        assert alice.post("/needs", json=need(title=title)).status_code == 201
    seen: list[str] = []
    page: int | None = 1
    while page is not None:
        body = alice.get(f"/needs?per_page=3&page={page}").json
        assert body["total"] == 7 and body["per_page"] == 3 and len(body["items"]) <= 3
        seen.extend(item["title"] for item in body["items"])
        page = body["next_page"]
    assert seen == list(reversed(titles))
    empty = alice.get("/needs?per_page=3&page=9").json
    assert empty["items"] == [] and empty["next_page"] is None
    assert_problem(alice.get("/needs?per_page=101"), 422, "validation", "per_page")
    assert_problem(alice.get("/needs?page=0"), 422, "validation", "page")


def test_a_listing_reads_the_same_in_a_list_and_alone(make_member: Any) -> None:
    alice, bob = make_member("alice"), make_member("bob")
    window = {"available_from": later(hours=1), "available_until": later(days=3)}
    listing_id = alice.post("/needs", json=need(description="two bags", **window)).json["id"]
    for viewer in (alice, bob):
        alone = viewer.get(f"/needs/{listing_id}").json
        listed = viewer.get("/needs").json["items"][0]
        assert listed == alone
    assert bob.get("/needs").json["items"][0]["mine"] is False
    assert alice.get("/needs?mine=true&status=open&urgency=urgent&category=food").json["total"] == 1


def test_the_node_can_lower_the_page_size(app_factory: Any, make_member: Any) -> None:
    app = app_factory(page_size_max=10)
    alice = make_member("alice", target=app)
    assert alice.get("/needs?per_page=10").status_code == 200
    body = assert_problem(alice.get("/needs?per_page=11"), 422, "validation", "per_page")
    assert "at most 10" in body["errors"][0]["reason"]


def test_listing_answers_while_another_connection_holds_the_writer_lock(app: Flask, make_member: Any) -> None:
    # Listing only reads: on SQLite its transaction takes no writer lock, so a write in progress
    # elsewhere (another worker process) does not hold it up. On PostgreSQL reads never wait.
    alice = make_member("alice")
    assert alice.post("/needs", json=need()).status_code == 201
    assert alice.get("/needs").status_code == 200  # the token's first use is recorded (a write)
    with database(app).engine.connect() as other:
        other.begin()  # BEGIN IMMEDIATE on SQLite: the writer lock
        other.execute(update(Listing).values(title="Rice, being edited"))
        r = alice.get("/needs")
        assert r.status_code == 200, r.json
        assert (r.json["total"], r.json["items"][0]["title"]) == (1, need()["title"])
        other.rollback()


def test_a_listing_counts_every_match_beyond_its_page(make_member: Any) -> None:
    alice = make_member("alice")
    for n in range(5):
        assert alice.post("/needs", json=need(title=f"need {n}")).status_code == 201
    first, last, past = (alice.get(f"/needs?per_page=2&page={p}").json for p in (1, 3, 4))
    assert (first["total"], len(first["items"])) == (5, 2)
    assert (last["total"], len(last["items"])) == (5, 1)
    assert (past["total"], past["items"]) == (5, [])
