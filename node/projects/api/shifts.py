"""Shifts, the fair rotation and how even its load is, swaps, and the calendar feed."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Response
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from node.api.operations import ApiBlueprint
from node.api.paging import Page, PageQuery, page_of, paginate
from node.db import get_session, utcnow
from node.errors import NotFound
from node.members.auth import require_member
from node.members.models import Member
from node.projects import calendar, schemas, service, shifts
from node.projects.api.common import handles, settings
from node.projects.models import Assignment, Shift, Swap, SwapStatus

bp = ApiBlueprint("shifts_api", __name__, tag="Shifts and rotation")


def shift_out(db: Session, shift: Shift) -> schemas.ShiftOut:
    """A shift with who holds its places."""
    rows = shifts.holders(db, shift)
    names = handles(db, {a.member_id for a in rows})
    return schemas.ShiftOut(
        id=shift.id, project_id=shift.project_id, role_id=shift.role_id, role=shift.role.name,
        coordinating=shift.role.coordinating, starts_at=shift.starts_at, ends_at=shift.ends_at,
        slots=shift.slots, open_places=max(0, shift.slots - len(rows)), location=shift.location,
        note=shift.note, cancelled=shift.cancelled_at is not None,
        holders=[schemas.HolderOut(assignment_id=a.id, handle=names.get(a.member_id, ""), source=a.source)
                 for a in rows],
    )


@bp.operation("/projects/<uuid:project_id>/shifts", "GET", "The project's coming shifts",
              query=schemas.ShiftQuery, response=Page[schemas.ShiftOut], problems=(404,))
def list_shifts(project_id: uuid.UUID, query: schemas.ShiftQuery) -> Any:
    db, member = get_session(), require_member()
    project = service.get_project(db, project_id)
    rows, total = paginate(db, shifts.shifts_query(project, query, member), query)
    return page_of([shift_out(db, r).model_dump(mode="json") for r in rows], total, query)


@bp.operation("/projects/<uuid:project_id>/shifts", "POST", "Add one shift", body=schemas.ShiftIn,
              response=schemas.ShiftOut, status=201, problems=(403, 404, 409))
def create_shift(project_id: uuid.UUID, body: schemas.ShiftIn) -> Any:
    db, member = get_session(), require_member()
    project = service.get_project(db, project_id)
    service.require_participant(db, project, member)
    shift = shifts.create_shift(db, project, body)
    db.commit()
    return shift_out(db, shift)


@bp.operation("/projects/<uuid:project_id>/series", "POST",
              "Add a weekly shift; its occurrences are created for the weeks ahead",
              body=schemas.SeriesIn, response=schemas.SeriesOut, status=201, problems=(403, 404, 409))
def create_series(project_id: uuid.UUID, body: schemas.SeriesIn) -> Any:
    db, member = get_session(), require_member()
    project = service.get_project(db, project_id)
    service.require_participant(db, project, member)
    series, created = shifts.create_series(db, settings(), project, body)
    db.commit()
    return schemas.SeriesOut(
        id=series.id, role_id=series.role_id, weekday=series.weekday, start_time=series.start_time,
        minutes=series.minutes, slots=series.slots, starts_on=series.starts_on, until=series.until,
        location=series.location, shifts_created=created,
    )


@bp.operation("/shifts/<uuid:shift_id>/cancel", "POST", "Call off a shift (its working group)",
              response=schemas.ShiftOut, problems=(403, 404, 409))
def cancel_shift(shift_id: uuid.UUID) -> Any:
    db, member = get_session(), require_member()
    shift = shifts.get_shift(db, shift_id)
    project = service.get_project(db, shift.project_id)
    service.require_participant(db, project, member)
    shifts.cancel_shift(db, project, shift)
    db.commit()
    return shift_out(db, shift)


@bp.operation("/shifts/<uuid:shift_id>/signup", "POST", "Take a place on a shift",
              response=schemas.ShiftOut, status=201, problems=(403, 404, 409))
def sign_up(shift_id: uuid.UUID) -> Any:
    db, member = get_session(), require_member()
    shift = shifts.get_shift(db, shift_id)
    project = service.get_project(db, shift.project_id)
    shifts.sign_up(db, settings(), project, shift, member)
    db.commit()
    return shift_out(db, shift)


@bp.operation("/me/shifts", "GET", "Your coming shifts in every project", query=PageQuery,
              response=Page[schemas.ShiftOut])
def my_shifts(query: PageQuery) -> Any:
    db, member = get_session(), require_member()
    stmt = (select(Shift).join(Assignment, Assignment.shift_id == Shift.id)
            .where(Assignment.member_id == member.id, Shift.cancelled_at.is_(None), Shift.ends_at >= utcnow())
            .order_by(Shift.starts_at, Shift.id))
    rows, total = paginate(db, stmt, query)
    return page_of([shift_out(db, r).model_dump(mode="json") for r in rows], total, query)


@bp.operation("/assignments/<uuid:assignment_id>", "DELETE", "Give up your place on a shift",
              status=204, problems=(403, 404, 409))
def give_up(assignment_id: uuid.UUID) -> Response:
    db, member = get_session(), require_member()
    shifts.give_up(db, shifts.get_assignment(db, assignment_id), member)
    db.commit()
    return Response(status=204)


def _load_out(db: Session, start: Any, end: Any, spread: Any, counts: dict[str, int]) -> schemas.LoadOut:
    names = handles(db, {uuid.UUID(k) for k in spread.hours})
    members = [schemas.MemberLoad(handle=names.get(uuid.UUID(k), ""), hours=v, shifts=counts.get(k, 0))
               for k, v in spread.hours.items()]
    members.sort(key=lambda m: (-m.hours, m.handle))
    return schemas.LoadOut(start=start, end=end, members=members, minimum=spread.minimum,
                           maximum=spread.maximum, mean=spread.mean, stddev=spread.stddev, gap=spread.gap)


@bp.operation("/projects/<uuid:project_id>/rotation", "POST",
              "Fill open places fairly by skills, availability and load; dry_run only shows the plan",
              body=schemas.RotationIn, response=schemas.RotationOut, problems=(403, 404, 409))
def run_rotation(project_id: uuid.UUID, body: schemas.RotationIn) -> Any:
    db, member = get_session(), require_member()
    project = service.get_project(db, project_id)
    service.require_participant(db, project, member)
    run = shifts.run_rotation(db, settings(), project, body.start, body.end, body.dry_run)
    names = handles(db, {uuid.UUID(p.member) for p in run.result.placements})
    placements = []
    for p in run.result.placements:
        shift = run.ctx.shifts[p.shift_id]
        placements.append(schemas.PlacementOut(
            shift_id=shift.id, role=shift.role.name, starts_at=shift.starts_at,
            handle=names.get(uuid.UUID(p.member), ""),
        ))
    unfilled = []
    for u in run.result.unfilled:
        shift = run.ctx.shifts[u.shift_id]
        unfilled.append(schemas.UnfilledOut(
            shift_id=shift.id, role=shift.role.name, starts_at=shift.starts_at, missing=u.missing,
            reason=u.reason,
        ))
    if body.dry_run:
        db.rollback()
    else:
        db.commit()
    start, end, spread, counts = shifts.load(db, settings(), project, None, None)
    if body.dry_run:
        spread = run.result.spread
    return schemas.RotationOut(dry_run=body.dry_run, placements=placements, unfilled=unfilled,
                               load=_load_out(db, start, end, spread, counts))


@bp.operation("/projects/<uuid:project_id>/load", "GET",
              "Hours per member of the rotation and how even they are (min, max, stddev, gap)",
              query=schemas.LoadQuery, response=schemas.LoadOut, problems=(404,))
def get_load(project_id: uuid.UUID, query: schemas.LoadQuery) -> Any:
    db = get_session()
    require_member()
    project = service.get_project(db, project_id)
    start, end, spread, counts = shifts.load(db, settings(), project, query.start, query.end)
    return _load_out(db, start, end, spread, counts)


# --- swaps ---------------------------------------------------------------------------------

def swap_out(db: Session, swap: Swap) -> schemas.SwapOut:
    assignment = db.get(Assignment, swap.assignment_id)
    exchange = db.get(Assignment, swap.exchange_id) if swap.exchange_id else None
    names = handles(db, {swap.from_member_id, swap.to_member_id})
    if assignment is None:
        raise NotFound("the place on the shift no longer exists")
    return schemas.SwapOut(
        id=swap.id, assignment_id=swap.assignment_id, exchange_id=swap.exchange_id,
        shift=shift_out(db, assignment.shift),
        exchange_shift=shift_out(db, exchange.shift) if exchange else None,
        from_handle=names.get(swap.from_member_id, ""), to_handle=names.get(swap.to_member_id, ""),
        status=swap.status, note=swap.note, created_at=swap.created_at, decided_at=swap.decided_at,
    )


@bp.operation("/swaps", "POST", "Ask a member to take your place on a shift, or to trade places",
              body=schemas.SwapIn, response=schemas.SwapOut, status=201, problems=(403, 404, 409))
def propose_swap(body: schemas.SwapIn) -> Any:
    db, member = get_session(), require_member()
    swap = shifts.propose_swap(db, settings(), member, body)
    db.commit()
    return swap_out(db, swap)


@bp.operation("/swaps", "GET", "Swaps you asked for or were asked", query=schemas.SwapQuery,
              response=Page[schemas.SwapOut])
def list_swaps(query: schemas.SwapQuery) -> Any:
    db, member = get_session(), require_member()
    stmt = select(Swap).where(or_(Swap.from_member_id == member.id, Swap.to_member_id == member.id))
    if query.status is not None:
        stmt = stmt.where(Swap.status == query.status)
    rows, total = paginate(db, stmt.order_by(Swap.created_at.desc(), Swap.id), query)
    return page_of([swap_out(db, r).model_dump(mode="json") for r in rows], total, query)


def _decide(swap_id: uuid.UUID, action: str) -> Any:
    db, member = get_session(), require_member()
    swap = shifts.get_swap(db, swap_id, member)
    if action == "accept":
        shifts.accept_swap(db, settings(), swap, member)
    else:
        shifts.close_swap(db, swap, member, SwapStatus(action))
    db.commit()
    return swap_out(db, swap)


@bp.operation("/swaps/<uuid:swap_id>/accept", "POST", "Accept a swap you were asked (rules checked again)",
              response=schemas.SwapOut, problems=(403, 404, 409))
def accept_swap(swap_id: uuid.UUID) -> Any:
    return _decide(swap_id, "accept")


@bp.operation("/swaps/<uuid:swap_id>/decline", "POST", "Decline a swap you were asked",
              response=schemas.SwapOut, problems=(403, 404, 409))
def decline_swap(swap_id: uuid.UUID) -> Any:
    return _decide(swap_id, SwapStatus.DECLINED.value)


@bp.operation("/swaps/<uuid:swap_id>/cancel", "POST", "Withdraw a swap you asked for",
              response=schemas.SwapOut, problems=(403, 404, 409))
def cancel_swap(swap_id: uuid.UUID) -> Any:
    return _decide(swap_id, SwapStatus.CANCELLED.value)


# --- calendar ------------------------------------------------------------------------------

@bp.operation("/me/calendar", "POST",
              "A new secret URL for your calendar app (any earlier one stops working)",
              response=schemas.CalendarFeedOut, status=201)
def new_calendar_feed() -> Any:
    db, member = get_session(), require_member()
    feed, token = calendar.new_feed(db, member)
    db.commit()
    url = f"{settings().public_url.rstrip('/')}/api/v1/calendar/{token}.ics"
    return schemas.CalendarFeedOut(url=url, created_at=feed.created_at)


@bp.operation("/me/calendar", "DELETE", "Stop your calendar feed URL", status=204)
def revoke_calendar_feed() -> Response:
    db, member = get_session(), require_member()
    calendar.revoke_feeds(db, member)
    db.commit()
    return Response(status=204)


@bp.operation("/calendar/<token>.ics", "GET", "Your shifts and loans as iCalendar (the URL is the secret)",
              auth=False, problems=(404,), content_type="text/calendar")
def calendar_feed(token: str) -> Response:
    db = get_session()
    member: Member | None = calendar.member_for_token(db, token)
    if member is None:
        raise NotFound("no such calendar feed; it may have been replaced or stopped")
    body = calendar.build(db, settings(), member)
    response = Response(body, mimetype="text/calendar")
    response.headers["Cache-Control"] = "private, max-age=300"
    return response
