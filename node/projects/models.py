"""Projects and their working groups, shifts, the tool library, feedback, stories, the ledger,
surveys, uploads and the notification outbox."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from node.db import Base, new_id, utcnow
from node.resources.models import _enum


def _member_fk(ondelete: str = "CASCADE") -> Any:
    return ForeignKey("members.id", ondelete=ondelete)


class ProjectStatus(enum.StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    CLOSED = "closed"


class Project(Base):
    """A pilot project and its working group (plan 2.1, 3.1)."""

    __tablename__ = "projects"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    slug: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text, default="")
    template: Mapped[str | None] = mapped_column(String(40))
    principles: Mapped[list[str]] = mapped_column(JSON, default=list)
    ledger_kinds: Mapped[list[str]] = mapped_column(JSON, default=list)
    status: Mapped[ProjectStatus] = mapped_column(
        _enum(ProjectStatus, "project_status"), default=ProjectStatus.ACTIVE
    )
    h3_cell: Mapped[str | None] = mapped_column(String(16))
    # Consecutive terms one person may hold a coordinating role; set by the assembly.
    coordinator_term_limit: Mapped[int] = mapped_column(default=2)
    term_limit_decision: Mapped[str] = mapped_column(String(300), default="")
    ledger_public: Mapped[bool] = mapped_column(default=False)
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(_member_fk("SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ProjectMember(Base):
    """A member of a project's working group, with the skills and hours they offer it."""

    __tablename__ = "project_members"
    __table_args__ = (UniqueConstraint("project_id", "member_id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    member_id: Mapped[uuid.UUID] = mapped_column(_member_fk(), index=True)
    skills: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Weekly windows [{"weekday": 0-6, "start": "HH:MM", "end": "HH:MM"}]; empty means any time.
    availability: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    in_rotation: Mapped[bool] = mapped_column(default=True)
    joined_at: Mapped[datetime] = mapped_column(default=utcnow)


class ProjectListing(Base):
    """A need or offer posted for a project, or raised by one of its surveys."""

    __tablename__ = "project_listings"

    project_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    listing_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("listings.id", ondelete="CASCADE"), primary_key=True
    )
    source: Mapped[str] = mapped_column(String(20), default="project")


class ProjectReport(Base):
    """What a project reports back to the assembly for a period (plan 3.3)."""

    __tablename__ = "project_reports"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    project_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    period_start: Mapped[date]
    period_end: Mapped[date]
    summary: Mapped[str] = mapped_column(Text, default="")
    requests: Mapped[str] = mapped_column(Text, default="")
    figures: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    author_id: Mapped[uuid.UUID | None] = mapped_column(_member_fk("SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Callout(Base):
    """A call for volunteers sent to the node's members (plan 2.2)."""

    __tablename__ = "callouts"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    project_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    author_id: Mapped[uuid.UUID | None] = mapped_column(_member_fk("SET NULL"))
    message: Mapped[str] = mapped_column(Text)
    skill: Mapped[str | None] = mapped_column(String(60))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# --- shifts and rotation -------------------------------------------------------------------

class Role(Base):
    """A task people take turns at: cook, driver, coordinator, note-taker, facilitator."""

    __tablename__ = "project_roles"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(60))
    skill: Mapped[str | None] = mapped_column(String(60))
    coordinating: Mapped[bool] = mapped_column(default=False)
    description: Mapped[str] = mapped_column(String(500), default="")


class ShiftSeries(Base):
    """A weekly recurring shift; its occurrences are created as Shift rows ahead of time."""

    __tablename__ = "shift_series"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    project_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    role_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("project_roles.id", ondelete="CASCADE"))
    weekday: Mapped[int]
    start_time: Mapped[str] = mapped_column(String(5))
    minutes: Mapped[int]
    slots: Mapped[int] = mapped_column(default=1)
    starts_on: Mapped[date]
    until: Mapped[date | None]
    location: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Shift(Base):
    """One occurrence of a role at a time, with the number of people it needs."""

    __tablename__ = "shifts"
    __table_args__ = (
        UniqueConstraint("series_id", "starts_at"),
        CheckConstraint("slots > 0", name="slots_positive"),
        Index("ix_shifts_project_starts", "project_id", "starts_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    role_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("project_roles.id", ondelete="CASCADE"))
    series_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("shift_series.id", ondelete="SET NULL")
    )
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    slots: Mapped[int] = mapped_column(default=1)
    location: Mapped[str] = mapped_column(String(200), default="")
    note: Mapped[str] = mapped_column(String(500), default="")
    cancelled_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    role: Mapped[Role] = relationship()


class AssignmentSource(enum.StrEnum):
    ROTATION = "rotation"
    SIGNUP = "signup"
    SWAP = "swap"


class Assignment(Base):
    """A member holding a place on a shift."""

    __tablename__ = "shift_assignments"
    __table_args__ = (UniqueConstraint("shift_id", "member_id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    shift_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("shifts.id", ondelete="CASCADE"), index=True)
    member_id: Mapped[uuid.UUID] = mapped_column(_member_fk(), index=True)
    source: Mapped[AssignmentSource] = mapped_column(_enum(AssignmentSource, "assignment_source"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    shift: Mapped[Shift] = relationship()


class SwapStatus(enum.StrEnum):
    PROPOSED = "proposed"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    CANCELLED = "cancelled"


class Swap(Base):
    """A member asking another to take their place, or to trade places."""

    __tablename__ = "shift_swaps"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    assignment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("shift_assignments.id", ondelete="CASCADE"), index=True
    )
    # The other member's assignment taken in exchange, when it is a trade.
    exchange_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("shift_assignments.id", ondelete="CASCADE")
    )
    from_member_id: Mapped[uuid.UUID] = mapped_column(_member_fk())
    to_member_id: Mapped[uuid.UUID] = mapped_column(_member_fk(), index=True)
    status: Mapped[SwapStatus] = mapped_column(_enum(SwapStatus, "swap_status"), default=SwapStatus.PROPOSED)
    note: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None]


class CalendarFeed(Base):
    """A secret URL for a member's calendar app, which cannot send a bearer token."""

    __tablename__ = "calendar_feeds"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    member_id: Mapped[uuid.UUID] = mapped_column(_member_fk(), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]


# --- tool library --------------------------------------------------------------------------

class Condition(enum.StrEnum):
    NEW = "new"
    GOOD = "good"
    FAIR = "fair"
    WORN = "worn"
    NEEDS_REPAIR = "needs_repair"
    BROKEN = "broken"


class LibraryItem(Base):
    """A tool (or anything else) the project lends out."""

    __tablename__ = "library_items"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    project_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text, default="")
    condition: Mapped[Condition] = mapped_column(_enum(Condition, "item_condition"), default=Condition.GOOD)
    # Who brought it to the library, if anyone; it stays in the library if they leave.
    donor_id: Mapped[uuid.UUID | None] = mapped_column(_member_fk("SET NULL"))
    retired: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Loan(Base):
    """An item lent to a member until a due date."""

    __tablename__ = "loans"
    __table_args__ = (
        # At most one open loan per item, enforced by the database itself.
        Index(
            "uq_loans_open_item", "item_id", unique=True,
            sqlite_where=text("returned_at IS NULL"), postgresql_where=text("returned_at IS NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    item_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("library_items.id", ondelete="CASCADE"))
    borrower_id: Mapped[uuid.UUID | None] = mapped_column(_member_fk("SET NULL"), index=True)
    lent_by_id: Mapped[uuid.UUID | None] = mapped_column(_member_fk("SET NULL"))
    lent_at: Mapped[datetime] = mapped_column(default=utcnow)
    due_at: Mapped[datetime]
    returned_at: Mapped[datetime | None]
    condition_out: Mapped[Condition] = mapped_column(_enum(Condition, "condition_out"))
    condition_in: Mapped[Condition | None] = mapped_column(_enum(Condition, "condition_in"))
    last_reminded_at: Mapped[datetime | None]
    note: Mapped[str] = mapped_column(String(500), default="")

    item: Mapped[LibraryItem] = relationship()


class HoldStatus(enum.StrEnum):
    WAITING = "waiting"
    READY = "ready"
    COLLECTED = "collected"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class Hold(Base):
    """A place on an item's waitlist."""

    __tablename__ = "holds"
    __table_args__ = (
        Index(
            "uq_holds_active_member_item", "item_id", "member_id", unique=True,
            sqlite_where=text("status IN ('waiting', 'ready')"),
            postgresql_where=text("status IN ('waiting', 'ready')"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    item_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("library_items.id", ondelete="CASCADE"), index=True)
    member_id: Mapped[uuid.UUID] = mapped_column(_member_fk(), index=True)
    status: Mapped[HoldStatus] = mapped_column(_enum(HoldStatus, "hold_status"), default=HoldStatus.WAITING)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    ready_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]


class RepairNote(Base):
    """What was wrong with an item and what was done about it."""

    __tablename__ = "repair_notes"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    item_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("library_items.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[uuid.UUID | None] = mapped_column(_member_fk("SET NULL"))
    note: Mapped[str] = mapped_column(Text)
    condition: Mapped[Condition] = mapped_column(_enum(Condition, "repair_condition"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# --- stories and uploads ---------------------------------------------------------------------

class Visibility(enum.StrEnum):
    MEMBERS = "members"
    PUBLIC = "public"


class Story(Base):
    """What happened, written up by a member (plan 5.2)."""

    __tablename__ = "stories"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    project_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("projects.id", ondelete="SET NULL"), index=True
    )
    author_id: Mapped[uuid.UUID] = mapped_column(_member_fk(), index=True)
    title: Mapped[str] = mapped_column(String(160))
    body: Mapped[str] = mapped_column(Text)
    visibility: Mapped[Visibility] = mapped_column(
        _enum(Visibility, "visibility"), default=Visibility.MEMBERS
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Upload(Base):
    """A photo stored under instance/uploads/, named by its id; never by the client's name."""

    __tablename__ = "uploads"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    owner_id: Mapped[uuid.UUID] = mapped_column(_member_fk(), index=True)
    content_type: Mapped[str] = mapped_column(String(20))
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    item_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("library_items.id", ondelete="SET NULL"), index=True
    )
    story_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("stories.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# --- feedback and the ledger ---------------------------------------------------------------

class FeedbackSubject(enum.StrEnum):
    MATCH = "match"
    SHIFT = "shift"
    LOAN = "loan"


class Side(enum.StrEnum):
    GIVER = "giver"
    RECEIVER = "receiver"


class Feedback(Base):
    """How an exchange, a match or a shift went, from one side (plan 5.1)."""

    __tablename__ = "feedback"
    __table_args__ = (
        UniqueConstraint("subject", "subject_id", "author_id"),
        CheckConstraint("rating >= 1 AND rating <= 5", name="rating_range"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    subject: Mapped[FeedbackSubject] = mapped_column(_enum(FeedbackSubject, "feedback_subject"))
    subject_id: Mapped[uuid.UUID]
    project_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    author_id: Mapped[uuid.UUID] = mapped_column(_member_fk(), index=True)
    side: Mapped[Side] = mapped_column(_enum(Side, "feedback_side"))
    rating: Mapped[int]
    comment: Mapped[str] = mapped_column(Text, default="")
    anonymous: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Direction(enum.StrEnum):
    IN = "in"
    OUT = "out"


class LedgerEntry(Base):
    """Something that came into or went out of a project; entries are never edited (plan 3.5)."""

    __tablename__ = "ledger_entries"
    __table_args__ = (CheckConstraint("quantity > 0", name="quantity_positive"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    project_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    direction: Mapped[Direction] = mapped_column(_enum(Direction, "ledger_direction"))
    kind: Mapped[str] = mapped_column(String(40))
    description: Mapped[str] = mapped_column(String(300), default="")
    quantity: Mapped[float]
    unit: Mapped[str] = mapped_column(String(30))
    occurred_at: Mapped[datetime]
    recorded_by_id: Mapped[uuid.UUID | None] = mapped_column(_member_fk("SET NULL"))
    # A correction names the entry it reverses instead of editing it.
    corrects_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("ledger_entries.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# --- surveys -------------------------------------------------------------------------------

class SurveyStatus(enum.StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class Audience(enum.StrEnum):
    MEMBERS = "members"
    NEIGHBOURS = "neighbours"


class Survey(Base):
    """A needs assessment a project sends to members or neighbours (plan 1.1)."""

    __tablename__ = "surveys"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    project_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str] = mapped_column(String(160))
    intro: Mapped[str] = mapped_column(Text, default="")
    questions: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    status: Mapped[SurveyStatus] = mapped_column(
        _enum(SurveyStatus, "survey_status"), default=SurveyStatus.OPEN
    )
    audience: Mapped[Audience] = mapped_column(_enum(Audience, "survey_audience"), default=Audience.MEMBERS)
    # Neighbours without an account answer through a secret link; only its hash is kept.
    link_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(_member_fk("SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[datetime | None]


class SurveyResponse(Base):
    """One person's answers and the needs they became."""

    __tablename__ = "survey_responses"
    __table_args__ = (UniqueConstraint("survey_id", "member_id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    survey_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"), index=True)
    member_id: Mapped[uuid.UUID | None] = mapped_column(_member_fk(), index=True)
    answers: Mapped[dict[str, Any]] = mapped_column(JSON)
    h3_cell: Mapped[str | None] = mapped_column(String(16))
    need_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# --- notifications -------------------------------------------------------------------------

class NotificationStatus(enum.StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


class Delivery(enum.StrEnum):
    OFF = "off"
    INSTANT = "instant"
    DIGEST = "digest"


class NotificationPrefs(Base):
    """What a member wants to hear about, and how."""

    __tablename__ = "notification_prefs"

    member_id: Mapped[uuid.UUID] = mapped_column(_member_fk(), primary_key=True)
    choices: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    last_digest_at: Mapped[datetime | None]


class Notification(Base):
    """One message to one member, recorded with the change it tells of and sent after commit."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_status_due", "status", "next_attempt_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    member_id: Mapped[uuid.UUID] = mapped_column(_member_fk(), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    delivery: Mapped[Delivery] = mapped_column(_enum(Delivery, "delivery"))
    # Stops the same reminder from being queued twice.
    dedupe_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    status: Mapped[NotificationStatus] = mapped_column(
        _enum(NotificationStatus, "notification_status"), default=NotificationStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    last_error: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
