"""Whom a node trusts to sign what: the keys of known nodes, and which nodes are members of a
federation. Everything here reads what the federation package recorded (peers and keys)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Flask
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from delegates.errors import Refused
from federation import signing
from federation.identity import local_identity
from federation.models import NodeKey, Peer, PeerKey, PeerStatus, Relation
from node.db import utcnow


def local_id(app: Flask, db: Session) -> str:
    """This node's id (read with the caller's session: see `local_identity`)."""
    return local_identity(app, db).node_id


def is_federation(app: Flask) -> bool:
    """Whether this node runs in the federation role."""
    return bool(app.config["MUTUALAID"].role == "federation")


def node_keys(db: Session, app: Flask, node_id: str, moment: datetime | None = None) -> list[str]:
    """The public keys that verify signatures of `node_id` now (this node's own included)."""
    moment = moment or utcnow()
    if node_id == local_id(app, db):
        own = select(NodeKey.public_key).where(
            or_(NodeKey.valid_until.is_(None), NodeKey.valid_until > moment))
        return list(db.scalars(own))
    peer = db.get(Peer, node_id)
    if peer is None or peer.status == PeerStatus.BLOCKED:
        return []
    stmt = select(PeerKey.public_key).where(
        PeerKey.peer_id == node_id, or_(PeerKey.valid_until.is_(None), PeerKey.valid_until > moment)
    )
    return list(db.scalars(stmt.order_by(PeerKey.id.desc())))


def verify_by(db: Session, app: Flask, document: dict[str, Any], node_id: str, what: str) -> None:
    """Check that `node_id` signed the document; Refused('<what>-bad-signature') otherwise."""
    keys = node_keys(db, app, node_id)
    if not keys:
        raise Refused(f"{what}-unknown-signer", f"{node_id} is not a node this node knows", what)
    try:
        signing.verify_any(document, keys)
    except signing.SignatureError as exc:
        raise Refused(f"{what}-bad-signature", f"not signed by {node_id}: {exc}", what) from None


def check_member_node(db: Session, app: Flask, issuer: str, federation: str) -> None:
    """Refuse unless `issuer` is a member node of `federation`, as far as this node knows.

    The federation itself knows its members (relation "member"). A member node trusts itself,
    and knows other members through the federation's introduction or their node document."""
    me = local_id(app, db)
    if issuer == me:
        if federation not in _my_federations(db) and federation != me:
            raise Refused("not-member-node", f"this node is not a member of {federation}", "mandate")
        return
    peer = db.get(Peer, issuer)
    if peer is None or peer.status == PeerStatus.BLOCKED:
        raise Refused("not-member-node", f"{issuer} is not a node this node knows", "mandate")
    if federation == me:
        ok = peer.relation == Relation.MEMBER
    else:
        ok = peer.introduced_by == federation or federation in (peer.member_of or [])
    if not ok:
        raise Refused("not-member-node", f"{issuer} is not a member node of {federation}", "mandate")


def check_known_federation(db: Session, app: Flask, federation: str) -> None:
    """Refuse a document of a federation this node neither is nor belongs to."""
    if federation == local_id(app, db) and is_federation(app):
        return
    if federation not in _my_federations(db):
        raise Refused("unknown-federation", f"this node is not a member of {federation}", "federation")


def _my_federations(db: Session) -> set[str]:
    stmt = select(Peer.id).where(Peer.relation == Relation.FEDERATION, Peer.status == PeerStatus.ALLOWED)
    return set(db.scalars(stmt))
