"""Pledges between nodes. A need or surplus belongs to the node that published it and only
that node decides on pledges against it, in one transaction with the listing's row locked, so
the same thing is never promised twice.

The pledging node keeps its offer as `offered` until the owner answers; an offer the owner has
not answered by its lease lapses (`expired`) and its quantity is free to pledge again.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from flask import Flask
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from federation import bodies
from federation.envelope import EnvelopeError, now
from federation.models import Counter, Pledge, PledgeStatus
from federation.registry import APPLIED, ApplyContext
from node.resources.models import Listing, ListingKind, ListingStatus

DEFAULT_LEASE = timedelta(hours=24)
WIRE_KIND = {ListingKind.NEED: "need", ListingKind.OFFER: "surplus"}
LOCAL_KIND = {wire: local for local, wire in WIRE_KIND.items()}
EPSILON = 1e-9


def offer(
    db: Session,
    app: Flask,
    owner: str,
    listing_id: uuid.UUID,
    listing_kind: bodies.Kind,
    quantity: float,
    unit: str,
    note: str = "",
    pledger_listing_id: uuid.UUID | None = None,
    lease: timedelta = DEFAULT_LEASE,
    priority: int | None = None,
) -> Pledge:
    """Offer a pledge against another node's listing: a local row and a pledge.offered envelope."""
    from federation.identity import local_identity
    from federation.outbox import publish

    local_id = local_identity(app).node_id
    body = bodies.PledgeOffered(
        pledge_id=uuid.uuid4(), owner=owner, listing_id=listing_id, listing_kind=listing_kind,
        quantity=quantity, unit=unit, note=note, lease_until=now() + lease,
        pledger_listing_id=pledger_listing_id,
    )
    pledge = Pledge(
        id=body.pledge_id, owner_node=owner, listing_id=listing_id, listing_kind=listing_kind,
        pledger_node=local_id, pledger_listing_id=pledger_listing_id, quantity=quantity, unit=unit,
        note=note, status=PledgeStatus.OFFERED, lease_until=body.lease_until,
    )
    db.add(pledge)
    db.flush()
    publish(db, app, "pledge.offered", body, audience=[owner], priority=priority)
    return pledge


def available(db: Session, listing: Listing, owner: str) -> float:
    """What of a local listing is not yet promised through accepted pledges."""
    promised = db.scalar(
        select(func.coalesce(func.sum(Pledge.quantity), 0.0)).where(
            Pledge.listing_id == listing.id, Pledge.owner_node == owner,
            Pledge.status == PledgeStatus.ACCEPTED,
        )
    )
    return max(0.0, listing.quantity - float(promised or 0.0))


def lock_publishing(db: Session) -> None:
    """Take this node's seq counter row lock (PostgreSQL; SQLite's BEGIN IMMEDIATE holds the
    whole database). The one lock order for a transaction that both writes a listing and
    publishes: the counter first, then the listing's row. A pledge decision and a listing's
    edit, withdrawal or change of status all take it so, and cannot deadlock each other."""
    from federation.outbox import SEQ_COUNTER

    db.execute(select(Counter.name).where(Counter.name == SEQ_COUNTER).with_for_update())


def apply_offered(ctx: ApplyContext, body: bodies.PledgeOffered) -> str:
    """At the owner: accept what is available (partly if need be) or decline, and answer."""
    if body.owner != ctx.local_id:
        raise EnvelopeError("not-owner", f"listing {body.listing_id} belongs to {body.owner}, not this node")
    # The answer is published under the seq counter's row lock: take it before the listing's,
    # so two batches deciding on the same listings in another order cannot deadlock.
    lock_publishing(ctx.db)
    # The row lock serialises every decision on this listing (SQLite: BEGIN IMMEDIATE does).
    listing = ctx.db.scalar(select(Listing).where(Listing.id == body.listing_id).with_for_update())
    if listing is None or listing.kind != LOCAL_KIND[body.listing_kind]:
        raise EnvelopeError("not-owner", f"this node has no {body.listing_kind} {body.listing_id}")
    if ctx.db.get(Pledge, body.pledge_id) is not None:
        return "ignored: this pledge was already decided"
    pledge = Pledge(
        id=body.pledge_id, owner_node=ctx.local_id, listing_id=listing.id,
        listing_kind=body.listing_kind, pledger_node=ctx.envelope.sender,
        pledger_listing_id=body.pledger_listing_id, quantity=body.quantity, unit=body.unit,
        note=body.note, lease_until=body.lease_until,
    )
    ctx.db.add(pledge)
    reason = _refusal(ctx.db, listing, body, ctx.local_id)
    if reason:
        _decline(ctx, pledge, reason)
        return f"applied: declined ({reason})"
    free = available(ctx.db, listing, ctx.local_id)
    granted = min(body.quantity, free)
    pledge.quantity, pledge.status, pledge.decided_at = granted, PledgeStatus.ACCEPTED, now()
    ctx.db.flush()
    _answer(ctx, "pledge.accepted", bodies.PledgeAccepted(
        pledge_id=pledge.id, listing_id=listing.id, quantity=granted,
        remaining=max(0.0, free - granted),
    ))
    return f"applied: accepted {granted:g} of {body.quantity:g}"


def _refusal(db: Session, listing: Listing, body: bodies.PledgeOffered, owner: str) -> str:
    if listing.status != ListingStatus.OPEN:
        return f"the {body.listing_kind} is {listing.status.value}"
    if body.lease_until <= now():
        return "the pledge's lease ran out before it arrived"
    if body.unit != listing.unit:
        return f"the {body.listing_kind} is counted in {listing.unit!r}, not {body.unit!r}"
    if available(db, listing, owner) <= EPSILON:
        return f"the {body.listing_kind} is already fully pledged"
    return ""


def _decline(ctx: ApplyContext, pledge: Pledge, reason: str) -> None:
    pledge.status, pledge.reason, pledge.decided_at = PledgeStatus.DECLINED, reason, now()
    ctx.db.flush()
    _answer(ctx, "pledge.declined", bodies.PledgeDeclined(
        pledge_id=pledge.id, listing_id=pledge.listing_id, reason=reason,
    ))


def _answer(ctx: ApplyContext, type_name: str, body: bodies.Body) -> None:
    from federation.outbox import publish

    # An answer keeps the lane of the offer it answers (incident pledges travel first).
    publish(ctx.db, ctx.app, type_name, body, audience=[ctx.envelope.sender],
            priority=ctx.envelope.priority or None)


def apply_accepted(ctx: ApplyContext, body: bodies.PledgeAccepted) -> str:
    """At the pledger: the owner accepted; its word is final even after the lease lapsed here."""
    pledge = _own_pledge(ctx, body.pledge_id, body.listing_id)
    if pledge is None:
        return "ignored: no such pledge of this node"
    pledge.status, pledge.quantity, pledge.decided_at = PledgeStatus.ACCEPTED, body.quantity, now()
    return APPLIED


def apply_declined(ctx: ApplyContext, body: bodies.PledgeDeclined) -> str:
    """At the pledger: the owner declined."""
    pledge = _own_pledge(ctx, body.pledge_id, body.listing_id)
    if pledge is None:
        return "ignored: no such pledge of this node"
    pledge.status, pledge.reason, pledge.decided_at = PledgeStatus.DECLINED, body.reason, now()
    return APPLIED


def _own_pledge(ctx: ApplyContext, pledge_id: uuid.UUID, listing_id: uuid.UUID) -> Pledge | None:
    pledge = ctx.db.get(Pledge, pledge_id)
    if pledge is None or pledge.pledger_node != ctx.local_id:
        return None
    if pledge.owner_node != ctx.envelope.sender or pledge.listing_id != listing_id:
        # Only the node that owns the listing decides on pledges against it.
        raise EnvelopeError("not-owner", f"{ctx.envelope.sender} does not own the listing of this pledge")
    return pledge


def expire_leases(db: Session, moment: datetime | None = None) -> int:
    """Lapse offers the owner has not answered by their lease; returns how many."""
    result = db.execute(
        update(Pledge)
        .where(Pledge.status == PledgeStatus.OFFERED, Pledge.lease_until <= (moment or now()))
        .values(status=PledgeStatus.EXPIRED, reason="no answer from the owner before the lease ran out",
                decided_at=moment or now())
    )
    return int(getattr(result, "rowcount", 0) or 0)
