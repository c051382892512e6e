"""A browser-like test client for the web pages: it keeps the session and sends CSRF tokens."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from node.db import session_scope
from node.members import service as members
from tests.conftest import PASSWORD

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
CELL = "881f1d4815fffff"


class Pages:
    """One person's browser session on the node's pages."""

    def __init__(self, client: FlaskClient, handle: str = "") -> None:
        self.client = client
        self.handle = handle

    def get(self, path: str, **kw: Any) -> Any:
        return self.client.get(path, **kw)

    def token(self, path: str = "/login") -> str:
        """The CSRF token the forms of this session carry."""
        match = TOKEN.search(self.client.get(path).get_data(as_text=True))
        assert match, f"no form on {path}"
        return match.group(1)

    def post(
        self, path: str, data: dict[str, Any] | None = None, token_from: str = "/login", **kw: Any
    ) -> Any:
        """Submit a form as a browser would, with the session's token."""
        form = {"csrf_token": self.token(token_from), **(data or {})}
        return self.client.post(path, data=form, **kw)

    def login(self, email: str, password: str = PASSWORD) -> Any:
        return self.post("/login", {"email": email, "password": password})


def member_pages(app: Flask, handle: str, steward: bool = False) -> Pages:
    """A member created directly, logged in through the login form."""
    with session_scope(app) as db:
        members.create_member(db, handle, handle.title(), f"{handle}@example.org", PASSWORD)
        if steward:
            members.grant_steward(db, app.config["MUTUALAID"], None, handle, 30, "test")
    pages = Pages(app.test_client(), handle)
    response = pages.login(f"{handle}@example.org")
    assert response.status_code == 303, response.get_data(as_text=True)
    return pages


def text(response: Any) -> str:
    """The page's HTML as text, whitespace squeezed."""
    return re.sub(r"[\s\u202f\xa0]+", " ", response.get_data(as_text=True))


def location(response: Any) -> str:
    assert response.status_code in (302, 303), (response.status_code, text(response)[:500])
    return str(response.headers["Location"])


def need_form(**kw: Any) -> dict[str, Any]:
    """A valid need or offer form; keyword arguments replace fields."""
    form = {
        "title": "Rice for four",
        "category": "food",
        "quantity": "2",
        "unit": "kg",
        "urgency": "urgent",
        "area": CELL,
        "lifetime": "7",
    }
    form.update(kw)
    return form
