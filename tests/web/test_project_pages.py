"""Projects through the pages: shift swaps, lending and returning library items, holds and the
waitlist, and needs surveys answered by members and by neighbours through a link."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask
from sqlalchemy import func, select

from node.db import session_scope
from node.members.models import Member
from node.projects import shifts, tools
from node.projects.models import Assignment, AssignmentSource, Project, Role, Swap, SwapStatus
from node.projects.schemas import ShiftIn
from node.projects.schemas_library import ItemIn
from node.resources.models import Listing, ListingKind
from tests.web.pages import CELL, Pages, location, member_pages, text


def _start(pages: Pages, template: str, name: str) -> str:
    form = {"name": name, "template": template}
    return location(pages.post("/projects", form, token_from="/projects"))


def _project_id(path: str) -> uuid.UUID:
    return uuid.UUID(path.rsplit("/", 1)[1])


def _member_id(app: Flask, handle: str) -> uuid.UUID:
    with session_scope(app) as db:
        return db.scalars(select(Member.id).where(Member.handle == handle)).one()


def _coordinator_places(app: Flask, project_id: uuid.UUID, holders: list[str]) -> list[uuid.UUID]:
    """Coordinator shifts on the coming days, one a day, held by these members in turn."""
    base = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=1)
    places = []
    with session_scope(app) as db:
        project = db.get_one(Project, project_id)
        role = db.scalars(select(Role).where(Role.project_id == project.id, Role.name == "coordinator")).one()
        for day, handle in enumerate(holders):
            start = base + timedelta(days=day)
            shift = shifts.create_shift(db, project, ShiftIn(role_id=role.id, starts_at=start,
                                                             ends_at=start + timedelta(hours=2)))
            member_id = db.scalars(select(Member.id).where(Member.handle == handle)).one()
            place = Assignment(shift_id=shift.id, member_id=member_id, source=AssignmentSource.SIGNUP)
            db.add(place)
            db.flush()
            places.append(place.id)
    return places


def test_a_swap_that_breaks_the_term_limit_is_refused_with_the_rule(app: Flask) -> None:
    kim, lou, max_ = member_pages(app, "kim"), member_pages(app, "lou"), member_pages(app, "max")
    path = _start(kim, "community_kitchen", "Kitchen")
    for person in (lou, max_):
        assert location(person.post(path + "/join", token_from=path)) == path
    _first, _second, third = _coordinator_places(app, _project_id(path), ["lou", "lou", "kim"])
    form_path = f"/assignments/{third}/swap"
    page = text(kim.get(form_path))
    assert "Ask for a swap" in page and "@lou" in page and "@max" in page
    assert f'href="{form_path}"' in text(kim.get(path))
    assert lou.get(form_path).status_code == 403  # only one's own place

    refused = kim.post(form_path, {"to": "lou", "note": "Can you?"}, token_from=form_path)
    assert refused.status_code == 409
    page = text(refused)
    assert "This swap is not possible:" in page and "term_limit" in page and "the limit is 2" in page
    with session_scope(app) as db:
        assert db.scalar(select(func.count()).select_from(Swap)) == 0

    asked = kim.post(form_path, {"to": "max", "note": "Family visit"}, token_from=form_path)
    assert location(asked) == "/me/swaps"
    assert "You asked @max to take your place." in text(kim.get("/me/swaps"))
    page = text(max_.get("/me/swaps"))
    assert "@kim asks you" in page and "Family visit" in page and "Waiting for an answer" in page
    accept = re.search(r'action="(/swaps/[0-9a-f-]{36}/accept)"', page)
    assert accept and kim.post(accept.group(1), token_from="/me/swaps").status_code == 403
    assert location(max_.post(accept.group(1), token_from="/me/swaps")) == "/me/swaps"
    assert "The swap is done: the shift is yours." in text(max_.get("/me/swaps"))
    max_id = _member_id(app, "max")
    with session_scope(app) as db:
        place = db.get_one(Assignment, third)
        assert place.member_id == max_id and place.source is AssignmentSource.SWAP
        assert db.scalars(select(Swap.status)).one() is SwapStatus.ACCEPTED
    again = max_.post(accept.group(1), token_from="/me/swaps")
    assert again.status_code == 409 and "the swap is already accepted" in text(again)
    assert "Hecho" in text(kim.get("/me/swaps?lang=es"))


def test_a_swap_is_checked_again_when_accepted(app: Flask) -> None:
    kim, lou = member_pages(app, "kim"), member_pages(app, "lou")
    path = _start(kim, "community_kitchen", "Kitchen")
    assert location(lou.post(path + "/join", token_from=path)) == path
    first, _second, third = _coordinator_places(app, _project_id(path), ["kim", "lou", "kim"])
    form_path = f"/assignments/{third}/swap"
    assert location(kim.post(form_path, {"to": "lou"}, token_from=form_path)) == "/me/swaps"
    lou_id = _member_id(app, "lou")
    with session_scope(app) as db:  # meanwhile Lou takes the first shift too: a third term in a row
        db.get_one(Assignment, first).member_id = lou_id
    accept = re.search(r'action="(/swaps/[0-9a-f-]{36}/accept)"', text(lou.get("/me/swaps")))
    assert accept
    refused = lou.post(accept.group(1), token_from="/me/swaps")
    assert refused.status_code == 409 and "term_limit" in text(refused)
    decline = accept.group(1).replace("accept", "decline")
    assert location(lou.post(decline, token_from="/me/swaps")) == "/me/swaps"
    assert "Declined" in text(kim.get("/me/swaps"))


def _library(app: Flask, kim: Pages) -> tuple[str, str]:
    path = _start(kim, "tool_library", "Tools")
    with session_scope(app) as db:
        project = db.get_one(Project, _project_id(path))
        owner = db.scalars(select(Member).where(Member.handle == "kim")).one()
        item = tools.add_item(db, project, owner, ItemIn(name="Ladder", description="3 m"))
        return path, f"/items/{item.id}"


def test_borrow_return_and_the_waitlist(app: Flask) -> None:
    kim, lou, max_ = member_pages(app, "kim"), member_pages(app, "lou"), member_pages(app, "max")
    path, item = _library(app, kim)
    assert f'href="{item}"' in text(lou.get(path))
    page = text(lou.get(item))
    assert "Ladder" in page and "on the shelf" in page and "Borrow it" in page
    assert "Who borrows it" not in page  # lending to others is for the working group
    due = (datetime.now(UTC) + timedelta(days=7)).date().isoformat()
    too_late = (datetime.now(UTC) + timedelta(days=90)).date().isoformat()
    bad = lou.post(item + "/borrow", {"due": too_late}, token_from=item)
    assert bad.status_code == 422 and "must be in the next 28 days" in text(bad)
    assert location(lou.post(item + "/borrow", {"due": due}, token_from=item)) == item
    page = text(lou.get(item))
    assert "Ladder is yours until" in page and "You have it." in page and "It is back" in page

    taken = max_.post(item + "/borrow", {"due": due}, token_from=item)
    assert taken.status_code == 409 and "already lent" in text(taken)
    assert location(max_.post(item + "/hold", {"back": "item"}, token_from=item)) == item
    assert "You are number 1 of 1." in text(max_.get(item))
    again = max_.post(item + "/hold", {"back": "item"}, token_from=item)
    assert again.status_code == 409 and "you already hold this item" in text(again)
    mine = text(max_.get("/me/library"))
    assert "Waiting lists I am on" in mine and "You are number 1 in line." in mine
    assert "Ladder" in text(lou.get("/me/library"))

    loan = re.search(r'action="(/loans/[0-9a-f-]{36}/return)"', text(lou.get(item)))
    assert loan and max_.post(loan.group(1), {"condition": "worn"}, token_from=item).status_code == 403
    returned = lou.post(loan.group(1), {"condition": "worn", "note": "A rung is loose"}, token_from=item)
    assert location(returned) == item and "Ladder is back on the shelf." in text(lou.get(item))
    assert "Ready for you to collect" in text(max_.get("/me/library"))
    assert "Worn" in text(max_.get(item))
    # Lou is not first in line any more: the ladder waits for Max.
    held = lou.post(item + "/borrow", {"due": due}, token_from=item)
    assert held.status_code == 409 and "reserved for the first member on the waitlist" in text(held)
    assert "Borrow it" not in text(lou.get(item)) and "Lend it" in text(kim.get(item))
    cancel = re.search(r'action="(/holds/[0-9a-f-]{36}/cancel)"', text(max_.get("/me/library")))
    assert cancel and location(max_.post(cancel.group(1), token_from="/me/library")) == "/me/library"
    assert "You left the list for Ladder." in text(max_.get("/me/library"))


def test_the_working_group_lends_to_a_member(app: Flask) -> None:
    kim, lou = member_pages(app, "kim"), member_pages(app, "lou")
    _path, item = _library(app, kim)
    due = (datetime.now(UTC) + timedelta(days=3)).date().isoformat()
    assert "Who borrows it" in text(kim.get(item))
    unknown = kim.post(item + "/borrow", {"borrower": "@nobody", "due": due}, token_from=item)
    assert unknown.status_code == 422 and "no member with that handle" in text(unknown)
    assert lou.post(item + "/borrow", {"borrower": "kim", "due": due}, token_from=item).status_code == 403
    lent = kim.post(item + "/borrow", {"borrower": "@lou", "due": due}, token_from=item)
    assert location(lent) == item and "Ladder is lent to @lou." in text(kim.get(item))
    assert "@lou has it." in text(kim.get(item))
    assert "Lo que he tomado prestado" in text(lou.get("/me/library?lang=es"))


def _send(kim: Pages, path: str, **form: str) -> Any:
    surveys = path + "/surveys"
    fields = {"title": "What do you need?", "audience": "members", "ready": "yes"}
    fields.update(form)
    return kim.post(surveys, fields, token_from=surveys)


def test_members_answer_a_survey_and_their_needs_are_posted(app: Flask) -> None:
    kim, lou = member_pages(app, "kim"), member_pages(app, "lou")
    path = _start(kim, "community_kitchen", "Kitchen")
    page = text(kim.get(path + "/surveys"))
    assert "Send a survey" in page and "How many people in your household?" in page
    empty = _send(kim, path, ready="")
    assert empty.status_code == 422 and "Ask at least one question." in text(empty)
    assert "Send a survey" not in text(lou.get(path + "/surveys"))  # the working group sends them
    sent = _send(kim, path, q1_text="How hungry are you?", q1_type="scale", q1_required="yes")
    survey = location(sent)
    assert "The survey is sent to the members." in text(kim.get(survey))

    assert f'<form method="post" action="{survey}"' in text(lou.get(survey))
    wrong = lou.post(survey, {"a-people": "lots", "a-q1": "9", "a-needs": ["meals"]}, token_from=survey)
    page = text(wrong)
    assert wrong.status_code == 422 and "must be a number" in page and "from 1 to 5" in page
    assert 'checked' in page  # what was chosen stays chosen
    no_area = lou.post(survey, {"a-people": "3", "a-q1": "4", "a-needs": ["meals"]}, token_from=survey)
    assert no_area.status_code == 422 and "give your area" in text(no_area)
    answered = lou.post(survey, {"a-people": "3", "a-q1": "4", "a-needs": ["meals", "food"],
                                 "a-diet": "No pork", "area": CELL}, token_from=survey)
    assert location(answered) == survey
    page = text(lou.get(survey))
    assert "They became 2 needs" in page and "You answered this survey." in page
    assert "Answers so far" not in page  # results are for the working group
    with session_scope(app) as db:
        titles = set(db.scalars(select(Listing.title).where(Listing.kind == ListingKind.NEED)))
        assert titles == {"Hot meals", "Groceries"}
    results = text(kim.get(survey))
    assert "1 answers; 2 needs raised." in results and "No pork" in results and "Hot meals: 1" in results
    assert "Encuestas" in text(kim.get(path + "/surveys?lang=es"))


def test_neighbours_answer_through_the_link(app: Flask) -> None:
    kim = member_pages(app, "kim")
    path = _start(kim, "tool_library", "Tools")
    sent = _send(kim, path, audience="neighbours", title="Tools for the street")
    assert sent.status_code == 201
    link = re.search(r'href="https?://[^"/]+(/neighbours/surveys/[^"]+)"', text(sent))
    assert link, text(sent)[-1500:]
    neighbour = Pages(app.test_client())
    page = text(neighbour.get(link.group(1)))
    assert "Tools for the street" in page and "Tools to borrow" in page and "Log out" not in page
    assert f'<form method="post" action="{link.group(1)}"' in page
    wrong = neighbour.post(link.group(1), {"a-needs": ["spaceship"]}, token_from=link.group(1))
    assert wrong.status_code == 422 and "unknown options: spaceship" in text(wrong)
    done = neighbour.post(link.group(1), {"a-needs": ["tools"], "a-which": "A drill", "area": CELL},
                          token_from=link.group(1))
    assert done.status_code == 200 and "They became 1 needs" in text(done)
    assert neighbour.get("/neighbours/surveys/srv_nothing").status_code == 404
    survey = re.search(r'href="(/surveys/[0-9a-f-]{36})"', text(kim.get(path + "/surveys")))
    assert survey and "1 answers; 1 needs raised." in text(kim.get(survey.group(1)))


def test_neighbours_answers_are_rate_limited(app: Flask) -> None:
    kim = member_pages(app, "kim")
    path = _start(kim, "tool_library", "Tools")
    sent = _send(kim, path, audience="neighbours", ready="", q1_text="Which tools would you borrow?")
    link = re.search(r'href="https?://[^"/]+(/neighbours/surveys/[^"]+)"', text(sent))
    assert link
    # A fresh address of its own, so that counts kept in Redis by other tests do not mix in.
    address = "10." + ".".join(str(b) for b in uuid.uuid4().bytes[:3])
    neighbour = Pages(app.test_client())
    codes = [neighbour.post(link.group(1), {"a-q1": "A saw"}, token_from=link.group(1),
                            environ_overrides={"REMOTE_ADDR": address}).status_code for _ in range(21)]
    assert codes == [200] * 20 + [429]
    assert neighbour.get(link.group(1), environ_overrides={"REMOTE_ADDR": address}).status_code == 200


def test_a_new_term_limit_is_put_to_an_assembly_from_the_project_page(app: Flask) -> None:
    from node.assemblies import schemas as assembly_schemas
    from node.assemblies import service as assemblies
    from node.assemblies.methods import Stance
    from node.assemblies.models import Proposal

    kim = member_pages(app, "kim", steward=True)
    path = _start(kim, "community_kitchen", "Kitchen")
    page = text(kim.get(path))
    assert "Coordinating roles rotate" in page and "more than 2 terms in a row" in page
    assert "Propose another limit" not in page  # no assembly to decide it yet
    with session_scope(app) as db:
        steward = db.scalars(select(Member).where(Member.handle == "kim")).one()
        assembly = assemblies.create_assembly(
            db, steward, assembly_schemas.AssemblyIn(title="Street assembly"))
        assembly_id = str(assembly.id)
    assert "Propose another limit" in text(kim.get(path))
    bad = kim.post(path + "/term-limit", {"assembly": assembly_id, "limit": "0"}, token_from=path)
    assert bad.status_code == 422 and 'id="f-limit"' in text(bad) and 'aria-invalid="true"' in text(bad)
    form = {"assembly": assembly_id, "limit": "1", "reason": "Let more of us learn"}
    put = kim.post(path + "/term-limit", form, token_from=path)
    proposal_path = location(put)
    assert proposal_path.startswith("/proposals/")
    with session_scope(app) as db:
        proposal = db.get_one(Proposal, uuid.UUID(proposal_path.rsplit("/", 1)[1]))
        assert proposal.kind == "term_limit" and proposal.payload["limit"] == 1
        member = db.scalars(select(Member).where(Member.handle == "kim")).one()
        assemblies.cast_position(db, proposal, member, Stance.FOR)
        assemblies.close_proposal(db, proposal, member)
    page = text(kim.get(path))
    assert "more than 1 terms in a row" in page and "Decided by: Street assembly" in page
