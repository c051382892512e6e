"""A member's calendar as iCalendar, behind a secret, revocable feed URL.

Calendar apps cannot send a bearer token, so the URL itself is the credential: it is random,
only its hash is stored, and making a new one revokes the old.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from node.db import utcnow
from node.members.auth import token_digest
from node.members.models import Member
from node.projects.models import Assignment, CalendarFeed, LibraryItem, Loan, Project, Shift
from node.settings import Settings

if TYPE_CHECKING:
    from icalendar import Event

FEED_PREFIX = "cal_"
# Past shifts stay in the feed a while, so a calendar does not lose what just happened.
KEEP_PAST = timedelta(days=30)


def new_feed(db: Session, member: Member) -> tuple[CalendarFeed, str]:
    """A fresh secret feed for the member; any earlier one stops working."""
    revoke_feeds(db, member)
    token = FEED_PREFIX + secrets.token_urlsafe(32)
    feed = CalendarFeed(member_id=member.id, token_hash=token_digest(token))
    db.add(feed)
    db.flush()
    return feed, token


def revoke_feeds(db: Session, member: Member) -> int:
    """Stop every feed URL of the member; returns how many were live."""
    result = db.execute(
        update(CalendarFeed)
        .where(CalendarFeed.member_id == member.id, CalendarFeed.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    return int(getattr(result, "rowcount", 0) or 0)


def member_for_token(db: Session, token: str) -> Member | None:
    """The member whose live feed this token opens, if any."""
    if not token.startswith(FEED_PREFIX):
        return None
    feed = db.scalar(select(CalendarFeed).where(
        CalendarFeed.token_hash == token_digest(token), CalendarFeed.revoked_at.is_(None)))
    return db.get(Member, feed.member_id) if feed else None


def build(db: Session, settings: Settings, member: Member, now: datetime | None = None) -> bytes:
    """The member's shifts and loan due dates as an iCalendar document."""
    from icalendar import Calendar  # loaded when a calendar is first fetched, not with the app

    now = now or utcnow()
    host = settings.public_url.split("//", 1)[-1].split("/", 1)[0] or "mutualaid"
    cal = Calendar()
    cal.add("prodid", "-//mutualaid//projects//EN")
    cal.add("version", "2.0")
    cal.add("x-wr-calname", f"{settings.node_name}: {member.handle}")
    rows = db.execute(
        select(Assignment, Shift, Project)
        .join(Shift, Shift.id == Assignment.shift_id)
        .join(Project, Project.id == Shift.project_id)
        .where(Assignment.member_id == member.id, Shift.cancelled_at.is_(None),
               Shift.ends_at >= now - KEEP_PAST)
        .order_by(Shift.starts_at, Shift.id)
    ).all()
    for assignment, shift, project in rows:
        cal.add_component(_event(
            f"shift-{assignment.id}@{host}", f"{project.name}: {shift.role.name}", shift.starts_at,
            shift.ends_at, shift.location, shift.note, now,
        ))
    loans = db.execute(
        select(Loan, LibraryItem).join(LibraryItem, LibraryItem.id == Loan.item_id)
        .where(Loan.borrower_id == member.id, Loan.returned_at.is_(None))
    ).all()
    for loan, item in loans:
        cal.add_component(_event(
            f"loan-{loan.id}@{host}", f"Return {item.name}", loan.due_at,
            loan.due_at + timedelta(minutes=30), "", "Due back at the tool library.", now,
        ))
    return bytes(cal.to_ical())


def _event(uid: str, summary: str, start: datetime, end: datetime, location: str, note: str,
           now: datetime) -> Event:
    from icalendar import Event

    event = Event()
    event.add("uid", uid)
    event.add("dtstamp", now)
    event.add("summary", summary)
    event.add("dtstart", start)
    event.add("dtend", end)
    if location:
        event.add("location", location)
    if note:
        event.add("description", note)
    return event

