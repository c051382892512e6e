"""The nodes this node federates with: adding one by URL after an out-of-band fingerprint
check, blocking and unblocking, and how delivery to each stands.

Only nodes added here (and nodes a federation of ours introduces) may send to this node:
the allow-list is the default. A federation introduces every node it adds (members, peer federations, its
own federations) with a `peer.introduced` envelope to everyone, so that envelopes relayed
from them verify wherever they arrive.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from federation import bodies, document
from federation.http import send
from federation.identity import local_identity
from federation.keys import fingerprint as fingerprint_of
from federation.models import Peer, PeerKey, PeerRole, PeerStatus, Relation
from node.errors import Conflict, FieldError, NotFound, Unavailable, ValidationFailed

ADDABLE = (Relation.PEER, Relation.FEDERATION, Relation.MEMBER)
_HEX = re.compile(r"[^0-9a-f]")


def normalise_fingerprint(text: str) -> str:
    """A fingerprint as bare lowercase hex, however it was written down (colons, spaces)."""
    return _HEX.sub("", text.lower())


def normalise_url(url: str) -> str:
    """The node's base URL without a trailing slash; ValidationFailed unless http(s)."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ValidationFailed("not a node URL", [FieldError("url", "must be an http(s) URL of a node")])
    return url.strip().rstrip("/")


def fetch_document(app: Flask, url: str) -> tuple[document.NodeDocument, dict[str, Any]]:
    """Fetch and check another node's document; an Unavailable or ValidationFailed problem."""
    import requests  # loaded on the first call to another node, not with the app

    try:
        response = send(app, "GET", url + document.PATH, {"Accept": "application/json"})
    except requests.RequestException as exc:
        raise Unavailable(f"could not reach {url}: {type(exc).__name__}") from None
    if response.status != 200:
        raise Unavailable(f"{url}{document.PATH} answered HTTP {response.status}")
    try:
        raw = response.json()
        return document.check(raw), raw
    except (ValueError, document.DocumentError) as exc:
        raise ValidationFailed("not a usable node", [FieldError("url", str(exc)[:300])]) from None


def add_peer(db: Session, app: Flask, url: str, fingerprint: str, relation: Relation) -> Peer:
    """Add (or refresh) a node by URL once its key matches the fingerprint given out of band."""
    url = normalise_url(url)
    doc, _ = fetch_document(app, url)
    current = doc.current_key()
    if normalise_fingerprint(fingerprint) != normalise_fingerprint(fingerprint_of(current)):
        raise ValidationFailed(
            "the fingerprint does not match",
            [FieldError("fingerprint", f"the node at {url} has the key fingerprint "
                        f"{fingerprint_of(current)}; add it only if its operator confirms that one")],
        )
    return record_peer(db, app, doc, url, relation)


def record_peer(db: Session, app: Flask, doc: document.NodeDocument, url: str, relation: Relation) -> Peer:
    """Store a checked node document as a peer with the given relation, and its keys."""
    local = local_identity(app)
    role = app.config["MUTUALAID"].role
    _check_relation(doc, relation, local.node_id, role)
    peer = db.get(Peer, doc.id)
    if peer is None:
        peer = Peer(id=doc.id, status=PeerStatus.ALLOWED)
        db.add(peer)
    peer.name, peer.url, peer.role = doc.name, url, PeerRole(doc.role)
    peer.relation, peer.member_of = relation, list(doc.member_of)
    peer.fingerprint = fingerprint_of(doc.current_key())
    peer.introduced_by = None
    db.flush()  # the peer row before its keys (no ORM relationship orders them)
    known = {k.public_key: k for k in db.scalars(select(PeerKey).where(PeerKey.peer_id == doc.id))}
    for item in doc.keys:
        row = known.get(item.key)
        if row is None:
            db.add(PeerKey(peer_id=doc.id, public_key=item.key, valid_until=item.valid_until))
        elif item.valid_until is not None:
            row.valid_until = item.valid_until
    db.flush()
    if role == "federation":
        introduce(db, app, peer)
    return peer


def _check_relation(doc: document.NodeDocument, relation: Relation, local_id: str, role: str) -> None:
    if doc.id == local_id:
        raise ValidationFailed("that is this node", [FieldError("url", "the URL leads to this node itself")])
    if relation not in ADDABLE:
        raise ValidationFailed("bad relation", [FieldError("relation", "must be peer, federation or member")])
    if relation == Relation.FEDERATION and doc.role != "federation":
        raise ValidationFailed("not a federation", [FieldError("relation", "that node is not a federation")])
    if relation == Relation.MEMBER and role != "federation":
        raise ValidationFailed("not a federation", [FieldError("relation", "only a federation has members")])


def introduce(db: Session, app: Flask, peer: Peer) -> None:
    """Vouch for a node this federation added (its id, URL and keys) to everyone it reaches."""
    from federation.outbox import publish

    keys = db.scalars(select(PeerKey).where(PeerKey.peer_id == peer.id).order_by(PeerKey.id))
    body = bodies.PeerIntroduced(
        node=peer.id, name=peer.name, url=peer.url, role=peer.role.value,
        keys=[bodies.IntroducedKey(key=k.public_key, valid_until=k.valid_until) for k in keys],
        member_of=list(peer.member_of or []),
    )
    publish(db, app, "peer.introduced", body)


def get_peer(db: Session, peer_id: str) -> Peer:
    """A known node, or a 404 problem."""
    peer = db.get(Peer, peer_id)
    if peer is None:
        raise NotFound(f"no known node {peer_id}")
    return peer


def set_status(db: Session, peer_id: str, status: PeerStatus) -> Peer:
    """Block or allow a node; blocked nodes are neither delivered to nor heard."""
    peer = get_peer(db, peer_id)
    if peer.status == status:
        raise Conflict(f"{peer_id} is already {status.value}")
    peer.status = status
    if status == PeerStatus.BLOCKED:
        peer.lease_owner = peer.lease_until = None
    db.flush()
    return peer


def describe(db: Session, app: Flask, peers: list[Peer]) -> list[dict[str, Any]]:
    """Peers with their delivery health, lag and last success, ready for JSON."""
    from federation.outbox import peer_health

    health = peer_health(db, app.config["MUTUALAID"], [p.id for p in peers])
    items = []
    for peer in peers:
        state = health.get(peer.id)
        items.append({
            "id": peer.id, "name": peer.name, "url": peer.url, "role": peer.role.value,
            "relation": peer.relation.value, "status": peer.status.value,
            "fingerprint": peer.fingerprint, "member_of": list(peer.member_of or []),
            "introduced_by": peer.introduced_by, "created_at": peer.created_at.isoformat(),
            **(_health_fields(state.as_dict()) if state else _health_fields({})),
        })
    return items


def _health_fields(data: dict[str, Any]) -> dict[str, Any]:
    return {
        "health": data.get("health", "healthy"),
        "pending": data.get("pending", 0),
        "oldest_pending_at": data.get("oldest_pending_at"),
        "oldest_pending_age": data.get("oldest_pending_age"),
        "last_success_at": data.get("last_success_at"),
        "last_failure_at": data.get("last_failure_at"),
        "last_error": data.get("last_error"),
        "consecutive_failures": data.get("consecutive_failures", 0),
        "next_attempt_at": data.get("next_attempt_at"),
        "rejected": data.get("rejected", 0),
    }
