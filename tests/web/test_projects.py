"""Projects through the pages: start one, the working group, shifts, rotation, library, ledger, stories."""

from __future__ import annotations

import re
import uuid
from typing import Any

from sqlalchemy import select

from node.db import session_scope
from node.members.models import Member
from node.projects import ledger, service, tools
from node.projects.models import Direction, Project
from node.projects.schemas_library import ItemIn
from tests.web.pages import location, member_pages, text


def _start(pages: Any, **kw: Any) -> str:
    form = {"name": "Kitchen on Elm Street", "template": "community_kitchen", "description": "Sunday lunches"}
    form.update(kw)
    return location(pages.post("/projects", form, token_from="/projects"))


def test_start_a_project_and_take_shifts(app: Any) -> None:
    kim, lou = member_pages(app, "kim"), member_pages(app, "lou")
    path = _start(kim)
    page = text(kim.get(path))
    assert "Kitchen on Elm Street" in page and "@kim" in page and "Leave the working group" in page
    assert "Coming shifts" in page and "Take a place" in page
    assert "1 person in the working group" in text(lou.get("/projects"))
    assert location(lou.post(path + "/join", token_from=path)) == path
    answers = [
        lou.post(action, token_from=path)
        for action in re.findall(r'action="(/shifts/[0-9a-f-]{36}/signup)"', text(lou.get(path)))
    ]
    refused = [r for r in answers if r.status_code == 409]
    assert any(r.status_code == 303 for r in answers), [text(r)[-800:] for r in refused]
    assert all('<ul class="plain" lang="en">' in text(r) for r in refused)  # the rule that was in the way
    page = text(lou.get(path))
    assert "@lou" in page and "Give up my place" in page
    give_up = re.search(r'action="(/assignments/[0-9a-f-]{36}/give-up)"', page)
    assert give_up
    assert kim.post(give_up.group(1), token_from=path).status_code == 403
    assert location(lou.post(give_up.group(1), token_from=path)) == path
    filled = kim.post(path + "/rotation", token_from=path)
    assert location(filled) == path and "The rotation filled" in text(kim.get(path))
    assert location(lou.post(path + "/leave", token_from=path)) == path
    outsider = member_pages(app, "max")
    assert outsider.post(path + "/rotation", token_from=path).status_code == 403


def test_project_form_errors(app: Any) -> None:
    kim = member_pages(app, "kim")
    bad = kim.post("/projects", {"name": "", "template": ""}, token_from="/projects")
    assert bad.status_code == 422 and "Fill this in." in text(bad)


def test_library_hold_ledger_and_stories(app: Any) -> None:
    kim, lou = member_pages(app, "kim"), member_pages(app, "lou")
    path = _start(kim, name="Tool library", template="tool_library")
    project_id = uuid.UUID(path.rsplit("/", 1)[1])
    with session_scope(app) as db:
        project = db.get_one(Project, project_id)
        owner = db.scalars(select(Member).where(Member.handle == "kim")).one()
        tools.add_item(db, project, owner, ItemIn(name="Ladder", description="3 m"))
        ledger.record(db, project, owner, Direction.IN, "tools", 3, "item")
        assert service.membership(db, project, owner) is not None
    page = text(lou.get(path))
    assert "Ladder" in page and "on the shelf" in page
    assert "Ledger" not in page  # only the working group reads a private ledger
    kim_page = text(kim.get(path))
    assert "4 items" in kim_page  # the ladder, recorded when it was added, and three more
    hold = re.search(r'action="(/items/[0-9a-f-]{36}/hold)"', page)
    assert hold and location(lou.post(hold.group(1), token_from=path)) == path
    assert "You are on the list for Ladder." in text(lou.get(path))
    told = lou.post(
        "/stories",
        {"title": "Our first loan", "body": "The ladder fixed a gutter.", "visibility": "members"},
        token_from="/stories",
    )
    assert location(told).startswith("/stories")
    page = text(kim.get("/stories"))
    assert "Our first loan" in page and "@lou" in page
    short = lou.post("/stories", {"title": "x", "body": ""}, token_from="/stories")
    assert short.status_code == 422
