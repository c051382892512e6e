"""Shift swaps: asking someone in the working group to take one's place, or to trade places,
and answering such a request. A swap that breaks a rotation rule is refused with the rule."""

from __future__ import annotations

import uuid
from typing import Any

from flask import request
from flask_babel import gettext
from sqlalchemy import or_, select

from node.db import get_session, utcnow
from node.errors import Forbidden, Problem
from node.members.models import Member
from node.projects import schemas, shifts
from node.projects.models import Assignment, Project, ProjectMember, Shift, Swap, SwapStatus
from node.web import forms
from node.web.base import done, page_member, render, settings
from node.web.i18n import when
from node.web.projects import bp

# The service's field names and the form's.
FORM_FIELDS = {"exchange_id": "exchange"}


def _own_assignment(assignment_id: uuid.UUID, member: Member) -> Assignment:
    assignment = shifts.get_assignment(get_session(), assignment_id)
    if assignment.member_id != member.id:
        raise Forbidden("you can only offer your own place on a shift")
    return assignment


def _swap_page(assignment: Assignment, member: Member, values: dict[str, Any],
               errors: forms.FormErrors | None = None, status: int = 200) -> Any:
    db = get_session()
    shift = assignment.shift
    project = db.get_one(Project, shift.project_id)
    group = list(db.execute(
        select(Member.handle).join(ProjectMember, ProjectMember.member_id == Member.id)
        .where(ProjectMember.project_id == project.id, Member.id != member.id).order_by(Member.handle)
    ).scalars())
    places = db.execute(
        select(Assignment, Shift, Member.handle)
        .join(Shift, Shift.id == Assignment.shift_id).join(Member, Member.id == Assignment.member_id)
        .where(Shift.project_id == project.id, Shift.cancelled_at.is_(None), Shift.starts_at > utcnow(),
               Assignment.member_id != member.id)
        .order_by(Shift.starts_at, Member.handle).limit(60)
    ).all()
    exchanges = [(str(a.id), f"{s.role.name}, {when(s.starts_at)} · @{handle}") for a, s, handle in places]
    return render("projects/swap.html", status=status, assignment=assignment, shift=shift, project=project,
                  group=group, exchanges=exchanges, values=values, errors=errors)


@bp.get("/assignments/<uuid:assignment_id>/swap")
def swap_form(assignment_id: uuid.UUID) -> Any:
    """The form to ask someone to take one's place on a shift."""
    member = page_member()
    return _swap_page(_own_assignment(assignment_id, member), member, {})


@bp.post("/assignments/<uuid:assignment_id>/swap")
def propose_swap(assignment_id: uuid.UUID) -> Any:
    """Ask; refused at once, with the rule, if the swap would break the rotation rules."""
    member, db = page_member(), get_session()
    assignment = _own_assignment(assignment_id, member)
    values = forms.text(request.form, "to", "exchange", "note")
    data = {"assignment_id": assignment.id, "to": values.get("to", "").lstrip("@"),
            "exchange_id": values.get("exchange"), "note": values.get("note", "")}
    try:
        swap = shifts.propose_swap(db, settings(), member, forms.parse(schemas.SwapIn, data))
        db.commit()
    except forms.FormErrors as exc:
        return _swap_page(assignment, member, values, _renamed(exc), 422)
    except Problem as exc:
        db.rollback()
        errors = _renamed(forms.from_problem(exc))
        errors.message = gettext("This swap is not possible:")
        return _swap_page(assignment, member, values, errors, exc.status)
    other = db.get_one(Member, swap.to_member_id)
    return done(gettext("You asked @%(handle)s to take your place.", handle=other.handle),
                "web.projects.my_swaps")


def _renamed(errors: forms.FormErrors) -> forms.FormErrors:
    errors.fields = {FORM_FIELDS.get(k, k): v for k, v in errors.fields.items()}
    return errors


@bp.get("/me/swaps")
def my_swaps() -> Any:
    """Swaps asked of me and asked by me, newest first."""
    member, db = page_member(), get_session()
    rows = list(db.scalars(
        select(Swap).where(or_(Swap.from_member_id == member.id, Swap.to_member_id == member.id))
        .order_by(Swap.created_at.desc(), Swap.id).limit(40)
    ))
    places = {a.id: a for a in db.scalars(select(Assignment).where(
        Assignment.id.in_({s.assignment_id for s in rows} | {s.exchange_id for s in rows if s.exchange_id})))}
    people = {m.id: m.handle for m in db.scalars(select(Member).where(
        Member.id.in_({s.from_member_id for s in rows} | {s.to_member_id for s in rows})))}
    projects = {p.id: p for p in db.scalars(select(Project).where(
        Project.id.in_({a.shift.project_id for a in places.values()})))}
    return render("projects/swaps.html", rows=rows, places=places, people=people, projects=projects,
                  proposed=SwapStatus.PROPOSED, states=swap_labels())


@bp.post("/swaps/<uuid:swap_id>/<any(accept, decline, cancel):action>")
def answer_swap(swap_id: uuid.UUID, action: str) -> Any:
    """Accept or decline a swap asked of me (the rules are checked again), or cancel mine."""
    member, db = page_member(), get_session()
    swap = shifts.get_swap(db, swap_id, member)
    if action == "accept":
        shifts.accept_swap(db, settings(), swap, member)
        message = gettext("The swap is done: the shift is yours.")
    elif action == "decline":
        shifts.close_swap(db, swap, member, SwapStatus.DECLINED)
        message = gettext("You declined the swap.")
    else:
        shifts.close_swap(db, swap, member, SwapStatus.CANCELLED)
        message = gettext("You called off the swap.")
    db.commit()
    return done(message, "web.projects.my_swaps")


def swap_labels() -> dict[str, str]:
    """Words for a swap's state."""
    return {
        SwapStatus.PROPOSED: gettext("Waiting for an answer"),
        SwapStatus.ACCEPTED: gettext("Done"),
        SwapStatus.DECLINED: gettext("Declined"),
        SwapStatus.CANCELLED: gettext("Called off"),
    }

