"""Matches: the proposals a member made or received, and deciding on them."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Blueprint, request
from flask_babel import gettext

from node.db import get_session
from node.members.models import Member
from node.resources import schemas, service
from node.resources.member_data import member_matches
from node.resources.models import Match, MatchStatus
from node.web.base import done, page_member, render, stop

bp = Blueprint("matches", __name__)
WAITING = (MatchStatus.PROPOSED, MatchStatus.ACCEPTED)


@bp.get("/matches")
def index() -> Any:
    """The member's matches: those waiting on someone first, then the rest."""
    member = page_member()
    rows = sorted(member_matches(get_session(), member), key=lambda m: m.created_at, reverse=True)
    mine_to_answer = waiting_on(member, rows)
    current = [m for m in rows if m.status in WAITING and m not in mine_to_answer]
    past = [m for m in rows if m.status not in WAITING][:30]
    return render("matches/index.html", current=current, past=past, waiting_on_me=mine_to_answer)


def waiting_on(member: Member, matches: list[Match]) -> list[Match]:
    """Proposals the member has to answer."""
    return [m for m in matches if m.status == MatchStatus.PROPOSED and m.proposed_by_id != member.id]


@bp.get("/matches/<uuid:match_id>")
def detail(match_id: uuid.UUID) -> Any:
    """One match; once agreed, each side sees how to reach the other."""
    member, db = page_member(), get_session()
    match = service.get_match(db, match_id, member)
    mine_is_need = match.need.member_id == member.id
    other_id = match.offer.member_id if mine_is_need else match.need.member_id
    agreed = match.status in (MatchStatus.ACCEPTED, MatchStatus.FULFILLED)
    return render(
        "matches/detail.html",
        match=match,
        other=db.get(Member, other_id),
        show_contact=agreed,
        proposer=db.get(Member, match.proposed_by_id) if match.proposed_by_id else None,
        my_turn=match.status == MatchStatus.PROPOSED and match.proposed_by_id != member.id,
        i_proposed=match.proposed_by_id == member.id,
    )


@bp.post("/matches")
def propose() -> Any:
    """Propose a match between a need and an offer, one of them the member's own."""
    member, db = page_member(), get_session()
    try:
        data = schemas.MatchIn(
            need_id=uuid.UUID(request.form.get("need_id", "")),
            offer_id=uuid.UUID(request.form.get("offer_id", "")),
            note=(request.form.get("note") or "").strip()[:500],
        )
    except ValueError:
        stop(gettext("Choose a need and an offer."), 422)
    match = service.propose_match(db, member, data)
    db.commit()
    return done(
        gettext("Your proposal is sent. You will see here when they answer."),
        "web.matches.detail",
        match_id=match.id,
    )


@bp.post("/matches/<uuid:match_id>/<any(accept, decline, cancel, fulfil):action>")
def decide(match_id: uuid.UUID, action: str) -> Any:
    """Accept, decline, call off, or record as done."""
    member, db = page_member(), get_session()
    match = service.get_match(db, match_id, member)
    outcome = (request.form.get("outcome") or "").strip()[:500]
    steps = {
        "accept": (lambda: service.accept_match(db, match, member), gettext("You agreed. Now get in touch.")),
        "decline": (lambda: service.decline_match(db, match, member, outcome), gettext("You declined.")),
        "cancel": (lambda: service.cancel_match(db, match, member, outcome), gettext("It is called off.")),
        "fulfil": (
            lambda: service.fulfil_match(db, match, member, outcome),
            gettext("Marked as done. Thank you!"),
        ),
    }
    act, message = steps[action]
    act()  # a refusal is a Problem, shown as a page; nothing is committed then
    db.commit()
    return done(message, "web.matches.detail", match_id=match.id)
