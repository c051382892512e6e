"""Logging in and out, the login rate limit, API tokens and password changes."""

from __future__ import annotations

from typing import Any

from flask import Flask

from tests.conftest import PASSWORD
from tests.node.factories import assert_problem

NEW_PASSWORD = "an even better passphrase"


def login(client: Any, handle: str, password: str = PASSWORD) -> Any:
    return client.post("/api/v1/auth/login", json={"email": f"{handle}@example.org", "password": password})


def test_login_starts_a_session_and_logout_ends_it(app: Flask, make_member: Any) -> None:
    make_member("alice")
    client = app.test_client()
    assert_problem(client.get("/api/v1/me"), 401, "unauthenticated")
    r = login(client, "alice")
    assert r.status_code == 200 and r.json["handle"] == "alice"
    assert client.get("/api/v1/me").json["handle"] == "alice"
    assert client.post("/api/v1/auth/logout").status_code == 204
    assert_problem(client.get("/api/v1/me"), 401, "unauthenticated")


def test_login_is_case_blind_on_email_and_refuses_wrong_passwords(app: Flask, make_member: Any) -> None:
    make_member("alice")
    client = app.test_client()
    r = client.post("/api/v1/auth/login", json={"email": "ALICE@example.org", "password": PASSWORD})
    assert r.status_code == 200
    assert_problem(login(app.test_client(), "alice", "wrong password"), 401, "unauthenticated")
    assert_problem(login(app.test_client(), "nobody"), 401, "unauthenticated")


def test_login_is_rate_limited_with_a_problem(app_factory: Any, make_member: Any) -> None:
    app = app_factory(login_rate_limit="3 per minute")
    make_member("alice", target=app)
    client = app.test_client()
    for _ in range(3):
        assert_problem(login(client, "alice", "wrong password"), 401, "unauthenticated")
    r = login(client, "alice")
    assert_problem(r, 429, "rate-limited")
    assert r.headers.get("Retry-After")


def test_token_is_shown_once_listed_without_secret_and_revocable(app: Flask, make_member: Any) -> None:
    alice = make_member("alice")
    r = alice.post("/me/tokens", json={"name": "my script"})
    assert r.status_code == 201, r.json
    secret = r.json["token"]
    assert secret.startswith("ma_") and r.json["prefix"] == secret[:10]
    listed = alice.get("/me/tokens").json
    assert [t["name"] for t in listed["items"]] == ["tests", "my script"]
    assert all("token" not in t for t in listed["items"])
    assert secret not in str(listed)
    script = app.test_client()
    headers = {"Authorization": f"Bearer {secret}"}
    assert script.get("/api/v1/me", headers=headers).json["handle"] == "alice"
    assert alice.delete(f"/me/tokens/{r.json['id']}").status_code == 204
    revoked = script.get("/api/v1/me", headers=headers)
    body = assert_problem(revoked, 401, "unauthenticated")
    assert "bearer token" in body["detail"]
    listed = alice.get("/me/tokens").json["items"]
    assert [t["revoked_at"] is not None for t in listed] == [False, True]


def test_last_used_is_recorded(make_member: Any) -> None:
    alice = make_member("alice")
    assert alice.get("/me/tokens").json["items"][0]["last_used_at"] is not None


def test_tokens_of_others_cannot_be_revoked(make_member: Any) -> None:
    alice, bob = make_member("alice"), make_member("bob")
    bob_token = bob.get("/me/tokens").json["items"][0]["id"]
    assert_problem(alice.delete(f"/me/tokens/{bob_token}"), 404, "not-found")
    assert bob.get("/me").status_code == 200


def test_garbage_bearer_tokens_are_refused(app: Flask) -> None:
    client = app.test_client()
    for value in ("Bearer ma_notatoken", "Bearer other", "Basic abc", "Bearer "):
        assert_problem(client.get("/api/v1/me", headers={"Authorization": value}), 401, "unauthenticated")


def test_password_change_ends_other_sessions(app: Flask, make_member: Any) -> None:
    make_member("alice")
    laptop, phone = app.test_client(), app.test_client()
    login(laptop, "alice")
    login(phone, "alice")
    r = laptop.post("/api/v1/me/password", json={"current_password": PASSWORD, "new_password": NEW_PASSWORD})
    assert r.status_code == 204
    assert laptop.get("/api/v1/me").status_code == 200
    assert_problem(phone.get("/api/v1/me"), 401, "unauthenticated")
    assert login(app.test_client(), "alice").status_code == 401
    assert login(app.test_client(), "alice", NEW_PASSWORD).status_code == 200


def test_password_change_needs_the_current_password(app: Flask, make_member: Any) -> None:
    alice = make_member("alice")
    r = alice.post("/me/password", json={"current_password": "nope", "new_password": NEW_PASSWORD})
    assert_problem(r, 403, "forbidden", "current_password")
    r = alice.post("/me/password", json={"current_password": PASSWORD, "new_password": "short"})
    assert_problem(r, 422, "validation", "new_password")
    assert login(app.test_client(), "alice").status_code == 200
