"""Reminders queued by the `mutualaid notify` run: shifts coming up (and, from the tool
library, holds ready and items overdue)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from node.db import utcnow
from node.projects.models import Assignment, Project, Shift
from node.projects.notifications import local_time, notify
from node.projects.tools import queue_library_reminders
from node.settings import Settings

SHIFT_NOTICE = timedelta(hours=24)


def queue_reminders(db: Session, settings: Settings, now: datetime | None = None) -> int:
    """Queue every reminder that is due; each is queued once. Returns how many."""
    now = now or utcnow()
    count = _shift_reminders(db, settings, now)
    count += queue_library_reminders(db, settings, now)
    return count


def _shift_reminders(db: Session, settings: Settings, now: datetime) -> int:
    rows = db.execute(
        select(Assignment, Shift, Project)
        .join(Shift, Shift.id == Assignment.shift_id).join(Project, Project.id == Shift.project_id)
        .where(Shift.cancelled_at.is_(None), Shift.starts_at > now, Shift.starts_at <= now + SHIFT_NOTICE)
    ).all()
    count = 0
    for assignment, shift, project in rows:
        where = f" at {shift.location}" if shift.location else ""
        queued = notify(
            db, assignment.member_id, "shift", f"Tomorrow: {shift.role.name} for {project.name}",
            f"Your {shift.role.name} shift for {project.name} starts "
            f"{local_time(shift.starts_at, settings.time_zone)}{where}.",
            dedupe_key=f"shift-reminder:{assignment.id}:{assignment.member_id}",
        )
        count += queued is not None
    return count
