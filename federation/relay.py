"""Relay: a federation node forwards every envelope it accepts to its other direct peers.

The envelope travels unchanged (the stored text is what is sent), so the original sender's
signature verifies at the far end however many federations it passed. Loops and duplicates
end at each node's dedupe by id: an envelope already seen is answered `duplicate` and is not
relayed again. Neighbourhood nodes never relay.
"""

from __future__ import annotations

import uuid

from flask import Flask
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from federation.models import Delivery, Envelope, Peer, PeerStatus
from federation.wake import drain_after_commit
from node.db import utcnow


def relay(db: Session, app: Flask, row: Envelope, via: str | None) -> list[str]:
    """Queue an accepted envelope for every allowed direct peer but its sender and the hop it
    came from; returns the peers it was queued for."""
    from federation.outbox import fan_out

    if app.config["MUTUALAID"].role != "federation":
        return []
    return fan_out(db, app, row, exclude=tuple(node for node in (via,) if node))


def relay_many(db: Session, app: Flask, envelopes: list[tuple[uuid.UUID, str, int]], via: str | None) -> None:
    """Queue accepted envelopes (id, sender, priority) for every allowed direct peer but each
    one's sender and the hop they came from, in a few statements."""
    from federation.outbox import DIRECT

    if app.config["MUTUALAID"].role != "federation" or not envelopes:
        return
    peers = list(db.scalars(select(Peer.id).where(
        Peer.status == PeerStatus.ALLOWED, Peer.relation.in_(DIRECT), Peer.url.is_not(None),
    )))
    now = utcnow()
    rows = [
        {"peer_id": peer, "envelope_id": envelope_id, "priority": priority, "created_at": now}
        for envelope_id, sender, priority in envelopes
        for peer in peers
        if peer not in (sender, via)
    ]
    if rows:
        db.execute(insert(Delivery), rows)
        drain_after_commit(db, app, {peer for peer in peers if peer != via})
