"""What a node keeps about delegation: mandates (its own and those it heard of), recall
petitions, and the council's proposals and delegates' acts (at the federation, and mirrored at
every member node that hears them)."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from node.assemblies.methods import Method, Stance
from node.db import Base, new_id, utcnow
from node.resources.models import _enum  # the one way enums are stored


class MandateStatus(enum.StrEnum):
    AWAITING_KEY = "awaiting_key"  # elected; the delegate has not registered a key yet
    LIVE = "live"  # signed and announced (it may still have run out: see expires_at)
    RECALLED = "recalled"


class Mandate(Base):
    """A mandate this node issued or heard of. `credential` is the signed document as received,
    the only thing other nodes trust; the local columns are for this node's own mandates."""

    __tablename__ = "delegate_mandates"
    __table_args__ = (Index("ix_delegate_mandates_federation", "federation", "status"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    issuer: Mapped[str] = mapped_column(String(64), index=True)
    federation: Mapped[str] = mapped_column(String(64))
    delegate_handle: Mapped[str] = mapped_column(String(40))
    public_key: Mapped[str | None] = mapped_column(String(64))
    scope: Mapped[list[str]] = mapped_column(JSON, default=list)
    positions: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    status: Mapped[MandateStatus] = mapped_column(_enum(MandateStatus, "mandate_status"))
    issued_at: Mapped[datetime | None]
    expires_at: Mapped[datetime]
    credential: Mapped[str | None] = mapped_column(Text)
    recalled_at: Mapped[datetime | None]
    recall: Mapped[str | None] = mapped_column(Text)  # the signed recall document
    recall_reason: Mapped[str] = mapped_column(String(500), default="")
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    # This node's own mandates only: the assembly, its decision and the member elected.
    assembly_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("assemblies.id", ondelete="SET NULL"))
    decision_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("assembly_decisions.id", ondelete="SET NULL")
    )
    member_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL"), index=True
    )
    recall_decision_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("assembly_decisions.id", ondelete="SET NULL")
    )


class PetitionStatus(enum.StrEnum):
    OPEN = "open"
    TRIGGERED = "triggered"  # reached its threshold: a recall vote is open in the assembly
    CLOSED = "closed"  # the mandate ended or was recalled another way


class RecallPetition(Base):
    """Members asking for a recall vote on a mandate; at the threshold, the vote opens."""

    __tablename__ = "delegate_recall_petitions"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    mandate_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("delegate_mandates.id", ondelete="CASCADE"), index=True
    )
    reason: Mapped[str] = mapped_column(String(1000))
    status: Mapped[PetitionStatus] = mapped_column(
        _enum(PetitionStatus, "petition_status"), default=PetitionStatus.OPEN
    )
    threshold: Mapped[int]
    opened_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))
    proposal_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("assembly_proposals.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    triggered_at: Mapped[datetime | None]


class PetitionSignature(Base):
    """One member's signature on a recall petition: once per member."""

    __tablename__ = "delegate_petition_signatures"
    __table_args__ = (UniqueConstraint("petition_id", "member_id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    petition_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("delegate_recall_petitions.id", ondelete="CASCADE"), index=True
    )
    member_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)
    signed_at: Mapped[datetime] = mapped_column(default=utcnow)


class CouncilStatus(enum.StrEnum):
    OPEN = "open"
    DECIDED = "decided"


class CouncilProposal(Base):
    """A question before a federation's council, as the federation signed it."""

    __tablename__ = "council_proposals"
    __table_args__ = (Index("ix_council_proposals_federation_status", "federation", "status"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    federation: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(120))
    text: Mapped[str] = mapped_column(Text)
    topic: Mapped[str] = mapped_column(String(40))
    method: Mapped[Method] = mapped_column(_enum(Method, "council_method"))
    quorum: Mapped[int]
    supermajority_num: Mapped[int]
    supermajority_den: Mapped[int]
    opened_at: Mapped[datetime]
    closes_at: Mapped[datetime | None]
    proposed_by_node: Mapped[str | None] = mapped_column(String(64))
    document: Mapped[str] = mapped_column(Text)  # the federation's signed proposal
    status: Mapped[CouncilStatus] = mapped_column(
        _enum(CouncilStatus, "council_status"), default=CouncilStatus.OPEN
    )
    outcome: Mapped[str | None] = mapped_column(String(20))
    counts: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    decided_at: Mapped[datetime | None]
    decision: Mapped[str | None] = mapped_column(Text)  # the federation's signed decision
    # At a member node: set when the federation's decision differs from this node's own count.
    disagreement: Mapped[str] = mapped_column(String(300), default="")
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class Act(Base):
    """A delegate's signed act as accepted here. A vote counts while `counted_key` is set; a
    recall voids it (the key is cleared), and the unique key keeps one counted vote per member
    node and proposal even when two arrive at once."""

    __tablename__ = "council_acts"
    __table_args__ = (Index("ix_council_acts_proposal", "proposal_id", "kind"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)  # the act's own id: replays stop here
    kind: Mapped[str] = mapped_column(String(20))  # vote, statement, proposal
    mandate_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("delegate_mandates.id", ondelete="CASCADE"),
                                                  index=True)
    node: Mapped[str] = mapped_column(String(64))  # the mandate's issuer
    federation: Mapped[str] = mapped_column(String(64))
    proposal_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("council_proposals.id", ondelete="CASCADE")
    )
    stance: Mapped[Stance | None] = mapped_column(_enum(Stance, "act_stance"))
    text: Mapped[str] = mapped_column(Text, default="")
    document: Mapped[str] = mapped_column(Text)  # the delegate's signed act
    created: Mapped[datetime]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    counted_key: Mapped[str | None] = mapped_column(String(110), unique=True)
    voided_at: Mapped[datetime | None]
    void_reason: Mapped[str] = mapped_column(String(300), default="")
