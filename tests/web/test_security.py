"""CSRF on every form, the content security policy, the session cookie and safe redirects."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask

from node.web.extend import PAGE_BLUEPRINTS
from tests.web.pages import Pages, member_pages, need_form, text

UUID = "00000000-0000-0000-0000-000000000000"


def _web_posts(app: Flask) -> list[str]:
    """Every URL of the pages that accepts a form, with placeholder arguments."""
    paths = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint.split(".", 1)[0] in PAGE_BLUEPRINTS and "POST" in (rule.methods or ()):
            path = re.sub(r"<uuid:[a-z_]+>", UUID, rule.rule)
            path = re.sub(r"<any\(([a-z]+)[^>]*\):[a-z_]+>", r"\1", path)
            path = re.sub(r"<[^>]+>", "x", path)
            paths.append(path)
    return sorted(set(paths))


def test_every_form_refuses_a_missing_or_wrong_token(app: Any) -> None:
    alice = member_pages(app, "alice")
    paths = _web_posts(app)
    assert {
        "/login",
        "/join",
        "/logout",
        "/needs/new",
        "/me/erase",
        "/matches",
        f"/mandates/{UUID}/report",
    } <= set(paths)
    for path in paths:
        missing = alice.client.post(path, data={"title": "x"})
        assert missing.status_code == 400, path
        assert "This form was open too long" in text(missing), path
        wrong = alice.client.post(path, data={"csrf_token": "forged", "title": "x"})
        assert wrong.status_code == 400, path
    assert alice.get("/me").status_code == 200  # still logged in: /logout refused too


def test_token_is_per_session_and_renewed_at_login(app: Any) -> None:
    member_pages(app, "alice")
    visitor = Pages(app.test_client())
    before = visitor.token("/login")
    visitor.post("/login", {"email": "alice@example.org", "password": "correct horse battery staple"})
    after = visitor.token("/needs/new")
    assert before != after
    other = member_pages(app, "bob")
    stolen = other.client.post("/needs/new", data={"csrf_token": after, **need_form()})
    assert stolen.status_code == 400


def test_pages_carry_a_strict_content_security_policy(app: Any) -> None:
    alice = member_pages(app, "alice")
    for path in ("/", "/login", "/needs", "/me"):
        response = alice.get(path)
        policy = response.headers["Content-Security-Policy"]
        assert "default-src 'none'" in policy and "script-src 'self'" in policy, path
        assert "frame-ancestors 'none'" in policy and "form-action 'self'" in policy
        assert "unsafe-inline" not in policy
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "same-origin"
        assert response.headers["Cache-Control"] == "no-store"
    page = alice.get("/").get_data(as_text=True)
    assert "<style" not in page and " style=" not in page and "onclick" not in page
    assert not re.search(r"<script(?![^>]*\bsrc=)", page)  # no inline script
    assert not re.search(r'(src|href)="(https?:)?//', page)  # nothing from elsewhere


def test_session_cookie_is_httponly_and_lax(app: Any) -> None:
    member_pages(app, "alice")
    response = Pages(app.test_client()).post(
        "/login", {"email": "alice@example.org", "password": "correct horse battery staple"}
    )
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_https_node_sends_secure_host_only_cookies_and_hsts(app_factory: Any) -> None:
    app = app_factory(public_url="https://node.test")
    member_pages(app, "alice")
    client = app.test_client()
    pages = Pages(client)
    response = pages.post(
        "/login", {"email": "alice@example.org", "password": "correct horse battery staple"}
    )
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("__Host-session=") and "Secure" in cookie and "Path=/" in cookie
    assert "max-age" in response.headers["Strict-Transport-Security"]


def test_api_documentation_style_carries_the_policy_nonce(client: Any) -> None:
    response = client.get("/api/v1/docs")
    assert response.status_code == 200
    nonce = re.search(r"'nonce-([^']+)'", response.headers["Content-Security-Policy"])
    assert nonce and f'<style nonce="{nonce.group(1)}">' in response.get_data(as_text=True)
