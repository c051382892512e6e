"""The inventory pages: add, browse, change."""

from __future__ import annotations

import re
from typing import Any

from tests.web.pages import location, member_pages, text


def test_add_browse_and_change_an_item(app: Any) -> None:
    alice, bob = member_pages(app, "alice"), member_pages(app, "bob")
    added = alice.post(
        "/inventory/new",
        {"kind": "tool", "name": "Ladder", "category": "tools", "description": "3 m", "available": "yes"},
        token_from="/inventory/new",
    )
    assert location(added) == "/inventory?mine=1"
    page = text(bob.get("/inventory"))
    assert "Ladder" in page and "@alice" in page and "Tool" in page
    assert "Ladder" not in text(bob.get("/inventory?kind=skill"))
    mine = text(alice.get("/inventory?mine=1"))
    found = re.search(r'href="(/inventory/[0-9a-f-]{36}/edit)"', mine)
    assert found, mine
    path = found.group(1)
    assert bob.get(path).status_code == 403
    saved = alice.post(path, {"kind": "tool", "name": "Long ladder", "description": ""}, token_from=path)
    assert location(saved) == "/inventory?mine=1"
    assert "Long ladder" not in text(bob.get("/inventory"))  # no longer available
    assert "not available now" in text(alice.get("/inventory?mine=1"))


def test_inventory_form_errors(app: Any) -> None:
    alice = member_pages(app, "alice")
    response = alice.post("/inventory/new", {"kind": "spaceship", "name": ""}, token_from="/inventory/new")
    assert response.status_code == 422
    page = text(response)
    assert "Choose one of the options." in page and "Fill this in." in page
