"""Reports a project gives back to the assembly (plan 3.3), with figures filled in for it."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from node.members.models import Member
from node.projects import ledger, rotation
from node.projects.models import (
    Assignment,
    Feedback,
    LibraryItem,
    Loan,
    Project,
    ProjectMember,
    ProjectReport,
    Shift,
    Story,
)
from node.projects.schemas_records import ReportIn


def file_report(db: Session, project: Project, member: Member, data: ReportIn) -> ProjectReport:
    """Write a report for the period; its figures are computed, not typed in."""
    report = ProjectReport(project_id=project.id, period_start=data.period_start, period_end=data.period_end,
                           summary=data.summary, requests=data.requests, author_id=member.id,
                           figures=figures(db, project, data.period_start, data.period_end))
    db.add(report)
    db.flush()
    return report


def figures(db: Session, project: Project, first: date, last: date) -> dict[str, Any]:
    """What the project did between two dates (both included)."""
    since = datetime.combine(first, time(0), tzinfo=UTC)
    until = datetime.combine(last + timedelta(days=1), time(0), tzinfo=UTC)
    in_period = (Shift.project_id == project.id, Shift.cancelled_at.is_(None), Shift.starts_at >= since,
                 Shift.starts_at < until)
    shifts = list(db.scalars(select(Shift).where(*in_period)))
    rows = db.execute(select(Assignment.member_id, Shift.starts_at, Shift.ends_at)
                      .join(Shift, Shift.id == Assignment.shift_id).where(*in_period)).all()
    hours: dict[str, float] = {}
    for member_id, starts, ends in rows:
        hours[str(member_id)] = hours.get(str(member_id), 0.0) + (ends - starts).total_seconds() / 3600
    spread = rotation.spread_of(hours)
    rated = db.execute(select(func.count(), func.avg(Feedback.rating)).where(
        Feedback.project_id == project.id, Feedback.created_at >= since, Feedback.created_at < until)).one()
    loans = db.scalar(select(func.count()).select_from(Loan).join(LibraryItem, LibraryItem.id == Loan.item_id)
                      .where(LibraryItem.project_id == project.id, Loan.lent_at >= since,
                             Loan.lent_at < until))
    return {
        "participants": db.scalar(select(func.count()).where(ProjectMember.project_id == project.id)) or 0,
        "shifts": len(shifts),
        "places": sum(s.slots for s in shifts),
        "places_filled": len(rows),
        "volunteer_hours": round(sum(hours.values()), 2),
        "load": {"minimum": spread.minimum, "maximum": spread.maximum, "stddev": spread.stddev,
                 "volunteers": len(hours)},
        "ledger": ledger.totals(db, project, since, until),
        "loans": loans or 0,
        "feedback": {"count": rated[0], "mean_rating": round(float(rated[1]), 2) if rated[1] else None},
        "stories": db.scalar(select(func.count()).where(
            Story.project_id == project.id, Story.created_at >= since, Story.created_at < until)) or 0,
    }
