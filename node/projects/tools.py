"""The tool library: items, lending with due dates, holds and the waitlist, repairs. Callers commit.

Rules: an item is lent to one person at a time (the database enforces it too); while people
wait for an item it goes to the first in line; a member may hold only so many items at once
(`library_max_holds`), so that things stay in circulation; broken or retired items are not lent.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from node.db import utcnow
from node.errors import Conflict, FieldError, Forbidden, InvalidState, NotFound, ValidationFailed
from node.members.models import Member
from node.projects import ledger
from node.projects import schemas_library as schemas
from node.projects.models import (
    Condition,
    Direction,
    Hold,
    HoldStatus,
    LibraryItem,
    Loan,
    Project,
    ProjectMember,
    RepairNote,
)
from node.projects.notifications import notify
from node.projects.service import require_active, require_participant
from node.settings import Settings

ACTIVE_HOLDS = (HoldStatus.WAITING, HoldStatus.READY)
NOT_LENDABLE = (Condition.BROKEN,)


def add_item(db: Session, project: Project, member: Member, data: schemas.ItemIn) -> LibraryItem:
    """Add an item to the library; the ledger records it coming in."""
    require_active(project)
    item = LibraryItem(project_id=project.id, name=data.name, description=data.description,
                       condition=data.condition, donor_id=member.id if data.donated_by_me else None)
    db.add(item)
    db.flush()
    ledger.record(db, project, member, Direction.IN, "tools", 1, "item", f"Added to the library: {item.name}")
    return item


def get_item(db: Session, item_id: uuid.UUID, field: str | None = None) -> LibraryItem:
    """An item, or a 404 problem."""
    item = db.get(LibraryItem, item_id)
    if item is None:
        raise NotFound("no such item", [FieldError(field, "unknown item")] if field else None)
    return item


def update_item(db: Session, item: LibraryItem, data: schemas.ItemUpdate) -> LibraryItem:
    """Change an item's fields that were sent."""
    changes = data.model_dump(exclude_unset=True)
    for name in ("name", "description", "condition", "retired"):
        if name in changes and changes[name] is None:
            raise ValidationFailed("cannot be null", [FieldError(name, "cannot be null")])
    for name, value in changes.items():
        setattr(item, name, value)
    db.flush()
    return item


def open_loan(db: Session, item: LibraryItem) -> Loan | None:
    """The item's loan that has not come back, if any."""
    return db.scalar(select(Loan).where(Loan.item_id == item.id, Loan.returned_at.is_(None)))


def queue(db: Session, item: LibraryItem) -> list[Hold]:
    """The item's active holds, first in line first."""
    stmt = (select(Hold).where(Hold.item_id == item.id, Hold.status.in_(ACTIVE_HOLDS))
            .order_by(Hold.created_at, Hold.id))
    return list(db.scalars(stmt))


def lend(
    db: Session, settings: Settings, project: Project, item: LibraryItem, actor: Member,
    borrower: Member, due_at: datetime | None, note: str = "",
) -> Loan:
    """Lend an item; refused if it is already out, broken, retired, or held for someone else."""
    if actor.id != borrower.id:
        require_participant(db, project, actor)
    require_active(project)
    if item.retired:
        raise InvalidState("this item is retired", [FieldError("item_id", "retired from the library")])
    if item.condition in NOT_LENDABLE:
        raise InvalidState("this item is broken", [FieldError("item_id", "broken; it needs a repair first")])
    db.execute(select(LibraryItem.id).where(LibraryItem.id == item.id).with_for_update())
    current = open_loan(db, item)
    if current is not None:
        raise Conflict("the item is already lent", [FieldError(
            "item_id", f"already lent, due back {current.due_at:%Y-%m-%d}")])
    line = queue(db, item)
    if line and line[0].member_id != borrower.id:
        raise Conflict("the item is held for someone else", [FieldError(
            "borrower", "reserved for the first member on the waitlist")])
    now = utcnow()
    due = due_at or now + timedelta(days=min(14, settings.library_max_loan_days))
    if due <= now or due > now + timedelta(days=settings.library_max_loan_days):
        raise ValidationFailed("bad due date", [FieldError(
            "due_at", f"must be in the next {settings.library_max_loan_days} days")])
    loan = Loan(item_id=item.id, borrower_id=borrower.id, lent_by_id=actor.id, lent_at=now, due_at=due,
                condition_out=item.condition, note=note)
    db.add(loan)
    try:
        db.flush()
    except IntegrityError:
        raise Conflict("the item is already lent", [FieldError("item_id", "already lent")]) from None
    if line:
        line[0].status = HoldStatus.COLLECTED
        line[0].closed_at = now
    db.flush()
    return loan


def get_loan(db: Session, loan_id: uuid.UUID) -> Loan:
    """A loan, or a 404 problem."""
    loan = db.get(Loan, loan_id)
    if loan is None:
        raise NotFound("no such loan")
    return loan


def give_back(
    db: Session, project: Project, loan: Loan, actor: Member, data: schemas.ReturnIn
) -> Loan:
    """Record an item's return and its condition; the next in line is told it is ready."""
    if actor.id != loan.borrower_id:
        require_participant(db, project, actor)
    if loan.returned_at is not None:
        raise InvalidState("this loan was already returned")
    now = utcnow()
    loan.returned_at = now
    loan.condition_in = data.condition or loan.item.condition
    loan.item.condition = loan.condition_in
    if data.note:
        db.add(RepairNote(item_id=loan.item_id, author_id=actor.id, note=data.note,
                          condition=loan.condition_in))
    db.flush()
    _promote(db, loan.item, now)
    return loan


def place_hold(db: Session, settings: Settings, item: LibraryItem, member: Member) -> Hold:
    """Join an item's waitlist, within the limit of holds per member."""
    if item.retired:
        raise InvalidState("this item is retired", [FieldError("item_id", "retired from the library")])
    current = open_loan(db, item)
    if current is not None and current.borrower_id == member.id:
        raise Conflict("you have this item", [FieldError("item_id", "you are borrowing it now")])
    if db.scalar(select(Hold.id).where(Hold.item_id == item.id, Hold.member_id == member.id,
                                       Hold.status.in_(ACTIVE_HOLDS))) is not None:
        raise Conflict("already on the waitlist", [FieldError("item_id", "you already hold this item")])
    held = db.scalar(select(func.count()).where(Hold.member_id == member.id,
                                                Hold.status.in_(ACTIVE_HOLDS))) or 0
    if held >= settings.library_max_holds:
        raise Conflict("too many holds", [FieldError(
            "item_id", f"you hold {held} items; the limit is {settings.library_max_holds} so that things "
            "stay in circulation")])
    now = utcnow()
    ready = current is None and not queue(db, item)
    hold = Hold(item_id=item.id, member_id=member.id, created_at=now,
                status=HoldStatus.READY if ready else HoldStatus.WAITING, ready_at=now if ready else None)
    db.add(hold)
    try:
        db.flush()
    except IntegrityError:
        raise Conflict("already on the waitlist",
                       [FieldError("item_id", "you already hold this item")]) from None
    return hold


def cancel_hold(db: Session, hold: Hold, member: Member) -> Hold:
    """Leave the waitlist; if the item was waiting for you, it goes to the next in line."""
    if hold.member_id != member.id:
        raise Forbidden("this hold belongs to another member")
    if hold.status not in ACTIVE_HOLDS:
        raise InvalidState(f"the hold is already {hold.status.value}")
    was_ready = hold.status == HoldStatus.READY
    hold.status = HoldStatus.CANCELLED
    hold.closed_at = utcnow()
    db.flush()
    if was_ready:
        item = get_item(db, hold.item_id)
        _promote(db, item, utcnow())
    return hold


def _promote(db: Session, item: LibraryItem, now: datetime) -> None:
    """If the item is in and nobody has it ready, the first waiting member gets it ready."""
    if open_loan(db, item) is not None:
        return
    line = queue(db, item)
    if not line or line[0].status == HoldStatus.READY:
        return
    first = line[0]
    first.status = HoldStatus.READY
    first.ready_at = now
    db.flush()
    notify(db, first.member_id, "library", f"Ready for you: {item.name}",
           f"{item.name} is back at the tool library and held for you. Collect it soon, or cancel the hold "
           "so the next person can have it.", dedupe_key=f"hold-ready:{first.id}")


def pass_on(db: Session, item_id: uuid.UUID) -> None:
    """Offer an item to the next in line, if it is in and nobody has it ready."""
    item = db.get(LibraryItem, item_id)
    if item is not None:
        _promote(db, item, utcnow())


def add_repair_note(db: Session, item: LibraryItem, member: Member, data: schemas.RepairIn) -> RepairNote:
    """Note what was wrong or what was mended; the item's condition follows."""
    note = RepairNote(item_id=item.id, author_id=member.id, note=data.note, condition=data.condition)
    item.condition = data.condition
    db.add(note)
    db.flush()
    return note


def is_participant(db: Session, project: Project, member: Member) -> bool:
    """Whether the member is in the project's working group."""
    return db.scalar(select(ProjectMember.id).where(
        ProjectMember.project_id == project.id, ProjectMember.member_id == member.id)) is not None


def queue_library_reminders(db: Session, settings: Settings, now: datetime) -> int:
    """Remind borrowers of overdue items every few days, and pass on holds left uncollected."""
    count = 0
    every = timedelta(days=settings.overdue_reminder_days)
    overdue = db.scalars(select(Loan).where(Loan.returned_at.is_(None), Loan.due_at < now,
                                            Loan.borrower_id.is_not(None)))
    for loan in overdue:
        if loan.last_reminded_at is not None and now - loan.last_reminded_at < every:
            continue
        assert loan.borrower_id is not None
        days = (now - loan.due_at).days
        queued = notify(db, loan.borrower_id, "library", f"Overdue: {loan.item.name}",
                        f"{loan.item.name} was due back {loan.due_at:%a %d %b}, {days} days ago. "
                        "Please bring it back, or tell the tool library if you need it longer.",
                        dedupe_key=f"overdue:{loan.id}:{now:%Y-%m-%d}")
        loan.last_reminded_at = now
        count += queued is not None
    stale = db.scalars(select(Hold).where(
        Hold.status == HoldStatus.READY, Hold.ready_at < now - timedelta(days=settings.hold_ready_days)))
    for hold in stale:
        hold.status = HoldStatus.EXPIRED
        hold.closed_at = now
        db.flush()
        _promote(db, get_item(db, hold.item_id), now)
    db.flush()
    return count
