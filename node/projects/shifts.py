"""Shifts, weekly series, signing up, running the rotation and swaps. Callers commit.

Everything that places a member on a shift goes through the rotation rules of
`node.projects.rotation`, so a sign-up or a swap can never do what the engine would refuse.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, delete, func, select
from sqlalchemy.orm import Session

from node.db import utcnow
from node.errors import Conflict, FieldError, Forbidden, InvalidState, NotFound, ValidationFailed
from node.members.models import Member
from node.projects import rotation, schemas
from node.projects.models import (
    Assignment,
    AssignmentSource,
    Project,
    ProjectMember,
    Role,
    Shift,
    ShiftSeries,
    Swap,
    SwapStatus,
)
from node.projects.notifications import local_time, notify
from node.projects.service import project_role, require_active, require_participant
from node.settings import Settings

# Rules a member signing up or swapping must keep; availability is theirs to judge.
SELF_RULES = frozenset({rotation.RULE_PLACES, rotation.RULE_OVERLAP, rotation.RULE_SKILL,
                        rotation.RULE_TERM_LIMIT})


def zone(settings: Settings) -> ZoneInfo:
    """The node's local time zone, in which weekly shifts and availability are given."""
    return ZoneInfo(settings.time_zone)


def create_shift(db: Session, project: Project, data: schemas.ShiftIn) -> Shift:
    """Add one shift."""
    require_active(project)
    role = project_role(db, project, data.role_id)
    shift = Shift(project_id=project.id, role_id=role.id, starts_at=data.starts_at, ends_at=data.ends_at,
                  slots=data.slots, location=data.location, note=data.note)
    db.add(shift)
    db.flush()
    return shift


def create_series(
    db: Session, settings: Settings, project: Project, data: schemas.SeriesIn
) -> tuple[ShiftSeries, int]:
    """Add a weekly shift and create its occurrences for the weeks ahead (returns how many)."""
    require_active(project)
    role = project_role(db, project, data.role_id)
    series = ShiftSeries(project_id=project.id, role_id=role.id, weekday=data.weekday,
                         start_time=data.start_time, minutes=data.minutes, slots=data.slots,
                         starts_on=data.starts_on, until=data.until, location=data.location)
    db.add(series)
    db.flush()
    return series, extend_series(db, settings, series)


def extend_series(db: Session, settings: Settings, series: ShiftSeries, now: datetime | None = None) -> int:
    """Create the series' missing occurrences up to the horizon; returns how many."""
    local = zone(settings)
    today = (now or utcnow()).astimezone(local).date()
    horizon = today + timedelta(weeks=settings.shift_weeks_ahead)
    last = min(horizon, series.until) if series.until else horizon
    day = max(series.starts_on, today)
    day += timedelta(days=(series.weekday - day.weekday()) % 7)
    existing = set(db.scalars(select(Shift.starts_at).where(Shift.series_id == series.id)))
    created = 0
    while day <= last:
        starts = _local_datetime(day, series.start_time, local)
        if starts not in existing:
            db.add(Shift(project_id=series.project_id, role_id=series.role_id, series_id=series.id,
                         starts_at=starts, ends_at=starts + timedelta(minutes=series.minutes),
                         slots=series.slots, location=series.location))
            created += 1
        day += timedelta(days=7)
    db.flush()
    return created


def extend_all_series(db: Session, settings: Settings) -> int:
    """Keep every active series' occurrences created for the weeks ahead."""
    return sum(extend_series(db, settings, s) for s in db.scalars(select(ShiftSeries)))


def _local_datetime(day: date, clock: str, local: ZoneInfo) -> datetime:
    hours, minutes = (int(part) for part in clock.split(":"))
    return datetime(day.year, day.month, day.day, hours, minutes, tzinfo=local).astimezone(ZoneInfo("UTC"))


def get_shift(db: Session, shift_id: uuid.UUID, project: Project | None = None) -> Shift:
    """A shift (of the project, when given), or a 404 problem."""
    shift = db.get(Shift, shift_id)
    if shift is None or (project is not None and shift.project_id != project.id):
        raise NotFound("no such shift")
    return shift


def holders(db: Session, shift: Shift) -> list[Assignment]:
    """The assignments on a shift, oldest first."""
    stmt = (select(Assignment).where(Assignment.shift_id == shift.id)
            .order_by(Assignment.created_at, Assignment.id))
    return list(db.scalars(stmt))


def cancel_shift(db: Session, project: Project, shift: Shift) -> Shift:
    """Call off a shift; those on it are told."""
    if shift.cancelled_at is not None:
        raise InvalidState("the shift is already cancelled")
    shift.cancelled_at = utcnow()
    for assignment in holders(db, shift):
        notify(db, assignment.member_id, "shift", f"Cancelled: {shift.role.name} on {_when(shift)}",
               f"The {shift.role.name} shift of {project.name} on {_when(shift)} is cancelled.")
    db.flush()
    return shift


def _when(shift: Shift, settings: Settings | None = None) -> str:
    return local_time(shift.starts_at, settings.time_zone if settings else None)


# --- the rules, on real rows ---------------------------------------------------------------

@dataclass
class Context:
    """A project's shifts and people as the rotation engine sees them."""

    data: rotation.RotationInput
    shifts: dict[str, Shift]


def context(
    db: Session, settings: Settings, project: Project, start: datetime, end: datetime,
    fill: set[uuid.UUID] | None = None,
) -> Context:
    """Build the engine's input for the project's shifts from `start` (less the lookback) to `end`."""
    since = start - timedelta(days=settings.rotation_lookback_days)
    rows = list(db.scalars(
        select(Shift).where(Shift.project_id == project.id, Shift.cancelled_at.is_(None),
                            Shift.starts_at >= since, Shift.starts_at < end)
    ))
    held: dict[uuid.UUID, list[str]] = {row.id: [] for row in rows}
    if rows:
        for assignment in db.scalars(select(Assignment).where(Assignment.shift_id.in_(held))):
            held[assignment.shift_id].append(str(assignment.member_id))
    roles = {str(r.id): rotation.RoleSpec(r.name, r.skill, r.coordinating)
             for r in db.scalars(select(Role).where(Role.project_id == project.id))}
    specs = tuple(
        rotation.ShiftSpec(str(row.id), str(row.role_id), row.starts_at, row.ends_at, row.slots,
                           tuple(held[row.id]), fill is not None and row.id in fill)
        for row in rows
    )
    participants = db.scalars(select(ProjectMember).where(ProjectMember.project_id == project.id))
    volunteers = tuple(_volunteer(p) for p in participants if p.in_rotation or fill is None)
    data = rotation.RotationInput(specs, roles, volunteers, project.coordinator_term_limit, zone(settings))
    return Context(data, {str(row.id): row for row in rows})


def _volunteer(row: ProjectMember) -> rotation.Volunteer:
    windows = tuple(rotation.Window.parse(w["weekday"], w["start"], w["end"]) for w in row.availability)
    return rotation.Volunteer(str(row.member_id), frozenset(row.skills), windows)


def _check_place(
    db: Session, settings: Settings, project: Project, shift: Shift, member_id: uuid.UUID,
    plan: dict[str, list[str]], field: str,
) -> None:
    """Refuse, naming the field and the rule, if putting the member on the shift breaks a rule."""
    ctx = context(db, settings, project, shift.starts_at, shift.ends_at + timedelta(days=366))
    found = [v for v in rotation.violations(ctx.data, plan, only=set(plan), rules=SELF_RULES)
             if v.member in ("", str(member_id))]
    if found:
        raise Conflict("this breaks the rotation rules",
                       [FieldError(field, f"{v.rule}: {v.reason}") for v in found])


# --- signing up, leaving, the rotation ------------------------------------------------------

def sign_up(db: Session, settings: Settings, project: Project, shift: Shift, member: Member) -> Assignment:
    """Take a place on a shift; double-booking and broken rules are refused with the reason."""
    require_participant(db, project, member)
    _lock(db, shift)
    _lock_people(db, project, [member.id])
    _require_future(shift)
    current = [a.member_id for a in holders(db, shift)]
    if member.id in current:
        raise Conflict("already on this shift",
                       [FieldError("shift_id", "you already hold a place on this shift")])
    if len(current) >= shift.slots:
        raise Conflict("the shift is full", [FieldError("shift_id", f"all {shift.slots} places are taken")])
    plan = {str(shift.id): [*map(str, current), str(member.id)]}
    _check_place(db, settings, project, shift, member.id, plan, "shift_id")
    assignment = Assignment(shift_id=shift.id, member_id=member.id, source=AssignmentSource.SIGNUP)
    db.add(assignment)
    db.flush()
    return assignment


def _lock(db: Session, shift: Shift) -> None:
    # PostgreSQL: serialise places on one shift; SQLite's writers are serialised already.
    db.execute(select(Shift.id).where(Shift.id == shift.id).with_for_update())


def _lock_people(db: Session, project: Project, member_ids: list[uuid.UUID] | None) -> None:
    # Two requests placing the same person on two overlapping shifts lock different shifts;
    # locking the person's place in the working group makes the second wait and see the first.
    stmt = select(ProjectMember.id).where(ProjectMember.project_id == project.id)
    if member_ids is not None:
        stmt = stmt.where(ProjectMember.member_id.in_(member_ids))
    db.execute(stmt.order_by(ProjectMember.id).with_for_update())


def _require_future(shift: Shift) -> None:
    if shift.cancelled_at is not None:
        raise InvalidState("the shift is cancelled", [FieldError("shift_id", "cancelled")])
    if shift.starts_at <= utcnow():
        raise InvalidState("the shift has started", [FieldError("shift_id", "already started")])


def give_up(db: Session, assignment: Assignment, member: Member) -> None:
    """Give up one's own place on a shift that has not started."""
    if assignment.member_id != member.id:
        raise Forbidden("this place on the shift belongs to another member")
    _require_future(assignment.shift)
    db.delete(assignment)
    db.flush()


def get_assignment(db: Session, assignment_id: uuid.UUID, field: str = "assignment_id") -> Assignment:
    """An assignment, or a problem naming the field."""
    assignment = db.get(Assignment, assignment_id)
    if assignment is None:
        raise NotFound("no such place on a shift", [FieldError(field, "unknown")])
    return assignment


def drop_future_assignments(db: Session, project: Project, member: Member) -> int:
    """Remove the member from the project's shifts that have not started."""
    future = select(Shift.id).where(Shift.project_id == project.id, Shift.starts_at > utcnow())
    result = db.execute(delete(Assignment).where(
        Assignment.member_id == member.id, Assignment.shift_id.in_(future)
    ).execution_options(synchronize_session=False))
    return int(getattr(result, "rowcount", 0) or 0)


@dataclass
class RotationRun:
    """What a rotation run did or would do."""

    result: rotation.RotationResult
    ctx: Context


def run_rotation(
    db: Session, settings: Settings, project: Project, start: datetime, end: datetime, dry_run: bool
) -> RotationRun:
    """Fill the open places of shifts between start and end that have not started."""
    require_active(project)
    now = utcnow()
    candidates = list(db.scalars(
        select(Shift).where(Shift.project_id == project.id, Shift.cancelled_at.is_(None),
                            Shift.starts_at >= max(start, now), Shift.starts_at < end)
        .with_for_update()
    ))
    _lock_people(db, project, None)
    # Held shifts after `end` count too: a coordinator's run of terms may continue into them.
    ctx = context(db, settings, project, start, end + timedelta(days=366), fill={s.id for s in candidates})
    result = rotation.assign(ctx.data)
    if not dry_run:
        per_member: dict[str, list[Shift]] = {}
        for placement in result.placements:
            shift = ctx.shifts[placement.shift_id]
            db.add(Assignment(shift_id=shift.id, member_id=uuid.UUID(placement.member),
                              source=AssignmentSource.ROTATION))
            per_member.setdefault(placement.member, []).append(shift)
        db.flush()
        for member_id, shifts in per_member.items():
            lines = "\n".join(f"- {s.role.name}: {_when(s, settings)} {s.location}".rstrip() for s in shifts)
            notify(db, uuid.UUID(member_id), "shift", f"{project.name}: your next shifts",
                   f"The rotation of {project.name} gave you these shifts:\n{lines}\n\n"
                   "Swap with someone if one does not suit you.")
    return RotationRun(result, ctx)


def load(
    db: Session, settings: Settings, project: Project, start: datetime | None, end: datetime | None,
) -> tuple[datetime, datetime, rotation.Spread, dict[str, int]]:
    """Hours and shifts per member of the rotation between start and end, and their spread."""
    now = utcnow()
    start = start or now - timedelta(days=settings.rotation_lookback_days)
    end = end or now + timedelta(weeks=settings.shift_weeks_ahead)
    rows = db.execute(
        select(Assignment.member_id, Shift.starts_at, Shift.ends_at)
        .join(Shift, Shift.id == Assignment.shift_id)
        .where(Shift.project_id == project.id, Shift.cancelled_at.is_(None),
               Shift.starts_at >= start, Shift.starts_at < end)
    ).all()
    in_rotation = db.scalars(select(ProjectMember.member_id).where(
        ProjectMember.project_id == project.id, ProjectMember.in_rotation.is_(True)))
    hours = {str(m): 0.0 for m in in_rotation}
    counts = dict.fromkeys(hours, 0)
    for member_id, starts_at, ends_at in rows:
        key = str(member_id)
        hours[key] = hours.get(key, 0.0) + (ends_at - starts_at).total_seconds() / 3600
        counts[key] = counts.get(key, 0) + 1
    return start, end, rotation.spread_of(hours), counts


# --- swaps ---------------------------------------------------------------------------------

def propose_swap(db: Session, settings: Settings, member: Member, data: schemas.SwapIn) -> Swap:
    """Ask another member to take one's place (or trade places); refused at once if it breaks a rule."""
    assignment = get_assignment(db, data.assignment_id)
    if assignment.member_id != member.id:
        raise Forbidden("you can only offer your own place on a shift",
                        [FieldError("assignment_id", "belongs to another member")])
    shift = assignment.shift
    project = db.get(Project, shift.project_id)
    assert project is not None
    other = db.scalar(select(Member).where(Member.handle == data.to))
    if other is None or other.id == member.id:
        raise ValidationFailed("unknown member", [FieldError("to", "not another member of this node")])
    exchange = None
    if data.exchange_id is not None:
        exchange = get_assignment(db, data.exchange_id, "exchange_id")
        if exchange.member_id != other.id or exchange.shift.project_id != project.id:
            raise ValidationFailed("bad exchange", [FieldError(
                "exchange_id", f"not {other.handle}'s place on a shift of this project")])
    swap = Swap(assignment_id=assignment.id, exchange_id=exchange.id if exchange else None,
                from_member_id=member.id, to_member_id=other.id, note=data.note)
    check_swap(db, settings, project, swap)
    db.add(swap)
    db.flush()
    notify(db, other.id, "shift", f"{member.handle} asks you to take a shift",
           f"{member.handle} asks you to take their {shift.role.name} shift on {_when(shift, settings)} "
           f"({project.name}).\n{data.note}".rstrip())
    return swap


def check_swap(db: Session, settings: Settings, project: Project, swap: Swap) -> None:
    """Refuse a swap that would break the rotation rules, naming which and why."""
    assignment = get_assignment(db, swap.assignment_id)
    _require_future(assignment.shift)
    if assignment.member_id != swap.from_member_id:
        raise Conflict("the place changed hands",
                       [FieldError("assignment_id", "no longer held by who offered it")])
    other = db.get(Member, swap.to_member_id)
    if other is None or db.scalar(select(ProjectMember.id).where(
            ProjectMember.project_id == project.id, ProjectMember.member_id == other.id)) is None:
        raise Conflict("not in the working group",
                       [FieldError("to", "is not in the project's working group")])
    plan: dict[str, list[str]] = {}
    moves = [(assignment, swap.to_member_id, "assignment_id")]
    if swap.exchange_id is not None:
        exchange = get_assignment(db, swap.exchange_id, "exchange_id")
        _require_future(exchange.shift)
        if exchange.member_id != swap.to_member_id:
            raise Conflict("the place changed hands", [FieldError("exchange_id", "no longer held by them")])
        moves.append((exchange, swap.from_member_id, "exchange_id"))
    for moved, _, _ in moves:
        plan[str(moved.shift_id)] = [str(a.member_id) for a in holders(db, moved.shift) if a.id != moved.id]
    for moved, taker, _ in moves:
        plan[str(moved.shift_id)].append(str(taker))
    earliest = min(m.shift.starts_at for m, _, _ in moves)
    latest = max(m.shift.ends_at for m, _, _ in moves)
    ctx = context(db, settings, project, earliest, latest + timedelta(days=366))
    takers = {str(taker): field for _, taker, field in moves}
    found = [v for v in rotation.violations(ctx.data, plan, only=set(plan), rules=SELF_RULES)
             if v.member in takers or v.member == ""]
    if found:
        raise Conflict("the swap breaks the rotation rules", [
            FieldError(takers.get(v.member, "assignment_id"), f"{v.rule}: {v.reason}") for v in found
        ])


def get_swap(db: Session, swap_id: uuid.UUID, member: Member) -> Swap:
    """A swap the member is a party to."""
    swap = db.get(Swap, swap_id)
    if swap is None:
        raise NotFound("no such swap")
    if member.id not in (swap.from_member_id, swap.to_member_id):
        raise Forbidden("you are not a party to this swap")
    return swap


def accept_swap(db: Session, settings: Settings, swap: Swap, member: Member) -> Swap:
    """The asked member accepts: the places move, after checking the rules again."""
    if member.id != swap.to_member_id:
        raise Forbidden("only the member asked can accept the swap")
    _require_proposed(swap)
    assignment = get_assignment(db, swap.assignment_id)
    project = db.get(Project, assignment.shift.project_id)
    assert project is not None
    _lock(db, assignment.shift)
    _lock_people(db, project, [swap.from_member_id, swap.to_member_id])
    check_swap(db, settings, project, swap)
    assignment.member_id = swap.to_member_id
    assignment.source = AssignmentSource.SWAP
    if swap.exchange_id is not None:
        exchange = get_assignment(db, swap.exchange_id, "exchange_id")
        exchange.member_id = swap.from_member_id
        exchange.source = AssignmentSource.SWAP
    swap.status = SwapStatus.ACCEPTED
    swap.decided_at = utcnow()
    db.flush()
    notify(db, swap.from_member_id, "shift", "Your swap was accepted",
           f"{member.handle} takes your {assignment.shift.role.name} shift on "
           f"{_when(assignment.shift, settings)}.")
    return swap


def close_swap(db: Session, swap: Swap, member: Member, status: SwapStatus) -> Swap:
    """Decline (the asked member) or cancel (the asking member) a proposed swap."""
    _require_proposed(swap)
    expected = swap.to_member_id if status == SwapStatus.DECLINED else swap.from_member_id
    if member.id != expected:
        verb = "decline" if status == SwapStatus.DECLINED else "cancel"
        raise Forbidden(f"you cannot {verb} this swap")
    swap.status = status
    swap.decided_at = utcnow()
    db.flush()
    return swap


def _require_proposed(swap: Swap) -> None:
    if swap.status != SwapStatus.PROPOSED:
        raise InvalidState(f"the swap is already {swap.status.value}")


def shifts_query(project: Project, query: schemas.ShiftQuery, member: Member) -> Select[Any]:
    """The select for a project's shifts, soonest first."""
    stmt = select(Shift).where(Shift.project_id == project.id, Shift.cancelled_at.is_(None),
                               Shift.starts_at >= (query.after or utcnow()))
    if query.before is not None:
        stmt = stmt.where(Shift.starts_at < query.before)
    if query.mine:
        stmt = stmt.where(Shift.id.in_(select(Assignment.shift_id).where(Assignment.member_id == member.id)))
    if query.open:
        taken = (select(func.count()).where(Assignment.shift_id == Shift.id)
                 .correlate(Shift).scalar_subquery())
        stmt = stmt.where(taken < Shift.slots)
    return stmt.order_by(Shift.starts_at, Shift.id)
