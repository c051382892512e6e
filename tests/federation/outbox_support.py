"""Helpers shared by the outbox, sweep and worker tests: peers, listing bodies, counts."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Flask
from sqlalchemy import func, select

from federation import keys
from federation.models import Delivery, Peer, PeerStatus, Relation
from federation.outbox import publish
from federation.signing import public_key_text
from node.db import session_scope

CELL = "881f1d4a13fffff"  # H3 resolution 8


def new_node_id() -> str:
    """A node id of a freshly made key (a peer that exists only in this test)."""
    return keys.node_id_for(public_key_text(keys.generate()))


def add_peer(
    app: Flask,
    url: str | None,
    relation: Relation = Relation.PEER,
    status: PeerStatus = PeerStatus.ALLOWED,
    peer_id: str | None = None,
) -> str:
    """Record a peer of `app` at `url`; returns its id."""
    peer_id = peer_id or new_node_id()
    with session_scope(app) as db:
        db.add(Peer(id=peer_id, name="peer", url=url, relation=relation, status=status, fingerprint="x"))
    return peer_id


def listing_body(title: str = "Rice", **changes: Any) -> dict[str, Any]:
    """A valid need/surplus body."""
    body: dict[str, Any] = {
        "listing_id": str(uuid.uuid4()),
        "category": "food",
        "title": title,
        "quantity": 2.0,
        "unit": "kg",
        "urgency": "routine",
        "h3_cell": CELL,
        "handle": "ana",
    }
    body.update(changes)
    return body


def publish_many(
    app: Flask, count: int, type: str = "need.published", priority: int | None = None
) -> list[str]:
    """Publish `count` envelopes, one transaction each; returns their ids in order."""
    ids = []
    for n in range(count):
        with session_scope(app) as db:
            row = publish(db, app, type, listing_body(f"Item {n}"), priority=priority)
            ids.append(str(row.id))
    return ids


def queued(app: Flask, peer_id: str) -> int:
    """How many Delivery rows wait for the peer."""
    with session_scope(app) as db:
        query = select(func.count()).select_from(Delivery).where(Delivery.peer_id == peer_id)
        return int(db.scalar(query) or 0)


def peer_row(app: Flask, peer_id: str) -> Peer:
    """A detached copy of the peer row."""
    with session_scope(app) as db:
        peer = db.get(Peer, peer_id)
        assert peer is not None
        db.expunge(peer)
        return peer


class Recorder:
    """A waker that writes down what it was asked to wake."""

    def __init__(self) -> None:
        self.drains: list[list[str]] = []
        self.pulls: list[list[str]] = []

    def drain(self, peer_ids: Any) -> None:
        self.drains.append(list(peer_ids))

    def pull(self, senders: Any) -> None:
        self.pulls.append(list(senders))
