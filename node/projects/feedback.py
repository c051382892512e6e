"""Feedback from both sides of an exchange, a match or a shift (plan 5.1). Callers commit."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from node.db import utcnow
from node.errors import Conflict, FieldError, Forbidden, InvalidState, NotFound
from node.members.models import Member
from node.projects.models import (
    Assignment,
    Feedback,
    FeedbackSubject,
    LibraryItem,
    Loan,
    ProjectListing,
    ProjectMember,
    Shift,
    Side,
)
from node.projects.schemas_records import FeedbackIn
from node.resources.models import Match, MatchStatus


def give(db: Session, member: Member, data: FeedbackIn) -> Feedback:
    """Say how it went; one say per person per exchange, match or shift."""
    project_id, side = _resolve(db, member, data.subject, data.subject_id)
    duplicate = db.scalar(select(Feedback.id).where(
        Feedback.subject == data.subject, Feedback.subject_id == data.subject_id,
        Feedback.author_id == member.id))
    if duplicate is not None:
        raise Conflict("feedback already given", [FieldError("subject_id", "you already said how this went")])
    row = Feedback(subject=data.subject, subject_id=data.subject_id, project_id=project_id,
                   author_id=member.id, side=side, rating=data.rating, comment=data.comment,
                   anonymous=data.anonymous)
    db.add(row)
    try:
        db.flush()
    except IntegrityError:
        raise Conflict("feedback already given",
                       [FieldError("subject_id", "you already said how this went")]) from None
    return row


def _resolve(db: Session, member: Member, subject: FeedbackSubject,
             subject_id: uuid.UUID) -> tuple[uuid.UUID | None, Side]:
    """The project the feedback belongs to and which side the member is on, or a problem."""
    if subject == FeedbackSubject.MATCH:
        return _match(db, member, subject_id)
    if subject == FeedbackSubject.SHIFT:
        shift = db.get(Shift, subject_id)
        if shift is None:
            raise _unknown("shift")
        if shift.starts_at > utcnow() or shift.cancelled_at is not None:
            raise InvalidState("the shift has not happened",
                               [FieldError("subject_id", "has not happened yet")])
        held = db.scalar(select(Assignment.id).where(Assignment.shift_id == shift.id,
                                                     Assignment.member_id == member.id))
        return shift.project_id, Side.GIVER if held is not None else Side.RECEIVER
    loan = db.get(Loan, subject_id)
    if loan is None:
        raise _unknown("loan")
    item = db.get(LibraryItem, loan.item_id)
    assert item is not None
    if loan.borrower_id == member.id:
        return item.project_id, Side.RECEIVER
    lender = db.scalar(select(ProjectMember.id).where(ProjectMember.project_id == item.project_id,
                                                      ProjectMember.member_id == member.id))
    if lender is None:
        raise Forbidden("only the borrower and the tool library's group can say how this loan went")
    return item.project_id, Side.GIVER


def _match(db: Session, member: Member, match_id: uuid.UUID) -> tuple[uuid.UUID | None, Side]:
    match = db.get(Match, match_id)
    if match is None:
        raise _unknown("match")
    if member.id not in (match.need.member_id, match.offer.member_id):
        raise Forbidden("you are not a party to this match")
    if match.status not in (MatchStatus.ACCEPTED, MatchStatus.FULFILLED):
        raise InvalidState("the exchange has not happened",
                           [FieldError("subject_id", f"the match is {match.status.value}")])
    project_id = db.scalar(select(ProjectListing.project_id).where(
        ProjectListing.listing_id.in_([match.need_id, match.offer_id])).limit(1))
    return project_id, Side.RECEIVER if member.id == match.need.member_id else Side.GIVER


def _unknown(what: str) -> NotFound:
    return NotFound(f"no such {what}", [FieldError("subject_id", f"no such {what}")])
