"""What applying each built-in envelope type does to this node's database.

Handlers run inside the savepoint that also records the envelope as seen, so an envelope is
applied exactly once or not at all. They return the outcome to record and raise EnvelopeError
to refuse the envelope.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, insert, select
from sqlalchemy.orm import Session

from federation import bodies, pledges
from federation.envelope import EnvelopeError, Parsed, now
from federation.keys import fingerprint, node_id_for
from federation.models import Peer, PeerKey, PeerRole, Relation, RemoteListing
from federation.registry import APPLIED, IN_CHUNK, ApplyContext, pending_write, register
from federation.wake import pull_after_commit

RETENTION_TTL = timedelta(days=90)
SUPERSEDED = "ignored: a later envelope already changed this listing"
ERASED = "erased"
FORGOTTEN = "ignored: the listing was erased"


# --- needs and surpluses ----------------------------------------------------------------

LISTINGS = "remote_listings"
NEW_LISTINGS = "new_remote_listings"
_REMOTE_LISTINGS = cast(Table, RemoteListing.__table__)


@dataclass
class NewListing:
    """A remote listing first seen in this batch: written with the others in one statement
    (`write_new_listings`), not one ORM object each. Same fields as RemoteListing."""

    node_id: str
    listing_id: uuid.UUID
    kind: str
    category: str
    title: str
    description: str
    quantity: float
    unit: str
    urgency: str
    h3_cell: str
    handle: str
    status: str
    available_from: datetime | None
    available_until: datetime | None
    expires_at: datetime | None
    version_seq: int
    updated_at: datetime


Listed = RemoteListing | NewListing


def prefetch_listings(db: Session, batch: dict[str, Any], items: list[tuple[Parsed, Any]]) -> None:
    """Load the remote listings a batch of need and surplus envelopes will touch."""
    wanted = {(parsed.sender, body.listing_id) for parsed, body in items}
    cache: dict[tuple[str, uuid.UUID], Listed | None] = dict.fromkeys(wanted)
    senders = sorted({sender for sender, _ in wanted})
    ids = sorted({listing_id for _, listing_id in wanted})
    for start in range(0, len(ids), IN_CHUNK):
        # Both key columns, so the primary key index answers it.
        rows = db.scalars(select(RemoteListing).where(
            RemoteListing.node_id.in_(senders), RemoteListing.listing_id.in_(ids[start:start + IN_CHUNK])
        ))
        for row in rows:
            if (row.node_id, row.listing_id) in cache:
                cache[(row.node_id, row.listing_id)] = row
    batch[LISTINGS] = cache


def write_new_listings(db: Session, batch: dict[str, Any]) -> None:
    """Insert the listings this batch created so far, in one statement; later envelopes of the
    batch about them load them from the database."""
    pending: dict[tuple[str, uuid.UUID], NewListing] = batch.pop(NEW_LISTINGS, {})
    if pending:
        db.execute(insert(_REMOTE_LISTINGS), [dict(vars(row)) for row in pending.values()])
        cache = batch[LISTINGS]
        for key in pending:
            del cache[key]


def _listing(ctx: ApplyContext, listing_id: uuid.UUID) -> Listed | None:
    key = (ctx.envelope.sender, listing_id)
    cache = ctx.batch.get(LISTINGS)
    if cache is not None and key in cache:
        found: Listed | None = cache[key]
        return found
    return ctx.db.get(RemoteListing, key)


def _create(ctx: ApplyContext, listing_id: uuid.UUID, values: dict[str, Any]) -> Listed:
    key = (ctx.envelope.sender, listing_id)
    cache = ctx.batch.get(LISTINGS)
    if cache is None:  # applied alone: the ORM way
        row = RemoteListing(node_id=key[0], listing_id=listing_id, **values)
        ctx.db.add(row)
        return row
    new = NewListing(node_id=key[0], listing_id=listing_id, **values)
    cache[key] = ctx.batch.setdefault(NEW_LISTINGS, {})[key] = new
    pending_write(ctx.batch, write_new_listings, prefetch_listings)
    return new


def apply_listing(ctx: ApplyContext, body: bodies.ListingBody) -> str:
    """Create or replace the sender's listing, unless a later envelope already changed it."""
    kind = ctx.envelope.type.split(".")[0]
    row = _listing(ctx, body.listing_id)
    if row is not None and row.status == ERASED:
        return FORGOTTEN
    if row is not None and row.version_seq >= ctx.envelope.seq:
        return SUPERSEDED
    values = {
        "kind": kind, "category": body.category, "title": body.title, "description": body.description,
        "quantity": body.quantity, "unit": body.unit, "urgency": body.urgency, "h3_cell": body.h3_cell,
        "handle": body.handle, "status": body.status, "available_from": body.available_from,
        "available_until": body.available_until, "expires_at": body.expires,
        "version_seq": ctx.envelope.seq, "updated_at": now(),
    }
    if row is None:
        _create(ctx, body.listing_id, values)
    else:
        for name, value in values.items():
            setattr(row, name, value)
    return APPLIED


def apply_listing_closed(ctx: ApplyContext, body: bodies.ListingClosed) -> str:
    """Close the sender's listing; if it never arrived, keep a tombstone so it never opens.

    An erasure wins whatever its seq (it may overtake a withdrawal on another path), and
    nothing after it brings the listing back: the row keeps only its ids and kind."""
    row = _listing(ctx, body.listing_id)
    if row is not None and row.status == ERASED:
        return FORGOTTEN
    if row is not None and row.version_seq >= ctx.envelope.seq and body.status != ERASED:
        return SUPERSEDED
    if row is None:
        # Catch-up can bring the close before the publication; the tombstone's seq wins.
        row = _create(ctx, body.listing_id, {
            "kind": ctx.envelope.type.split(".")[0], "category": "", "title": "", "description": "",
            "quantity": 0.0, "unit": "", "urgency": "routine", "h3_cell": "", "handle": "",
            "status": body.status, "available_from": None, "available_until": None,
            "expires_at": None, "version_seq": ctx.envelope.seq, "updated_at": now(),
        })
    if body.status == ERASED:
        _forget(row)
    row.status = body.status
    row.version_seq = max(row.version_seq, ctx.envelope.seq)
    row.updated_at = now()
    return APPLIED


def _forget(row: Listed) -> None:
    """Blank everything a listing said about its poster and their need or offer."""
    row.category, row.title, row.description, row.handle = "", "", "", ""
    row.quantity, row.unit, row.urgency, row.h3_cell = 0.0, "", "routine", ""
    row.available_from = row.available_until = row.expires_at = None


# --- nodes ------------------------------------------------------------------------------

def apply_key_rotated(ctx: ApplyContext, body: bodies.KeyRotated) -> str:
    """Learn the sender's new key; its old key verifies until the stated time."""
    if body.old_key != ctx.verified_key:
        raise EnvelopeError("invalid-body", "old_key is not the key this envelope is signed with")
    sender = ctx.envelope.sender
    keys = {k.public_key: k for k in ctx.db.scalars(select(PeerKey).where(PeerKey.peer_id == sender))}
    old = keys[body.old_key]
    if old.valid_until is None or body.old_valid_until < old.valid_until:
        old.valid_until = body.old_valid_until
    if body.new_key not in keys:
        ctx.db.add(PeerKey(peer_id=sender, public_key=body.new_key, valid_until=None))
    return APPLIED


def apply_peer_introduced(ctx: ApplyContext, body: bodies.PeerIntroduced) -> str:
    """Record a node a known federation vouches for, with its keys, the first time only.

    Trust follows the federation graph: a node believes the federations it knows (directly or
    through an introduction) about the nodes they add. A node id is derived from the node's
    first key, so an introduction cannot take over a known id; and once a node is known its
    keys change only through its own signed `node.key_rotated`, never through introductions.
    """
    introducer = ctx.db.get(Peer, ctx.envelope.sender)
    if introducer is None or introducer.role != PeerRole.FEDERATION:
        return "ignored: only federations introduce nodes"
    if body.node == ctx.local_id:
        return "ignored: this node itself"
    keys = [k.key for k in body.keys]
    if not any(node_id_for(key) == body.node for key in keys):
        raise EnvelopeError("invalid-body", "node is not derived from any of the keys given")
    if ctx.db.get(Peer, body.node) is not None:
        return "ignored: already known"
    ctx.db.add(Peer(
        id=body.node, relation=Relation.INTRODUCED, fingerprint=fingerprint(keys[0]), name=body.name,
        url=body.url, role=PeerRole(body.role), member_of=list(body.member_of),
        introduced_by=ctx.envelope.sender,
    ))
    ctx.db.flush()
    for item in body.keys:
        ctx.db.add(PeerKey(peer_id=body.node, public_key=item.key, valid_until=item.valid_until))
    # What it sent before we knew it was refused: fetch it from a feed.
    pull_after_commit(ctx.db, ctx.app, [body.node])
    return APPLIED


def _register_builtin() -> None:
    for kind in ("need", "surplus"):
        for verb, model, handler in (("published", bodies.ListingBody, apply_listing),
                                     ("updated", bodies.ListingBody, apply_listing),
                                     ("withdrawn", bodies.ListingClosed, apply_listing_closed)):
            register(f"{kind}.{verb}", model, handler, prefetch=prefetch_listings)
    register("pledge.offered", bodies.PledgeOffered, pledges.apply_offered)
    register("pledge.accepted", bodies.PledgeAccepted, pledges.apply_accepted)
    register("pledge.declined", bodies.PledgeDeclined, pledges.apply_declined)
    # Key changes jump the queue so envelopes signed with the new key never arrive first.
    register("node.key_rotated", bodies.KeyRotated, apply_key_rotated, priority=1)
    register("peer.introduced", bodies.PeerIntroduced, apply_peer_introduced)


_register_builtin()
