"""The tool library: items and their photos, loans, holds and the waitlist, repair notes."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Response
from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from node.api.operations import ApiBlueprint
from node.api.paging import Page, page_of, paginate
from node.db import get_session, utcnow
from node.errors import FieldError, Forbidden, NotFound, ValidationFailed
from node.members.auth import require_member
from node.members.models import Member
from node.projects import schemas_library as schemas
from node.projects import service, tools, uploads
from node.projects.api.common import handles, member_by_handle, settings
from node.projects.models import Hold, HoldStatus, LibraryItem, Loan, RepairNote, Upload

bp = ApiBlueprint("library_api", __name__, tag="Tool library")


def item_out(db: Session, item: LibraryItem) -> schemas.ItemOut:
    """An item with its state, photos and repair history."""
    loan = tools.open_loan(db, item)
    line = tools.queue(db, item)
    notes = list(db.scalars(select(RepairNote).where(RepairNote.item_id == item.id)
                            .order_by(RepairNote.created_at.desc(), RepairNote.id)))
    names = handles(db, {n.author_id for n in notes})
    photos = db.scalars(select(Upload.id).where(Upload.item_id == item.id).order_by(Upload.created_at))
    return schemas.ItemOut(
        id=item.id, project_id=item.project_id, name=item.name, description=item.description,
        condition=item.condition, retired=item.retired,
        available=loan is None and not line and not item.retired,
        due_back=loan.due_at if loan else None, waiting=len(line),
        photos=[f"/api/v1/uploads/{photo}" for photo in photos],
        repairs=[schemas.RepairOut(id=n.id, note=n.note, condition=n.condition,
                                   author=names.get(n.author_id) if n.author_id else None,
                                   created_at=n.created_at) for n in notes],
        created_at=item.created_at,
    )


def loan_out(db: Session, loan: Loan) -> schemas.LoanOut:
    names = handles(db, {loan.borrower_id})
    return schemas.LoanOut(
        id=loan.id, item_id=loan.item_id, item=loan.item.name,
        borrower=names.get(loan.borrower_id) if loan.borrower_id else None, lent_at=loan.lent_at,
        due_at=loan.due_at, returned_at=loan.returned_at,
        overdue=loan.returned_at is None and loan.due_at < utcnow(), condition_out=loan.condition_out,
        condition_in=loan.condition_in,
    )


def hold_out(db: Session, hold: Hold) -> schemas.HoldOut:
    item = tools.get_item(db, hold.item_id)
    position = None
    if hold.status == HoldStatus.WAITING:
        position = 1 + [h.id for h in tools.queue(db, item)].index(hold.id)
    return schemas.HoldOut(id=hold.id, item_id=hold.item_id, item=item.name, status=hold.status,
                           position=position, created_at=hold.created_at, ready_at=hold.ready_at)


def _item_and_project(db: Session, item_id: uuid.UUID) -> tuple[LibraryItem, Any]:
    item = tools.get_item(db, item_id)
    return item, service.get_project(db, item.project_id)


@bp.operation("/projects/<uuid:project_id>/items", "GET", "The project's library of items",
              query=schemas.ItemQuery, response=Page[schemas.ItemOut], problems=(404,))
def list_items(project_id: uuid.UUID, query: schemas.ItemQuery) -> Any:
    db = get_session()
    require_member()
    project = service.get_project(db, project_id)
    stmt = select(LibraryItem).where(LibraryItem.project_id == project.id,
                                     LibraryItem.retired.is_(query.retired))
    if query.available is not None:
        out = exists().where(Loan.item_id == LibraryItem.id, Loan.returned_at.is_(None))
        stmt = stmt.where(~out if query.available else out)
    rows, total = paginate(db, stmt.order_by(LibraryItem.name, LibraryItem.id), query)
    return page_of([item_out(db, r).model_dump(mode="json") for r in rows], total, query)


@bp.operation("/projects/<uuid:project_id>/items", "POST", "Add an item to the library (its working group)",
              body=schemas.ItemIn, response=schemas.ItemOut, status=201, problems=(403, 404, 409))
def add_item(project_id: uuid.UUID, body: schemas.ItemIn) -> Any:
    db, member = get_session(), require_member()
    project = service.get_project(db, project_id)
    service.require_participant(db, project, member)
    item = tools.add_item(db, project, member, body)
    db.commit()
    return item_out(db, item)


@bp.operation("/items/<uuid:item_id>", "GET", "One item", response=schemas.ItemOut, problems=(404,))
def get_item(item_id: uuid.UUID) -> Any:
    require_member()
    db = get_session()
    return item_out(db, tools.get_item(db, item_id))


@bp.operation("/items/<uuid:item_id>", "PATCH", "Change an item (its working group)",
              body=schemas.ItemUpdate, response=schemas.ItemOut, problems=(403, 404))
def update_item(item_id: uuid.UUID, body: schemas.ItemUpdate) -> Any:
    db, member = get_session(), require_member()
    item, project = _item_and_project(db, item_id)
    service.require_participant(db, project, member)
    tools.update_item(db, item, body)
    db.commit()
    return item_out(db, item)


@bp.operation("/items/<uuid:item_id>/photos", "POST",
              "Add a photo (the body is the JPEG, PNG or WebP image itself)", response=schemas.ItemOut,
              status=201, problems=(403, 404, 413))
def add_item_photo(item_id: uuid.UUID) -> Any:
    db, member = get_session(), require_member()
    item, project = _item_and_project(db, item_id)
    service.require_participant(db, project, member)
    uploads.store(db, settings(), member, uploads.read_body(settings()), item=item)
    db.commit()
    return item_out(db, item)


@bp.operation("/items/<uuid:item_id>/loans", "POST",
              "Lend the item (to yourself, or as its working group to a member)", body=schemas.LoanIn,
              response=schemas.LoanOut, status=201, problems=(403, 404, 409))
def lend(item_id: uuid.UUID, body: schemas.LoanIn) -> Any:
    db, member = get_session(), require_member()
    item, project = _item_and_project(db, item_id)
    borrower: Member | None = member
    if body.borrower is not None:
        borrower = member_by_handle(db, body.borrower)
        if borrower is None:
            raise ValidationFailed("unknown member", [FieldError("borrower", "no member with that handle")])
    assert borrower is not None
    loan = tools.lend(db, settings(), project, item, member, borrower, body.due_at, body.note)
    db.commit()
    return loan_out(db, loan)


@bp.operation("/loans/<uuid:loan_id>/return", "POST", "Record that the item came back, and its condition",
              body=schemas.ReturnIn, response=schemas.LoanOut, problems=(403, 404, 409))
def give_back(loan_id: uuid.UUID, body: schemas.ReturnIn) -> Any:
    db, member = get_session(), require_member()
    loan = tools.get_loan(db, loan_id)
    project = service.get_project(db, loan.item.project_id)
    tools.give_back(db, project, loan, member, body)
    db.commit()
    return loan_out(db, loan)


@bp.operation("/me/loans", "GET", "What you have borrowed and not returned", response=None)
def my_loans() -> Any:
    db, member = get_session(), require_member()
    rows = db.scalars(select(Loan).where(Loan.borrower_id == member.id, Loan.returned_at.is_(None))
                      .order_by(Loan.due_at))
    return {"items": [loan_out(db, r).model_dump(mode="json") for r in rows]}


@bp.operation("/items/<uuid:item_id>/holds", "POST",
              "Join the item's waitlist (holds per member are limited)",
              response=schemas.HoldOut, status=201, problems=(404, 409))
def place_hold(item_id: uuid.UUID) -> Any:
    db, member = get_session(), require_member()
    hold = tools.place_hold(db, settings(), tools.get_item(db, item_id), member)
    db.commit()
    return hold_out(db, hold)


@bp.operation("/me/holds", "GET", "Your holds and your place in each line")
def my_holds() -> Any:
    db, member = get_session(), require_member()
    rows = db.scalars(select(Hold).where(Hold.member_id == member.id, Hold.status.in_(tools.ACTIVE_HOLDS))
                      .order_by(Hold.created_at))
    return {"items": [hold_out(db, r).model_dump(mode="json") for r in rows]}


@bp.operation("/holds/<uuid:hold_id>", "DELETE", "Leave the waitlist", status=204, problems=(403, 404, 409))
def cancel_hold(hold_id: uuid.UUID) -> Response:
    db, member = get_session(), require_member()
    hold = db.get(Hold, hold_id)
    if hold is None:
        raise NotFound("no such hold")
    tools.cancel_hold(db, hold, member)
    db.commit()
    return Response(status=204)


@bp.operation("/items/<uuid:item_id>/repairs", "POST",
              "Note a fault or a repair; the item's condition follows",
              body=schemas.RepairIn, response=schemas.ItemOut, status=201, problems=(403, 404))
def add_repair(item_id: uuid.UUID, body: schemas.RepairIn) -> Any:
    db, member = get_session(), require_member()
    item, project = _item_and_project(db, item_id)
    if not tools.is_participant(db, project, member):
        raise Forbidden("only the tool library's working group keeps repair notes")
    tools.add_repair_note(db, item, member, body)
    db.commit()
    return item_out(db, item)
