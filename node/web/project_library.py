"""The tool library on a phone: adding items with a photo, one item with its loan, waitlist,
photos and repair notes, borrowing and lending, taking items back, and a member's own loans
and holds."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time
from typing import Any

from flask import request
from flask_babel import gettext
from jinja2.filters import do_filesizeformat
from sqlalchemy import select
from sqlalchemy.orm import Session

from node.db import get_session, utcnow
from node.errors import FieldError, NotFound, Problem, TooLarge, ValidationFailed
from node.members.models import Member
from node.projects import service, shifts, tools, uploads
from node.projects.models import Condition, Hold, HoldStatus, LibraryItem, Loan, RepairNote, Upload
from node.projects.schemas_library import ItemIn, ItemUpdate, LoanIn, RepairIn, ReturnIn
from node.web import csrf, forms
from node.web.base import done, page_member, render, settings
from node.web.projects import _detail_page, bp

DUE_HOUR = time(20, 0)  # a due date means that evening, in the node's time zone


def condition_labels() -> dict[str, str]:
    """Words for an item's condition."""
    return {
        Condition.NEW: gettext("New"),
        Condition.GOOD: gettext("Good"),
        Condition.FAIR: gettext("Fair"),
        Condition.WORN: gettext("Worn"),
        Condition.NEEDS_REPAIR: gettext("Needs a repair"),
        Condition.BROKEN: gettext("Broken"),
    }


def _item_page(item: LibraryItem, member: Member, status: int = 200, **extra: Any) -> Any:
    db = get_session()
    project = service.get_project(db, item.project_id)
    loan = tools.open_loan(db, item)
    line = tools.queue(db, item)
    participant = tools.is_participant(db, project, member)
    mine = next((h for h in line if h.member_id == member.id), None)
    ids = {h.member_id for h in line} | ({loan.borrower_id} if loan and loan.borrower_id else set())
    repairs = list(db.scalars(select(RepairNote).where(RepairNote.item_id == item.id)
                              .order_by(RepairNote.created_at.desc(), RepairNote.id)))
    ids |= {n.author_id for n in repairs if n.author_id}
    names = {m.id: m.handle for m in db.scalars(select(Member).where(Member.id.in_(ids)))}
    photos = list(db.scalars(select(Upload.id).where(Upload.item_id == item.id).order_by(Upload.created_at)))
    default_due = (datetime.now(shifts.zone(settings())).date().toordinal()
                   + min(14, settings().library_max_loan_days))
    extra.setdefault("values", {"due": date.fromordinal(default_due).isoformat()})
    return render(
        "projects/item.html", status=status, item=item, project=project, loan=loan, line=line,
        position=line.index(mine) + 1 if mine else None, my_hold=mine, names=names,
        participant=participant, conditions=condition_labels(), now=utcnow(), repairs=repairs,
        photos=photos, upload_max=do_filesizeformat(settings().upload_max_bytes),
        max_days=settings().library_max_loan_days,
        # Whoever is first in line may borrow it; the working group may lend it (to them).
        may_borrow=loan is None and not item.retired
        and (participant or not line or line[0].member_id == member.id),
        **extra,
    )


@bp.get("/items/<uuid:item_id>")
def item(item_id: uuid.UUID) -> Any:
    """One item of the tool library: its condition, who has it, and the waitlist."""
    member, db = page_member(), get_session()
    return _item_page(tools.get_item(db, item_id), member)


def _due(value: str | None) -> datetime | None:
    """A date from the form, as that evening in the node's time zone."""
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise ValidationFailed("bad date", [FieldError("due", gettext("Choose a date."))]) from None
    return datetime.combine(day, DUE_HOUR, tzinfo=shifts.zone(settings()))


@bp.post("/items/<uuid:item_id>/borrow")
def borrow(item_id: uuid.UUID) -> Any:
    """Borrow the item, or (the working group) lend it to a member, until a due date."""
    member, db = page_member(), get_session()
    item = tools.get_item(db, item_id)
    project = service.get_project(db, item.project_id)
    values = forms.text(request.form, "borrower", "due", "note")
    try:
        data = forms.parse(LoanIn, {"borrower": values.get("borrower", "").lstrip("@") or None,
                                    "due_at": _due(values.get("due")), "note": values.get("note", "")})
        borrower = member
        if data.borrower is not None:
            found = db.scalar(select(Member).where(Member.handle == data.borrower))
            if found is None:
                raise ValidationFailed("unknown member",
                                       [FieldError("borrower", "no member with that handle")])
            borrower = found
        loan = tools.lend(db, settings(), project, item, member, borrower, data.due_at, data.note)
        db.commit()
    except forms.FormErrors as exc:
        return _item_page(item, member, 422, values=values, errors=_renamed(exc))
    except Problem as exc:
        db.rollback()
        return _item_page(item, member, exc.status, values=values, errors=_renamed(forms.from_problem(exc)))
    if loan.borrower_id == member.id:
        message = gettext("%(name)s is yours until %(day)s.", name=item.name, day=_day(loan.due_at))
    else:
        message = gettext("%(name)s is lent to @%(handle)s.", name=item.name, handle=borrower.handle)
    return done(message, "web.projects.item", item_id=item.id)


def _day(value: datetime) -> str:
    return value.astimezone(shifts.zone(settings())).date().isoformat()


def _renamed(errors: forms.FormErrors) -> forms.FormErrors:
    errors.fields = {{"due_at": "due", "item_id": "form"}.get(k, k): v for k, v in errors.fields.items()}
    return errors


@bp.post("/loans/<uuid:loan_id>/return")
def give_back(loan_id: uuid.UUID) -> Any:
    """The item came back (the borrower, or the working group), in this condition."""
    member, db = page_member(), get_session()
    loan = tools.get_loan(db, loan_id)
    project = service.get_project(db, loan.item.project_id)
    values = forms.text(request.form, "condition", "note")
    try:
        data = forms.parse(ReturnIn, values)
    except forms.FormErrors as exc:
        return _item_page(loan.item, member, 422, values=values, errors=exc)
    tools.give_back(db, project, loan, member, data)
    db.commit()
    return done(gettext("%(name)s is back on the shelf.", name=loan.item.name), "web.projects.item",
                item_id=loan.item_id)


@bp.post("/holds/<uuid:hold_id>/cancel")
def cancel_hold(hold_id: uuid.UUID) -> Any:
    """Leave an item's waitlist; if it was waiting for you, it goes to the next in line."""
    member, db = page_member(), get_session()
    hold = db.get(Hold, hold_id)
    if hold is None:
        raise NotFound("no such hold")
    name = tools.get_item(db, hold.item_id).name
    tools.cancel_hold(db, hold, member)
    db.commit()
    return done(gettext("You left the list for %(name)s.", name=name), "web.projects.my_library")


@bp.get("/me/library")
def my_library() -> Any:
    """What I have borrowed, and where I am in each waitlist."""
    member, db = page_member(), get_session()
    loans = list(db.scalars(select(Loan).where(Loan.borrower_id == member.id, Loan.returned_at.is_(None))
                            .order_by(Loan.due_at)))
    holds = list(db.scalars(select(Hold).where(Hold.member_id == member.id,
                                               Hold.status.in_(tools.ACTIVE_HOLDS)).order_by(Hold.created_at)))
    positions = {}
    for hold in holds:
        line = tools.queue(db, tools.get_item(db, hold.item_id))
        positions[hold.id] = next(n for n, h in enumerate(line, 1) if h.id == hold.id)
    items = {i.id: i for i in db.scalars(select(LibraryItem).where(
        LibraryItem.id.in_({h.item_id for h in holds} | {loan.item_id for loan in loans})))}
    return render("projects/my_library.html", loans=loans, holds=holds, positions=positions, items=items,
                  ready=HoldStatus.READY, now=utcnow(),
                  max_holds=settings().library_max_holds)


def _photo(field: str = "photo") -> bytes:
    """The photo sent with a form, or nothing when none was chosen."""
    sent = request.files.get(field)
    return sent.read() if sent is not None and sent.filename else b""


def _photo_errors(problem: Problem) -> forms.FormErrors:
    """The upload checks' refusal in plain words, on the photo field."""
    errors = forms.from_problem(problem)
    if "body" in errors.fields:
        del errors.fields["body"]
        if isinstance(problem, TooLarge):
            errors.fields["photo"] = gettext("The photo is too large: at most %(size)s.",
                                             size=do_filesizeformat(settings().upload_max_bytes))
        else:
            errors.fields["photo"] = gettext("Send a photo in JPEG, PNG or WebP format.")
        errors.message = gettext("Some answers need another look.")
    return errors


@bp.post("/projects/<uuid:project_id>/items")
@csrf.takes_photo
def add_item(project_id: uuid.UUID) -> Any:
    """Add an item to the tool library (its working group), with a photo if one is sent."""
    member, db = page_member(), get_session()
    project = service.get_project(db, project_id)
    service.require_participant(db, project, member)
    values = forms.text(request.form, "name", "description", "condition")
    try:
        data = forms.parse(ItemIn, values)
        photo = _photo()
        item = tools.add_item(db, project, member, data)
        if photo:
            uploads.store(db, settings(), member, photo, item=item)
        db.commit()
    except forms.FormErrors as exc:
        return _detail_page(project.id, member, 422, item_values=values, item_errors=exc)
    except Problem as exc:
        db.rollback()
        return _detail_page(project.id, member, exc.status, item_values=values,
                            item_errors=_photo_errors(exc))
    return done(gettext("%(name)s is in the library.", name=item.name), "web.projects.item", item_id=item.id)


def _working_group_item(db: Session, item_id: uuid.UUID, member: Member) -> LibraryItem:
    """The item, if the member is in its tool library's working group (else 403)."""
    item = tools.get_item(db, item_id)
    service.require_participant(db, service.get_project(db, item.project_id), member)
    return item


@bp.post("/items/<uuid:item_id>/repairs")
def add_repair(item_id: uuid.UUID) -> Any:
    """Note a fault or a repair (the working group); the item's condition follows."""
    member, db = page_member(), get_session()
    item = _working_group_item(db, item_id, member)
    values = forms.text(request.form, "condition", "note")
    try:
        data = forms.parse(RepairIn, values)
    except forms.FormErrors as exc:
        return _item_page(item, member, 422, repair_values=values, repair_errors=exc)
    tools.add_repair_note(db, item, member, data)
    db.commit()
    return done(gettext("The repair note is kept."), "web.projects.item", item_id=item.id)


@bp.post("/items/<uuid:item_id>/photos")
@csrf.takes_photo
def add_photo(item_id: uuid.UUID) -> Any:
    """Add a photo of the item (its working group)."""
    member, db = page_member(), get_session()
    item = _working_group_item(db, item_id, member)
    try:
        photo = _photo()
        if not photo:
            raise forms.FormErrors({"photo": gettext("Choose a photo.")})
        uploads.store(db, settings(), member, photo, item=item)
        db.commit()
    except forms.FormErrors as exc:
        return _item_page(item, member, 422, photo_errors=exc)
    except Problem as exc:
        db.rollback()
        return _item_page(item, member, exc.status, photo_errors=_photo_errors(exc))
    return done(gettext("The photo is added."), "web.projects.item", item_id=item.id)


@bp.post("/items/<uuid:item_id>/edit")
def edit_item(item_id: uuid.UUID) -> Any:
    """Change an item's name or description (its working group)."""
    member, db = page_member(), get_session()
    item = _working_group_item(db, item_id, member)
    values = forms.text(request.form, "name", "description")
    # An emptied description is a change; an emptied name is not allowed.
    values.setdefault("description", "")
    try:
        if "name" not in values:
            raise forms.FormErrors({"name": gettext("Fill this in.")})
        data = forms.parse(ItemUpdate, values)
    except forms.FormErrors as exc:
        return _item_page(item, member, 422, edit_values=values, edit_errors=exc)
    tools.update_item(db, item, data)
    db.commit()
    return done(gettext("The item is changed."), "web.projects.item", item_id=item.id)


@bp.post("/items/<uuid:item_id>/retire")
def retire_item(item_id: uuid.UUID) -> Any:
    """Take an item out of circulation, or put it back (its working group)."""
    member, db = page_member(), get_session()
    item = _working_group_item(db, item_id, member)
    retire = request.form.get("retired") == "yes"
    tools.update_item(db, item, ItemUpdate(retired=retire))
    db.commit()
    message = gettext("It is retired from the library.") if retire else gettext("It is back in the library.")
    return done(message, "web.projects.item", item_id=item.id)
