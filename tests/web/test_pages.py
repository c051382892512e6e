"""Every page renders for a member in each language, small enough for a slow phone."""

from __future__ import annotations

from typing import Any

from tests.web.pages import location, member_pages, need_form

PAGE_BUDGET = 100 * 1024


def test_every_page_renders_small_in_each_language(app: Any) -> None:
    alice, bob = member_pages(app, "alice", steward=True), member_pages(app, "bob")
    for n in range(25):
        alice.post(
            "/needs/new",
            need_form(title=f"Need number {n}", description="word " * 200),
            token_from="/needs/new",
        )
    need = location(alice.post("/needs/new", need_form(), token_from="/needs/new"))
    offer = location(bob.post("/offers/new", need_form(title="Spare rice"), token_from="/offers/new"))
    match = location(
        bob.post(need + "/answer", {"title": "Rice", "quantity": "1", "unit": "kg"}, token_from=need)
    )
    pages = [
        "/",
        "/needs",
        "/offers",
        "/needs/new",
        "/offers/new",
        need,
        need + "/edit",
        offer,
        match,
        "/matches",
        "/inventory",
        "/inventory/new",
        "/me",
        "/me/erase",
        "/invite",
    ]
    for lang in ("en", "es"):
        for path in pages:
            response = alice.get(path, query_string={"lang": lang})
            assert response.status_code == 200, (path, response.status_code)
            assert response.mimetype == "text/html"
            assert len(response.data) < PAGE_BUDGET, (path, len(response.data))
            assert f'<html lang="{lang}">' in response.get_data(as_text=True)
    for asset in ("/static/site.css", "/static/site.js"):
        with alice.get(asset) as response:
            assert response.status_code == 200 and len(response.data) < 20 * 1024


def test_visitors_see_the_welcome_and_are_sent_to_log_in(client: Any) -> None:
    assert client.get("/").status_code == 200
    for path in ("/needs", "/offers/new", "/matches", "/inventory", "/me", "/me/export", "/invite"):
        response = client.get(path)
        assert response.status_code == 302, path
        assert response.headers["Location"].startswith("/login?next="), path
