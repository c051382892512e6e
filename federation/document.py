"""The node document at /.well-known/mutualaid: who this node is and how to reach it.

It lists every key of the node, current and retired (with the time until which a retired key
still verifies), and is signed with the current key, so a node adding this one as a peer can
check both the fingerprint given out of band and that the document comes from the key holder.
"""

from __future__ import annotations

from importlib import metadata
from typing import Annotated, Any, Literal

from flask import Flask
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy import select
from sqlalchemy.orm import Session

from federation import signing
from federation.bodies import KEY_PATTERN, NODE_ID_PATTERN, Timestamp
from federation.envelope import format_time
from federation.feed import FEED_PATH
from federation.identity import local_identity
from federation.keys import node_id_for
from federation.models import NodeKey, Peer, PeerStatus, Relation

PATH = "/.well-known/mutualaid"
INBOX_PATH = "/federation/inbox"
PROTOCOL = 1


class DocumentKey(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key: Annotated[str, StringConstraints(pattern=KEY_PATTERN)]
    created: Timestamp
    valid_until: Timestamp | None = None
    current: bool


class NodeDocument(BaseModel):
    """The node document as published and as checked when fetched from another node."""

    model_config = ConfigDict(extra="ignore")  # later protocol versions may add members
    id: Annotated[str, StringConstraints(pattern=NODE_ID_PATTERN)]
    name: Annotated[str, StringConstraints(max_length=120)]
    role: Literal["neighbourhood", "federation"]
    protocol: int
    keys: Annotated[list[DocumentKey], Field(min_length=1, max_length=64)]
    endpoints: dict[str, Annotated[str, StringConstraints(max_length=500)]]
    member_of: Annotated[list[Annotated[str, StringConstraints(pattern=NODE_ID_PATTERN)]],
                         Field(max_length=32)] = Field(default_factory=list)
    software: str = ""
    sig: str

    def current_key(self) -> str:
        """The key the node signs with now."""
        return next(k.key for k in self.keys if k.current)


class DocumentError(Exception):
    """A fetched node document is unusable; the message says why."""


def build(db: Session, app: Flask) -> dict[str, Any]:
    """This node's document, signed with its current key."""
    identity = local_identity(app)
    settings = app.config["MUTUALAID"]
    base = settings.public_url.rstrip("/")
    keys = [
        {"key": row.public_key, "created": format_time(row.created_at),
         "valid_until": format_time(row.valid_until) if row.valid_until else None,
         "current": row.public_key == identity.public_key}
        # Retired keys stay listed: the first one is what the node id is derived from.
        for row in db.scalars(select(NodeKey).order_by(NodeKey.id))
    ]
    document = {
        "id": identity.node_id,
        "name": settings.node_name,
        "role": settings.role,
        "protocol": PROTOCOL,
        "keys": keys,
        "endpoints": {"inbox": base + INBOX_PATH, "feed": base + FEED_PATH, "document": base + PATH},
        "member_of": member_of(db),
        "software": f"mutualaid {_version()}",
    }
    return signing.sign(document, identity.key)


def member_of(db: Session) -> list[str]:
    """The federations this node is a member of."""
    return list(db.scalars(select(Peer.id).where(
        Peer.relation == Relation.FEDERATION, Peer.status == PeerStatus.ALLOWED
    ).order_by(Peer.id)))


def check(value: Any) -> NodeDocument:
    """A fetched document, checked: shape, one current key, signed by it, id from its keys."""
    try:
        document = NodeDocument.model_validate(value)
    except ValueError as exc:
        raise DocumentError(f"not a node document: {exc}") from None
    if document.protocol != PROTOCOL:
        raise DocumentError(f"speaks protocol {document.protocol}; this node speaks {PROTOCOL}")
    if sum(1 for k in document.keys if k.current) != 1:
        raise DocumentError("the document must mark exactly one key as current")
    try:
        signing.verify(value, document.current_key())
    except signing.SignatureError as exc:
        raise DocumentError(f"the document is not signed by its current key: {exc}") from None
    if not any(node_id_for(k.key) == document.id for k in document.keys):
        # The id is derived from the node's first key, which it keeps listing.
        raise DocumentError("the node id is not derived from any of its keys")
    return document


def _version() -> str:
    try:
        return metadata.version("mutualaid")
    except metadata.PackageNotFoundError:
        return "unknown"
