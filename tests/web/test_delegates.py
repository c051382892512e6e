"""A delegate's pages: the mandate, taking it up with a key, report-backs, the council."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from node.assemblies.models import Minute
from node.db import session_scope
from tests.web import seeds
from tests.web.pages import location, member_pages, text


def test_a_delegate_sees_the_mandate_takes_it_up_and_reports_back(app: Any) -> None:
    dee, eli = member_pages(app, "dee"), member_pages(app, "eli")
    mandate_id = seeds.mandate(app, "dee")
    path = f"/mandates/{mandate_id}"
    listed = text(dee.get("/mandates"))
    assert "Your mandates" in listed and path in listed and "Waiting for the delegate's key" in listed
    page = text(dee.get(path))
    assert "Your mandate to" in page and "relief" in page and "housing" in page
    assert "On relief: <strong>For</strong>, “Share the generators”" in page
    assert "your own judgement" in page
    assert eli.post(path + "/key", token_from=path).status_code == 403
    issued = dee.post(path + "/key", token_from=path)
    assert issued.status_code == 200
    issued_page = text(issued)
    assert "shown only now" in issued_page and "<strong>Live</strong>" in issued_page
    assert "@dee to" in text(eli.get("/mandates"))
    assert eli.post(path + "/report", {"text": "Hi"}, token_from=path).status_code == 403
    empty = dee.post(path + "/report", {"text": " "}, token_from=path)
    assert empty.status_code == 422 and "Fill this in." in text(empty)
    sent = dee.post(path + "/report", {"text": "The council shares the generators."}, token_from=path)
    assert location(sent) == path
    assert "The council shares the generators." in text(eli.get(path))
    with session_scope(app) as db:
        assert db.scalars(select(Minute.text).where(Minute.kind == "report")).all() == [
            "The council shares the generators."
        ]


def test_council_pages_and_spanish(app: Any) -> None:
    dee = member_pages(app, "dee")
    page = text(dee.get("/council"))
    assert "Federation council" in page and "No open question." in page
    assert dee.get("/council/00000000-0000-0000-0000-000000000000").status_code == 404
    assert "Delegados" in text(dee.get("/mandates?lang=es"))
