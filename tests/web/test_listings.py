"""Needs, offers and matches through the pages: post, browse, answer, decide."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select

from node.db import session_scope
from node.resources.models import Listing, Match, MatchStatus
from tests.web.pages import CELL, Pages, location, member_pages, need_form, text


def _post(pages: Pages, plural: str = "needs", **kw: Any) -> str:
    response = pages.post(f"/{plural}/new", need_form(**kw), token_from=f"/{plural}/new")
    return location(response)


def _match_id(path: str) -> str:
    found = re.search(r"/matches/([0-9a-f-]{36})", path)
    assert found, path
    return found.group(1)


def test_post_a_need_and_find_it(app: Any) -> None:
    alice = member_pages(app, "alice")
    path = _post(alice, quantity="2.5", description="We are four")
    page = text(alice.get(path))
    assert "Your need is posted." in page and "Rice for four" in page and "2.5 kg" in page
    assert "We are four" in page and "Urgent" in page
    bob = member_pages(app, "bob")
    listed = text(bob.get("/needs"))
    assert "Rice for four" in listed and "@alice" in listed and "1 found" in listed
    assert "Rice for four" not in text(bob.get("/needs?category=tools"))
    assert "Rice for four" not in text(bob.get("/needs?urgency=routine"))
    assert "Rice for four" in text(bob.get("/needs?urgency=urgent&category=food"))
    assert "Rice for four" not in text(bob.get("/offers"))
    assert "Rice for four" in text(alice.get("/needs?mine=1"))
    assert "Rice for four" not in text(bob.get("/needs?mine=1"))


def test_new_form_remembers_the_last_area(app_factory: Any) -> None:
    app = app_factory(default_area_cell=CELL)
    alice = member_pages(app, "alice")
    assert f'value="{CELL}"' in text(alice.get("/offers/new"))


def test_position_becomes_a_coarse_area(app: Any) -> None:
    alice = member_pages(app, "alice")
    path = _post(alice, area="52.5200, 13.4050")
    with session_scope(app) as db:
        listing = db.scalars(select(Listing)).one()
        assert listing.h3_cell.startswith("88") and path.endswith(str(listing.id))


def test_bad_form_is_shown_again_with_reasons(app: Any) -> None:
    alice = member_pages(app, "alice")
    response = alice.post(
        "/needs/new", need_form(title="", quantity="-1", area="nowhere"), token_from="/needs/new"
    )
    assert response.status_code == 422
    page = text(response)
    assert 'id="error-summary"' in page and 'href="#f-title"' in page
    assert "Fill this in." in page and "Write a number greater than 0." in page
    assert "This is not a place we know." in page
    unknown = alice.post("/needs/new", need_form(category="nonsense"), token_from="/needs/new")
    assert unknown.status_code == 422 and "unknown category" in text(unknown)


def test_edit_and_withdraw_own_need_only(app: Any) -> None:
    alice, bob = member_pages(app, "alice"), member_pages(app, "bob")
    path = _post(alice)
    assert alice.get(path + "/edit").status_code == 200
    saved = alice.post(
        path + "/edit", need_form(title="Rice for five", quantity="3"), token_from=path + "/edit"
    )
    assert location(saved) == path
    assert "Rice for five" in text(alice.get(path))
    assert bob.get(path + "/edit").status_code == 403
    assert bob.post(path + "/withdraw", token_from=path).status_code == 403
    assert location(alice.post(path + "/withdraw", token_from=path)) == path
    assert "Withdrawn" in text(alice.get(path))
    assert alice.post(path + "/withdraw", token_from=path).status_code == 409


def test_unknown_listing_is_a_plain_404_page(app: Any) -> None:
    alice = member_pages(app, "alice")
    response = alice.get("/needs/00000000-0000-0000-0000-000000000000")
    assert response.status_code == 404 and response.mimetype == "text/html"
    assert "We could not find this." in text(response)


def test_answering_a_need_proposes_a_match_and_agreeing_shows_contacts(app: Any) -> None:
    alice, bob = member_pages(app, "alice"), member_pages(app, "bob")
    need = _post(alice)
    assert "Can you help?" in text(bob.get(need))
    answered = bob.post(
        need + "/answer",
        {"title": "Spare rice", "quantity": "5", "unit": "kg", "note": "Tuesday evening"},
        token_from=need,
    )
    match = location(answered)
    page = text(bob.get(match))
    assert "Waiting for @alice to answer." in page and "alice@example.org" not in page
    assert "Tuesday evening" in page
    home = text(alice.get("/"))
    assert "1 proposal waits for your answer" in home
    assert "Waiting for your answer" in text(alice.get("/matches"))
    assert bob.post(match + "/accept", token_from=match).status_code == 403
    assert location(alice.post(match + "/accept", token_from=match)) == match
    agreed = text(alice.get(match))
    assert "Agreed" in agreed and "bob@example.org" in agreed
    assert "alice@example.org" in text(bob.get(match))
    done = bob.post(match + "/fulfil", {"outcome": "Delivered"}, token_from=match)
    assert location(done) == match
    assert "Delivered" in text(alice.get(match))
    with session_scope(app) as db:
        assert db.scalars(select(Match)).one().status == MatchStatus.FULFILLED


def test_answer_with_an_existing_offer_and_decline(app: Any) -> None:
    alice, bob = member_pages(app, "alice"), member_pages(app, "bob")
    need = _post(alice)
    offer = _post(bob, "offers", title="Rice sack", urgency="routine")
    offer_id = offer.rsplit("/", 1)[1]
    page = text(bob.get(need))
    assert f'value="{offer_id}"' in page and "Rice sack" in page
    match = location(bob.post(need + "/answer", {"mine": offer_id}, token_from=need))
    declined = alice.post(match + "/decline", token_from=match)
    assert location(declined) == match
    assert "Declined" in text(bob.get(match))
    with session_scope(app) as db:
        assert len(db.scalars(select(Listing)).all()) == 2


def test_suggestions_let_the_poster_propose_and_the_proposer_cancel(app: Any) -> None:
    alice, bob = member_pages(app, "alice"), member_pages(app, "bob")
    need = _post(alice)
    offer = _post(bob, "offers", title="Rice sack", urgency="routine")
    page = text(alice.get(need))
    assert "Offers that might help" in page and "Rice sack" in page and "nearby" in page
    proposed = alice.post(
        "/matches", {"need_id": need.rsplit("/", 1)[1], "offer_id": offer.rsplit("/", 1)[1]}, token_from=need
    )
    match = location(proposed)
    assert _match_id(match)
    assert "Proposals" in text(alice.get(need))
    cancelled = alice.post(match + "/cancel", token_from=match)
    assert location(cancelled) == match
    assert "Called off" in text(bob.get(match))


def test_bad_answers_are_refused_in_plain_words(app: Any) -> None:
    alice, bob = member_pages(app, "alice"), member_pages(app, "bob")
    need = _post(alice)
    empty = bob.post(need + "/answer", {"title": "", "quantity": "1", "unit": "kg"}, token_from=need)
    assert empty.status_code == 422 and "Fill this in." in text(empty)
    garbled = bob.post(need + "/answer", {"mine": "not-an-id"}, token_from=need)
    assert garbled.status_code == 422
    bad_match = bob.post("/matches", {"need_id": "x", "offer_id": "y"}, token_from=need)
    assert bad_match.status_code == 422


def test_strangers_cannot_see_a_match(app: Any) -> None:
    alice, bob, cy = member_pages(app, "alice"), member_pages(app, "bob"), member_pages(app, "cyd")
    need = _post(alice)
    match = location(
        bob.post(need + "/answer", {"title": "Rice", "quantity": "1", "unit": "kg"}, token_from=need)
    )
    assert cy.get(match).status_code == 403
    assert cy.post(match + "/accept", token_from=need).status_code == 403
