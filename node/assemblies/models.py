"""Assemblies, their agenda, proposals and amendments, members' positions, decisions and minutes."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from node.assemblies.methods import Method, Outcome, Stance
from node.db import Base, new_id, utcnow
from node.resources.models import _enum  # the one way enums are stored


class AssemblyKind(enum.StrEnum):
    STANDING = "standing"  # always in session; each proposal has its own time to close
    SCHEDULED = "scheduled"  # meets from starts_at to ends_at


class AssemblyStatus(enum.StrEnum):
    SCHEDULED = "scheduled"
    OPEN = "open"
    CLOSED = "closed"


class ProposalStatus(enum.StrEnum):
    OPEN = "open"
    PASSED = "passed"
    REJECTED = "rejected"
    BLOCKED = "blocked"
    NO_QUORUM = "no_quorum"
    WITHDRAWN = "withdrawn"


class Assembly(Base):
    """An open assembly of the node's members and the rules it decides by (plan 3.1, 3.2)."""

    __tablename__ = "assemblies"
    __table_args__ = (
        CheckConstraint("quorum_count >= 1", name="quorum_count_positive"),
        CheckConstraint("quorum_percent >= 0 AND quorum_percent <= 100", name="quorum_percent_range"),
        CheckConstraint(
            "supermajority_num > 0 AND supermajority_num <= supermajority_den", name="supermajority_fraction"
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    title: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text, default="")
    kind: Mapped[AssemblyKind] = mapped_column(_enum(AssemblyKind, "assembly_kind"))
    status: Mapped[AssemblyStatus] = mapped_column(_enum(AssemblyStatus, "assembly_status"))
    location: Mapped[str] = mapped_column(String(200), default="")
    starts_at: Mapped[datetime | None]
    ends_at: Mapped[datetime | None]
    method: Mapped[Method] = mapped_column(_enum(Method, "decision_method"))
    quorum_count: Mapped[int] = mapped_column(default=1)
    quorum_percent: Mapped[int] = mapped_column(default=0)
    supermajority_num: Mapped[int] = mapped_column(default=2)
    supermajority_den: Mapped[int] = mapped_column(default=3)
    max_stand_asides: Mapped[int | None]
    # Delegates: how long one mandate may run, and how many a member may hold in a window,
    # so that delegation rotates instead of settling on the same few people (plan 3.4, 4.4).
    delegate_term_days: Mapped[int] = mapped_column(default=90)
    delegate_max_terms: Mapped[int] = mapped_column(default=2)
    delegate_rotation_days: Mapped[int] = mapped_column(default=365)
    # A recall petition opens a recall vote once this many members sign it.
    recall_petition_count: Mapped[int] = mapped_column(default=3)
    recall_petition_percent: Mapped[int] = mapped_column(default=10)
    convened_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[datetime | None]


class AgendaItem(Base):
    """One point on an assembly's agenda."""

    __tablename__ = "assembly_agenda_items"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    assembly_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("assemblies.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int]
    title: Mapped[str] = mapped_column(String(120))
    notes: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Proposal(Base):
    """Something put to the assembly; an amendment is a proposal that amends another."""

    __tablename__ = "assembly_proposals"
    __table_args__ = (Index("ix_assembly_proposals_assembly_status", "assembly_id", "status"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    assembly_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("assemblies.id", ondelete="CASCADE"))
    agenda_item_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("assembly_agenda_items.id", ondelete="SET NULL")
    )
    # "general", "amendment", or a kind another package handles ("mandate", "recall").
    kind: Mapped[str] = mapped_column(String(30), default="general")
    title: Mapped[str] = mapped_column(String(120))
    text: Mapped[str] = mapped_column(Text)
    # Bumped when an amendment passes; positions taken on an older text no longer count.
    version: Mapped[int] = mapped_column(default=1)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    amends_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("assembly_proposals.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[ProposalStatus] = mapped_column(
        _enum(ProposalStatus, "proposal_status"), default=ProposalStatus.OPEN
    )
    proposed_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    closes_at: Mapped[datetime | None]
    decided_at: Mapped[datetime | None]


class Position(Base):
    """One member's position on one version of a proposal: taken once, never twice."""

    __tablename__ = "assembly_positions"
    __table_args__ = (UniqueConstraint("proposal_id", "member_id", "version"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    proposal_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("assembly_proposals.id", ondelete="CASCADE"), index=True
    )
    member_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)
    version: Mapped[int]
    stance: Mapped[Stance] = mapped_column(_enum(Stance, "stance"))
    reason: Mapped[str] = mapped_column(String(1000), default="")
    cast_at: Mapped[datetime] = mapped_column(default=utcnow)


class Decision(Base):
    """The outcome of a closed proposal, kept in the assembly's open record."""

    __tablename__ = "assembly_decisions"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    assembly_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("assemblies.id", ondelete="CASCADE"), index=True
    )
    proposal_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("assembly_proposals.id", ondelete="CASCADE"), unique=True
    )
    kind: Mapped[str] = mapped_column(String(30))
    title: Mapped[str] = mapped_column(String(120))
    text: Mapped[str] = mapped_column(Text)  # the text as decided, after amendments
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    method: Mapped[Method] = mapped_column(_enum(Method, "decision_method"))
    outcome: Mapped[Outcome] = mapped_column(_enum(Outcome, "decision_outcome"))
    counts: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    participants: Mapped[int]
    quorum: Mapped[int]
    explanation: Mapped[str] = mapped_column(String(300), default="")
    decided_at: Mapped[datetime] = mapped_column(default=utcnow)


class Minute(Base):
    """One entry of an assembly's minutes: what happened, when, and who said it."""

    __tablename__ = "assembly_minutes"
    __table_args__ = (Index("ix_assembly_minutes_assembly", "assembly_id", "id"),)

    # A counter, not a uuid: minutes written in one transaction keep their order.
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    assembly_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("assemblies.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    # "note", "opened", "closed", "proposal", "amendment", "decision", "report", "recall", ...
    kind: Mapped[str] = mapped_column(String(30))
    text: Mapped[str] = mapped_column(Text)
    author_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))
    author_handle: Mapped[str | None] = mapped_column(String(40))
    proposal_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("assembly_proposals.id", ondelete="SET NULL")
    )
