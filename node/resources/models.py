"""Needs and offers (listings), categories, the inventory of shareable things, and matches."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, Enum, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from node.db import Base, new_id, utcnow
from node.members.models import Member


def _enum(kind: type[enum.Enum], name: str) -> Enum:
    # Stored as plain strings with a CHECK, so adding a value needs no PostgreSQL type change.
    return Enum(kind, name=name, native_enum=False, length=20, values_callable=_values)


def _values(kind: type[enum.Enum]) -> list[str]:
    return [str(member.value) for member in kind]


class ListingKind(enum.StrEnum):
    NEED = "need"
    OFFER = "offer"


class Urgency(enum.StrEnum):
    ROUTINE = "routine"
    SOON = "soon"
    URGENT = "urgent"
    EMERGENCY = "emergency"


class ListingStatus(enum.StrEnum):
    OPEN = "open"
    MATCHED = "matched"
    FULFILLED = "fulfilled"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"


class InventoryKind(enum.StrEnum):
    SKILL = "skill"
    TOOL = "tool"
    VEHICLE = "vehicle"
    SPACE = "space"


class MatchStatus(enum.StrEnum):
    PROPOSED = "proposed"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    CANCELLED = "cancelled"
    FULFILLED = "fulfilled"


class Category(Base):
    """A kind of need or offer. The built-in ones come from the plan; a node may add more."""

    __tablename__ = "categories"

    slug: Mapped[str] = mapped_column(String(40), primary_key=True)
    label: Mapped[str] = mapped_column(String(80))
    builtin: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Listing(Base):
    """A need or an offer posted by a member."""

    __tablename__ = "listings"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        # Pages of listings are read newest first with this order and these filters: the index
        # hands them over already sorted, and covers the count of all matches (expires_at).
        Index("ix_listings_page", "kind", "status", "created_at", "id", "expires_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    kind: Mapped[ListingKind] = mapped_column(_enum(ListingKind, "listing_kind"))
    member_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE"), index=True
    )
    category: Mapped[str] = mapped_column(ForeignKey("categories.slug"))
    title: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text, default="")
    quantity: Mapped[float]
    unit: Mapped[str] = mapped_column(String(30))
    urgency: Mapped[Urgency] = mapped_column(_enum(Urgency, "urgency"))
    available_from: Mapped[datetime | None]
    available_until: Mapped[datetime | None]
    h3_cell: Mapped[str] = mapped_column(String(16))
    status: Mapped[ListingStatus] = mapped_column(
        _enum(ListingStatus, "listing_status"), default=ListingStatus.OPEN
    )
    expires_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    member: Mapped[Member] = relationship()


class InventoryItem(Base):
    """A skill, tool, vehicle or space a member is willing to share (plan 1.2)."""

    __tablename__ = "inventory_items"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    member_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[InventoryKind] = mapped_column(_enum(InventoryKind, "inventory_kind"))
    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text, default="")
    category: Mapped[str | None] = mapped_column(ForeignKey("categories.slug"))
    h3_cell: Mapped[str | None] = mapped_column(String(16))
    available: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    member: Mapped[Member] = relationship()


class Match(Base):
    """A proposal to meet a need with an offer, and what came of it."""

    __tablename__ = "matches"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    need_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("listings.id", ondelete="CASCADE"), index=True
    )
    offer_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("listings.id", ondelete="CASCADE"), index=True
    )
    proposed_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL")
    )
    status: Mapped[MatchStatus] = mapped_column(
        _enum(MatchStatus, "match_status"), default=MatchStatus.PROPOSED
    )
    note: Mapped[str] = mapped_column(String(500), default="")
    outcome: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None]
    decided_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL")
    )

    need: Mapped[Listing] = relationship(foreign_keys=[need_id])
    offer: Mapped[Listing] = relationship(foreign_keys=[offer_id])
