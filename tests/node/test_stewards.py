"""Steward terms: granted only by stewards, bounded in length, ending by time or early."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Flask
from sqlalchemy import select

from node.db import session_scope, utcnow
from node.members.models import StewardTerm
from tests.node.factories import assert_problem, set_columns


def test_only_a_steward_grants_a_term(make_member: Any) -> None:
    alice, bob = make_member("alice", steward=True), make_member("bob")
    make_member("carol")
    assert_problem(bob.post("/stewards", json={"handle": "carol", "days": 30}), 403, "forbidden")
    r = alice.post("/stewards", json={"handle": "bob", "days": 30, "reason": "rota"})
    assert r.status_code == 201, r.json
    assert (r.json["handle"], r.json["granted_by"], r.json["reason"]) == ("bob", "alice", "rota")
    assert bob.get("/me").json["is_steward"] is True
    handles = sorted(t["handle"] for t in bob.get("/stewards").json["items"])
    assert handles == ["alice", "bob"]
    assert bob.post("/stewards", json={"handle": "carol", "days": 1}).status_code == 201


def test_terms_are_bounded_by_the_node_setting(app_factory: Any, make_member: Any) -> None:
    app = app_factory(steward_max_term_days=90)
    alice = make_member("alice", steward=True, target=app)
    make_member("bob", target=app)
    assert_problem(alice.post("/stewards", json={"handle": "bob", "days": 91}), 422, "validation", "days")
    assert alice.post("/stewards", json={"handle": "bob", "days": 90}).status_code == 201
    assert_problem(alice.post("/stewards", json={"handle": "nobody", "days": 5}), 404, "not-found", "handle")


def test_a_term_ends_when_its_time_is_up(app: Flask, make_member: Any) -> None:
    alice = make_member("alice", steward=True)
    make_member("bob")
    assert alice.get("/me").json["is_steward"] is True
    with session_scope(app) as db:
        term_id = db.scalars(select(StewardTerm.id)).one()
    set_columns(app, StewardTerm, term_id, ends_at=utcnow() - timedelta(seconds=1))
    assert alice.get("/me").json["is_steward"] is False
    assert alice.get("/stewards").json["items"] == []
    assert_problem(alice.post("/stewards", json={"handle": "bob", "days": 5}), 403, "forbidden")
    assert_problem(alice.post(f"/stewards/{term_id}/end"), 409, "invalid-state")


def test_a_term_ends_early_by_its_holder_or_another_steward(make_member: Any) -> None:
    alice, bob = make_member("alice", steward=True), make_member("bob", steward=True)
    carol = make_member("carol")
    terms = {t["handle"]: t["id"] for t in alice.get("/stewards").json["items"]}
    assert_problem(carol.post(f"/stewards/{terms['alice']}/end"), 403, "forbidden")
    assert bob.post(f"/stewards/{terms['alice']}/end").status_code == 204
    assert alice.get("/me").json["is_steward"] is False
    assert_problem(bob.post(f"/stewards/{terms['alice']}/end"), 409, "invalid-state")
    assert bob.post(f"/stewards/{terms['bob']}/end").status_code == 204
    assert bob.get("/stewards").json["items"] == []
    assert_problem(bob.post("/stewards/00000000-0000-4000-8000-000000000000/end"), 404, "not-found")
