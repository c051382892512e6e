"""A member's projects data in their export, and its removal when they erase their account.

What is theirs goes: their places in working groups and on shifts, holds, feedback, stories,
photos, survey answers, calendar feeds and notifications. Shared records stay but keep no trace
of them: ledger entries, loans, reports and repair notes lose the link to the member (the
foreign keys set it to NULL).
"""

from __future__ import annotations

from typing import Any

from flask import current_app, has_app_context
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from node.members.models import Member
from node.projects import tools, uploads
from node.projects.models import (
    Assignment,
    CalendarFeed,
    Feedback,
    Hold,
    HoldStatus,
    LedgerEntry,
    LibraryItem,
    Loan,
    Notification,
    NotificationPrefs,
    Project,
    ProjectMember,
    Shift,
    Story,
    Survey,
    SurveyResponse,
    Swap,
    Upload,
)
from node.settings import Settings, load_settings


def export(db: Session, member: Member, sections: dict[str, Any], **_: Any) -> None:
    """Add everything the projects area holds about the member to their export."""
    prefs = db.get(NotificationPrefs, member.id)
    sections["projects"] = {
        "working_groups": _working_groups(db, member),
        "shifts": _shifts(db, member),
        "loans": _loans(db, member),
        "holds": [{"item_id": str(h.item_id), "status": h.status.value, "created_at": _iso(h.created_at)}
                  for h in _mine(db, Hold, Hold.member_id, member)],
        "feedback": [
            {"subject": f.subject.value, "subject_id": str(f.subject_id), "rating": f.rating,
             "comment": f.comment, "anonymous": f.anonymous, "created_at": _iso(f.created_at)}
            for f in _mine(db, Feedback, Feedback.author_id, member)
        ],
        "stories": [
            {"title": s.title, "body": s.body, "visibility": s.visibility.value,
             "created_at": _iso(s.created_at)}
            for s in _mine(db, Story, Story.author_id, member)
        ],
        "photos": [{"id": str(u.id), "content_type": u.content_type, "size": u.size, "sha256": u.sha256}
                   for u in _mine(db, Upload, Upload.owner_id, member)],
        "survey_answers": _answers(db, member),
        "ledger_entries_recorded": [
            {"project_id": str(e.project_id), "direction": e.direction.value, "kind": e.kind,
             "quantity": e.quantity, "unit": e.unit, "occurred_at": _iso(e.occurred_at)}
            for e in _mine(db, LedgerEntry, LedgerEntry.recorded_by_id, member)
        ],
        "notification_choices": prefs.choices if prefs else {},
        "notifications": [
            {"kind": n.kind, "subject": n.subject, "status": n.status.value, "created_at": _iso(n.created_at)}
            for n in _mine(db, Notification, Notification.member_id, member)
        ],
    }


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def _mine(db: Session, model: Any, column: Any, member: Member) -> list[Any]:
    return list(db.scalars(select(model).where(column == member.id).order_by(model.created_at, model.id)))


def _loans(db: Session, member: Member) -> list[dict[str, Any]]:
    rows = db.execute(select(Loan, LibraryItem).join(LibraryItem, LibraryItem.id == Loan.item_id)
                      .where(Loan.borrower_id == member.id).order_by(Loan.lent_at)).all()
    return [{"item": item.name, "lent_at": _iso(loan.lent_at), "due_at": _iso(loan.due_at),
             "returned_at": _iso(loan.returned_at)} for loan, item in rows]


def _answers(db: Session, member: Member) -> list[dict[str, Any]]:
    rows = db.execute(select(SurveyResponse, Survey).join(Survey, Survey.id == SurveyResponse.survey_id)
                      .where(SurveyResponse.member_id == member.id)).all()
    return [{"survey": survey.title, "answers": r.answers, "needs": r.need_ids,
             "created_at": _iso(r.created_at)} for r, survey in rows]


def _working_groups(db: Session, member: Member) -> list[dict[str, Any]]:
    rows = db.execute(
        select(ProjectMember, Project).join(Project, Project.id == ProjectMember.project_id)
        .where(ProjectMember.member_id == member.id).order_by(Project.slug)
    ).all()
    return [{"project": project.slug, "skills": row.skills, "availability": row.availability,
             "in_rotation": row.in_rotation, "joined_at": row.joined_at.isoformat()} for row, project in rows]


def _shifts(db: Session, member: Member) -> list[dict[str, Any]]:
    rows = db.execute(
        select(Assignment, Shift).join(Shift, Shift.id == Assignment.shift_id)
        .where(Assignment.member_id == member.id).order_by(Shift.starts_at)
    ).all()
    return [{"role": shift.role.name, "starts_at": _iso(shift.starts_at), "ends_at": _iso(shift.ends_at),
             "source": a.source.value} for a, shift in rows]


def erase(db: Session, member: Member, **_: Any) -> None:
    """Remove the member's projects data before the member row goes."""
    settings = _settings()
    for upload in db.scalars(select(Upload).where(Upload.owner_id == member.id)):
        uploads.discard(db, settings, upload)
    ready = list(db.scalars(select(Hold.item_id).where(Hold.member_id == member.id,
                                                       Hold.status == HoldStatus.READY)))
    for model, column in (
        (Swap, Swap.from_member_id), (Swap, Swap.to_member_id), (Assignment, Assignment.member_id),
        (ProjectMember, ProjectMember.member_id), (CalendarFeed, CalendarFeed.member_id),
        (Notification, Notification.member_id), (NotificationPrefs, NotificationPrefs.member_id),
        (Hold, Hold.member_id), (Feedback, Feedback.author_id), (Story, Story.author_id),
        (SurveyResponse, SurveyResponse.member_id),
    ):
        db.execute(delete(model).where(column == member.id).execution_options(synchronize_session=False))
    db.flush()
    # An item that was waiting for them goes to the next in line.
    for item_id in ready:
        tools.pass_on(db, item_id)


def _settings() -> Settings:
    if has_app_context():
        value: Settings = current_app.config["MUTUALAID"]
        return value
    return load_settings()
