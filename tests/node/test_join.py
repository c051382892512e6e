"""Joining a node: open join, invitations (single use, expiry) and unique handles."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from node.db import session_scope, utcnow
from node.members import service
from node.members.models import Invitation, Member
from tests.node.factories import assert_problem, set_columns

PASSWORD = "a long enough password"


def joiner(handle: str = "newbie", **kw: Any) -> dict[str, Any]:
    body = {
        "handle": handle,
        "display_name": handle.title(),
        "email": f"{handle}@example.org",
        "password": PASSWORD,
    }
    body.update(kw)
    return body


def test_open_join_logs_the_new_member_in(app_factory: Any) -> None:
    client = app_factory(join_policy="open").test_client()
    r = client.post("/api/v1/join", json=joiner(phone="+49 30 1234567"))
    assert r.status_code == 201, r.json
    assert r.json["handle"] == "newbie"
    assert r.json["email"] == "newbie@example.org"
    assert "password" not in r.json and "password_hash" not in r.json
    me = client.get("/api/v1/me")
    assert me.status_code == 200 and me.json["handle"] == "newbie"


def test_join_keeps_email_lowercase_and_refuses_duplicates(app_factory: Any) -> None:
    client = app_factory(join_policy="open").test_client()
    assert client.post("/api/v1/join", json=joiner(email="Mixed@Example.org")).status_code == 201
    r = client.post("/api/v1/join", json=joiner("other", email="mixed@example.ORG"))
    assert_problem(r, 409, "conflict", "email")
    r = client.post("/api/v1/join", json=joiner("newbie", email="fresh@example.org"))
    assert_problem(r, 409, "conflict", "handle")


def test_invite_only_node_refuses_join_without_invitation(app_factory: Any) -> None:
    client = app_factory(join_policy="invite").test_client()
    r = client.post("/api/v1/join", json=joiner())
    assert_problem(r, 403, "forbidden", "invitation")


def _invite(app: Any) -> str:
    with session_scope(app) as db:
        _, token = service.create_invitation(db, app.config["MUTUALAID"], None, "for a neighbour")
    return token


def test_invitation_lets_one_person_join_once(app_factory: Any) -> None:
    app = app_factory(join_policy="invite")
    token = _invite(app)
    first = app.test_client().post("/api/v1/join", json=joiner("first", invitation=token))
    assert first.status_code == 201, first.json
    second = app.test_client().post("/api/v1/join", json=joiner("second", invitation=token))
    body = assert_problem(second, 422, "validation", "invitation")
    assert "already used" in body["errors"][0]["reason"]
    with session_scope(app) as db:
        invitation = db.scalars(select(Invitation)).one()
        member = db.scalar(select(Member).where(Member.handle == "first"))
        assert member is not None and invitation.used_by_id == member.id
        assert db.scalar(select(Member).where(Member.handle == "second")) is None


def test_expired_invitation_is_refused(app_factory: Any) -> None:
    app = app_factory(join_policy="invite")
    token = _invite(app)
    with session_scope(app) as db:
        invitation_id = db.scalars(select(Invitation.id)).one()
    set_columns(app, Invitation, invitation_id, expires_at=utcnow() - timedelta(seconds=1))
    r = app.test_client().post("/api/v1/join", json=joiner(invitation=token))
    body = assert_problem(r, 422, "validation", "invitation")
    assert "expired" in body["errors"][0]["reason"]


def test_unknown_invitation_is_refused(app_factory: Any) -> None:
    app = app_factory(join_policy="invite")
    r = app.test_client().post("/api/v1/join", json=joiner(invitation="not-a-real-invitation"))
    body = assert_problem(r, 422, "validation", "invitation")
    assert "unknown" in body["errors"][0]["reason"]


def test_members_invite_through_the_api(app_factory: Any, make_member: Any) -> None:
    app = app_factory(join_policy="invite")
    alice = make_member("alice", target=app)
    r = alice.post("/invitations", json={"note": "for Bo"})
    assert r.status_code == 201, r.json
    assert r.json["url"] == f"http://node.test/join?invitation={r.json['token']}"
    listed = alice.get("/invitations").json
    assert [i["note"] for i in listed["items"]] == ["for Bo"]
    assert "token" not in listed["items"][0]
    joined = app.test_client().post("/api/v1/join", json=joiner("bodil", invitation=r.json["token"]))
    assert joined.status_code == 201, joined.json
    assert alice.get("/invitations").json["items"][0]["used_at"] is not None
