"""What a node keeps about the federation: its identity and keys, the nodes it knows, every
envelope it has sent, received or relayed, and what is still to be delivered to each peer."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from node.db import Base, utcnow
from node.resources.models import _enum  # the one way enums are stored


class PeerStatus(enum.StrEnum):
    ALLOWED = "allowed"
    BLOCKED = "blocked"


class PeerRole(enum.StrEnum):
    NEIGHBOURHOOD = "neighbourhood"
    FEDERATION = "federation"


class Relation(enum.StrEnum):
    """How a known node stands to this one."""

    PEER = "peer"  # a direct link both ways, neither a member of the other
    FEDERATION = "federation"  # a federation this node is a member of
    MEMBER = "member"  # a member node of this federation
    INTRODUCED = "introduced"  # known through a federation's introduction; no direct link


class EnvelopeOrigin(enum.StrEnum):
    LOCAL = "local"  # published by this node
    INBOX = "inbox"  # pushed to our inbox
    PULL = "pull"  # fetched from a feed during catch-up
    BUNDLE = "bundle"  # imported from an offline bundle


class Identity(Base):
    """This node's own identity: one row, written by `mutualaid init`."""

    __tablename__ = "federation_identity"

    id: Mapped[int] = mapped_column(primary_key=True)
    node_id: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class NodeKey(Base):
    """A public key of this node. The private half lives only in the instance folder."""

    __tablename__ = "federation_node_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_key: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Set when a newer key takes over signing; verification still accepts it until valid_until.
    retired_at: Mapped[datetime | None]
    valid_until: Mapped[datetime | None]


class Peer(Base):
    """A node this node knows: direct peers, its federations, members, introduced nodes."""

    __tablename__ = "federation_peers"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # the node id
    name: Mapped[str] = mapped_column(String(120), default="")
    url: Mapped[str | None] = mapped_column(String(500))
    role: Mapped[PeerRole] = mapped_column(_enum(PeerRole, "peer_role"), default=PeerRole.NEIGHBOURHOOD)
    relation: Mapped[Relation] = mapped_column(_enum(Relation, "peer_relation"), default=Relation.PEER)
    status: Mapped[PeerStatus] = mapped_column(_enum(PeerStatus, "peer_status"), default=PeerStatus.ALLOWED)
    fingerprint: Mapped[str] = mapped_column(String(64))
    # Federations this node is a member of (ids), as the node document says; for audiences.
    member_of: Mapped[list[str]] = mapped_column(JSON, default=list)
    introduced_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Delivery health, kept by the outbox drainer.
    last_success_at: Mapped[datetime | None]
    last_failure_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(500))
    consecutive_failures: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None]
    # One drainer per peer across all workers: a lease taken with a conditional UPDATE.
    lease_owner: Mapped[str | None] = mapped_column(String(80))
    lease_until: Mapped[datetime | None]


class PeerKey(Base):
    """A public key of a known node, with the time until which it verifies."""

    __tablename__ = "federation_peer_keys"
    __table_args__ = (UniqueConstraint("peer_id", "public_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    peer_id: Mapped[str] = mapped_column(ForeignKey("federation_peers.id", ondelete="CASCADE"), index=True)
    public_key: Mapped[str] = mapped_column(String(64))
    valid_until: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Counter(Base):
    """Named counters taken under a row lock, so sequence numbers commit in order, gap-free."""

    __tablename__ = "federation_counters"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)


class Envelope(Base):
    """Every envelope this node has published, received or relayed: the dedupe record and
    the signed log that catch-up reads (`sender`, `seq`)."""

    __tablename__ = "federation_envelopes"
    __table_args__ = (
        UniqueConstraint("sender", "seq"),
        Index("ix_federation_envelopes_expires", "expires"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    sender: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int] = mapped_column(BigInteger)
    type: Mapped[str] = mapped_column(String(40))
    priority: Mapped[int] = mapped_column(Integer, default=0)
    created: Mapped[datetime]
    expires: Mapped[datetime]
    raw: Mapped[str] = mapped_column(Text)  # the envelope exactly as signed, as JSON text
    origin: Mapped[EnvelopeOrigin] = mapped_column(_enum(EnvelopeOrigin, "envelope_origin"))
    via: Mapped[str | None] = mapped_column(String(64))  # the node it came from on the last hop
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    # What applying it did: "applied", or "ignored: <why>" (not for us, superseded, ...).
    outcome: Mapped[str] = mapped_column(String(200), default="applied")

    def document(self) -> dict[str, Any]:
        """The signed envelope as a JSON object."""
        import json

        value: dict[str, Any] = json.loads(self.raw)
        return value


class Delivery(Base):
    """One envelope still to be delivered to one peer; deleted once the peer has it."""

    __tablename__ = "federation_deliveries"
    __table_args__ = (
        UniqueConstraint("peer_id", "envelope_id"),
        Index("ix_federation_deliveries_queue", "peer_id", "priority", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    peer_id: Mapped[str] = mapped_column(ForeignKey("federation_peers.id", ondelete="CASCADE"))
    envelope_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("federation_envelopes.id", ondelete="CASCADE"), index=True
    )
    priority: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(default=0)


class SenderCursor(Base):
    """How far this node has every envelope of one sender, for gap detection and catch-up."""

    __tablename__ = "federation_sender_cursors"

    sender: Mapped[str] = mapped_column(String(64), primary_key=True)
    # Every seq up to and including this one is in federation_envelopes.
    contiguous_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    highest_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    last_pull_at: Mapped[datetime | None]


class RemoteListing(Base):
    """A need or surplus published by another node, as its last envelope described it."""

    __tablename__ = "federation_remote_listings"
    __table_args__ = (Index("ix_federation_remote_listings_open", "kind", "status", "category"),)

    node_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    listing_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))  # "need" or "surplus"
    category: Mapped[str] = mapped_column(String(40))
    title: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text, default="")
    quantity: Mapped[float]
    unit: Mapped[str] = mapped_column(String(30))
    urgency: Mapped[str] = mapped_column(String(20))
    h3_cell: Mapped[str] = mapped_column(String(16))
    handle: Mapped[str] = mapped_column(String(40))  # pseudonymous; never a name
    status: Mapped[str] = mapped_column(String(20), default="open")
    available_from: Mapped[datetime | None]
    available_until: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    # The seq of the envelope that last changed it, so an older update never overwrites a newer.
    version_seq: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class PledgeStatus(enum.StrEnum):
    OFFERED = "offered"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    EXPIRED = "expired"
    WITHDRAWN = "withdrawn"
    FULFILLED = "fulfilled"  # delivered, as the owner records (federation/takeover.py)
    TAKEN_OVER = "taken_over"  # another node took the stalled pledge over


class Pledge(Base):
    """A pledge between nodes against a need or surplus. Only the owning node accepts it, so
    nothing is promised twice; both the pledging and the owning node keep a row."""

    __tablename__ = "federation_pledges"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    owner_node: Mapped[str] = mapped_column(String(64), index=True)
    listing_id: Mapped[uuid.UUID] = mapped_column(index=True)
    listing_kind: Mapped[str] = mapped_column(String(10))
    pledger_node: Mapped[str] = mapped_column(String(64))
    # On the pledging side, the local listing that backs the pledge (a surplus or a need).
    pledger_listing_id: Mapped[uuid.UUID | None]
    quantity: Mapped[float]
    unit: Mapped[str] = mapped_column(String(30))
    note: Mapped[str] = mapped_column(String(500), default="")
    status: Mapped[PledgeStatus] = mapped_column(
        _enum(PledgeStatus, "pledge_status"), default=PledgeStatus.OFFERED
    )
    reason: Mapped[str] = mapped_column(String(300), default="")
    lease_until: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None]
    # The pledger's last word that an accepted pledge is moving (pledge.progress).
    progress_at: Mapped[datetime | None]


class Rejection(Base):
    """An envelope a peer refused for good: kept so an operator can read why, never resent."""

    __tablename__ = "federation_rejections"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    peer_id: Mapped[str] = mapped_column(ForeignKey("federation_peers.id", ondelete="CASCADE"), index=True)
    envelope_id: Mapped[uuid.UUID]
    envelope_type: Mapped[str] = mapped_column(String(40))
    reason: Mapped[str] = mapped_column(String(40))
    detail: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# Incidents, solidarity requests and take-overs keep their tables beside their rules; imported
# here so that migrations see them.
from federation import incidents as _incidents  # noqa: E402, F401
from federation import solidarity as _solidarity  # noqa: E402, F401
from federation import takeover as _takeover  # noqa: E402, F401
