"""Joining, logging in and out, and a member's own data through the pages."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from node.db import session_scope
from node.members.models import Member
from node.resources.models import Listing, ListingStatus
from tests.conftest import PASSWORD
from tests.web.pages import Pages, location, member_pages, need_form, text


def _join_form(handle: str = "newbie", **kw: Any) -> dict[str, Any]:
    form = {
        "display_name": "New Bie",
        "handle": handle,
        "email": f"{handle}@example.org",
        "password": "a long enough password",
    }
    form.update(kw)
    return form


def test_open_join_logs_in_and_welcomes(app: Any) -> None:
    pages = Pages(app.test_client())
    assert pages.get("/join").status_code == 200
    response = pages.post("/join", _join_form(phone="+34 600 000 000"), token_from="/join")
    assert location(response) == "/"
    home = text(pages.get("/"))
    assert "Welcome, New Bie" in home and "Hello, New Bie" in home


def test_join_explains_each_field_at_fault(app: Any) -> None:
    pages = Pages(app.test_client())
    response = pages.post(
        "/join", _join_form(handle="No Spaces!", email="nope", password="short"), token_from="/join"
    )
    assert response.status_code == 422
    page = text(response)
    assert 'aria-invalid="true"' in page and 'id="e-handle"' in page
    assert "small letters, digits and _ only" in page
    assert "Write a full email address" in page
    assert "Too short: at least 10 characters." in page
    assert 'value="newbie' not in page and 'value="No Spaces!"' in page


def test_join_refuses_a_taken_name_in_plain_words(app: Any) -> None:
    member_pages(app, "taken")
    response = Pages(app.test_client()).post("/join", _join_form(handle="taken"), token_from="/join")
    assert response.status_code == 422
    assert "Someone already uses this name" in text(response)


def test_invite_only_node_needs_the_invitation_link(app_factory: Any) -> None:
    app = app_factory(join_policy="invite")
    alice = member_pages(app, "alice")
    made = text(alice.post("/invite", {"note": "for Bo"}, token_from="/invite"))
    link = made.split('class="break" href="', 1)[1].split('"', 1)[0]
    assert link.startswith("http://node.test/join?invitation=")
    assert "for Bo" in made
    stranger = Pages(app.test_client())
    assert "only to people with an invitation link" in text(stranger.get("/join"))
    refused = stranger.post("/join", _join_form("stranger"), token_from="/join")
    assert refused.status_code == 422 and "You need an invitation link" in text(refused)
    path = link.removeprefix("http://node.test")
    bo = Pages(app.test_client())
    form_page = text(bo.get(path))
    token = path.split("=", 1)[1]
    assert f'name="invitation" value="{token}"' in form_page
    joined = bo.post("/join", _join_form("bodil", invitation=token), token_from=path)
    assert location(joined) == "/"
    again = Pages(app.test_client()).post("/join", _join_form("third", invitation=token), token_from=path)
    assert again.status_code == 422 and "already used" in text(again)


def test_login_failure_says_so_and_next_is_kept_local(app: Any) -> None:
    member_pages(app, "alice")
    pages = Pages(app.test_client())
    wrong = pages.login("alice@example.org", "not the password")
    assert wrong.status_code == 401 and "Wrong email or password." in text(wrong)
    assert location(pages.get("/needs")).startswith("/login?next=/needs")
    ok = pages.post("/login", {"email": "alice@example.org", "password": PASSWORD, "next": "/offers"})
    assert location(ok) == "/offers"
    pages.post("/logout", token_from="/")
    elsewhere = pages.post(
        "/login", {"email": "alice@example.org", "password": PASSWORD, "next": "https://evil.example/"}
    )
    assert location(elsewhere) == "/"


def test_logout_ends_the_session(app: Any) -> None:
    alice = member_pages(app, "alice")
    assert alice.get("/me").status_code == 200
    assert location(alice.post("/logout", token_from="/me")) == "/"
    assert location(alice.get("/me")).startswith("/login")


def test_profile_edit_and_password_change(app: Any) -> None:
    alice = member_pages(app, "alice")
    saved = alice.post(
        "/me",
        {
            "display_name": "Alice A.",
            "email": "alice@example.org",
            "phone": "",
            "languages": "en, es",
            "bio": "Gardener",
        },
        token_from="/me",
    )
    assert location(saved) == "/me"
    page = text(alice.get("/me"))
    assert 'value="Alice A."' in page and "Gardener" in page
    bad = alice.post(
        "/me/password", {"current_password": "wrong", "new_password": "another long one"}, token_from="/me"
    )
    assert bad.status_code == 422 and "This is not right" in text(bad)
    good = alice.post(
        "/me/password", {"current_password": PASSWORD, "new_password": "another long one"}, token_from="/me"
    )
    assert location(good) == "/me"
    assert alice.get("/me").status_code == 200  # this device stays logged in
    assert Pages(app.test_client()).login("alice@example.org", "another long one").status_code == 303


def test_export_downloads_everything(app: Any) -> None:
    alice = member_pages(app, "alice")
    alice.post("/needs/new", need_form(), token_from="/needs/new")
    response = alice.get("/me/export")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == 'attachment; filename="mutualaid-alice.json"'
    data = json.loads(response.get_data(as_text=True))
    assert data["format"] == "mutualaid-member-export"
    assert data["profile"]["handle"] == "alice"
    assert [n["title"] for n in data["needs"]] == ["Rice for four"]


def test_erase_needs_the_password_and_the_tick(app: Any) -> None:
    alice = member_pages(app, "alice")
    alice.post("/needs/new", need_form(), token_from="/needs/new")
    unticked = alice.post("/me/erase", {"password": PASSWORD}, token_from="/me/erase")
    assert unticked.status_code == 422 and "Tick the box" in text(unticked)
    wrong = alice.post("/me/erase", {"password": "nope", "confirm": "yes"}, token_from="/me/erase")
    assert wrong.status_code == 422
    erased = alice.post("/me/erase", {"password": PASSWORD, "confirm": "yes"}, token_from="/me/erase")
    assert location(erased) == "/"
    assert "erased" in text(alice.get("/"))
    with session_scope(app) as db:
        assert db.scalar(select(Member).where(Member.handle == "alice")) is None
        assert db.scalars(select(Listing).where(Listing.status == ListingStatus.OPEN)).all() == []


def test_login_form_is_rate_limited(app_factory: Any) -> None:
    app = app_factory(login_rate_limit="3 per minute")
    pages = Pages(app.test_client())
    token = pages.token("/login")
    codes = [
        pages.client.post(
            "/login", data={"csrf_token": token, "email": "x@example.org", "password": "x"}
        ).status_code
        for _ in range(4)
    ]
    assert codes == [401, 401, 401, 429]
    limited = pages.client.post(
        "/login", data={"csrf_token": token, "email": "x@example.org", "password": "x"}
    )
    assert limited.mimetype == "text/html" and "Too many tries" in text(limited)
    assert pages.get("/login").status_code == 200  # reading the form is never limited
