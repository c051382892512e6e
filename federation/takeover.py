"""Take-over requests for stalled pledges.

An accepted pledge that shows no progress (`pledge.progress` from its pledger) for
`pledge_stall_minutes` since it was accepted or last moved is stalled. Another node may then ask
the owning node to take it over (`pledge.takeover_requested`). The owner alone decides, as for
every pledge against its listings: a steward approves or refuses the request, and a request
nobody answered within `takeover_approve_minutes` is approved by the sweep. Progress from the
stalled pledger before then refuses it. Approving moves the promise whole: the old pledge is
`taken_over` and a new accepted pledge of the same quantity is the requester's, in one
transaction under the listing's row lock, so the quantity is never promised twice. The owner
tells the requester and the old pledger (`pledge.takeover_decided`); a refusal names its reason.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from flask import Flask
from pydantic import Field
from sqlalchemy import String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from federation import (
    bodies,
    pledges,  # the module, not its names: pledges imports models, which import this
)
from federation.envelope import EnvelopeError, now
from federation.models import Pledge, PledgeStatus
from federation.registry import APPLIED, ApplyContext, register
from node.db import Base, utcnow
from node.errors import Conflict, FieldError, InvalidState, NotFound, ValidationFailed

REQUESTED, APPROVED, REFUSED = "requested", "approved", "refused"


class Takeover(Base):
    """A request to take over a stalled pledge, at the owning node and at the requester."""

    __tablename__ = "federation_pledge_takeovers"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    pledge_id: Mapped[uuid.UUID] = mapped_column(index=True)
    listing_id: Mapped[uuid.UUID]
    owner_node: Mapped[str] = mapped_column(String(64))
    requester_node: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20), default=REQUESTED)
    reason: Mapped[str] = mapped_column(String(300), default="")
    # At the owner: approved by the sweep at this time unless decided before.
    decide_by: Mapped[datetime | None]
    new_pledge_id: Mapped[uuid.UUID | None]
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None]


# --- wire bodies --------------------------------------------------------------------------

class TakeoverRequested(bodies.Body):
    """A node asks the owning node to let it take over a stalled pledge."""

    takeover_id: uuid.UUID
    pledge_id: uuid.UUID
    owner: bodies.NodeId = Field(description="The node that owns the listing and alone decides")
    listing_id: uuid.UUID
    reason: bodies.Reason = ""


class TakeoverDecided(bodies.Body):
    """The owner approves or refuses a take-over; approved, the requester holds a new pledge."""

    takeover_id: uuid.UUID
    pledge_id: uuid.UUID
    listing_id: uuid.UUID
    requester: bodies.NodeId
    approved: bool
    reason: bodies.Reason = ""
    new_pledge_id: uuid.UUID | None = None
    listing_kind: bodies.Kind | None = None
    quantity: bodies.Quantity | None = None
    unit: bodies.Unit | None = None


class PledgeProgress(bodies.Body):
    """The pledger tells the owner its accepted pledge is moving (it is not stalled)."""

    pledge_id: uuid.UUID
    listing_id: uuid.UUID
    note: bodies.Reason = ""


# --- the rules ----------------------------------------------------------------------------

def stalled_at(app: Flask, pledge: Pledge) -> datetime:
    """When an accepted pledge counts as stalled: its last sign of life plus the stall time."""
    moved = pledge.progress_at or pledge.decided_at or pledge.created_at
    return _aware(moved) + timedelta(minutes=app.config["MUTUALAID"].pledge_stall_minutes)


def request(db: Session, app: Flask, owner: str, listing_id: uuid.UUID, pledge_id: uuid.UUID,
            reason: str = "") -> Takeover:
    """At the requester: ask the owner to let this node take over a stalled pledge."""
    from federation.identity import local_identity
    from federation.outbox import publish

    local_id = local_identity(app, db).node_id
    if owner == local_id:
        raise ValidationFailed("this node owns the listing: it decides, it does not ask",
                               [FieldError("owner", "another node's listing")])
    body = TakeoverRequested(takeover_id=uuid.uuid4(), pledge_id=pledge_id, owner=owner,
                             listing_id=listing_id, reason=reason)
    row = Takeover(id=body.takeover_id, pledge_id=pledge_id, listing_id=listing_id, owner_node=owner,
                   requester_node=local_id, reason=reason)
    db.add(row)
    db.flush()
    publish(db, app, "pledge.takeover_requested", body, audience=[owner])
    return row


def report_progress(db: Session, app: Flask, pledge_id: uuid.UUID, note: str = "") -> Pledge:
    """At the pledger: tell the owner an accepted pledge of this node is moving."""
    from federation.identity import local_identity
    from federation.outbox import publish

    pledge = db.get(Pledge, pledge_id)
    if pledge is None or pledge.pledger_node != local_identity(app, db).node_id:
        raise NotFound("this node made no such pledge")
    if pledge.status != PledgeStatus.ACCEPTED:
        raise InvalidState(f"the pledge is {pledge.status.value}")
    pledge.progress_at = now()
    publish(db, app, "pledge.progress", PledgeProgress(pledge_id=pledge.id, listing_id=pledge.listing_id,
                                                       note=note), audience=[pledge.owner_node])
    return pledge


def fulfil(db: Session, app: Flask, pledge_id: uuid.UUID) -> Pledge:
    """At the owner: the pledge was delivered; it can no longer be taken over."""
    from federation.identity import local_identity

    local_id = local_identity(app, db).node_id
    pledges.lock_publishing(db)
    pledge = _owned(db, local_id, pledge_id)
    if pledge.status != PledgeStatus.ACCEPTED:
        raise InvalidState(f"the pledge is {pledge.status.value}")
    pledge.status = PledgeStatus.FULFILLED
    for pending in _pending(db, pledge.id):
        _refuse(db, app, pending, "the pledge was fulfilled")
    return pledge


def approve(db: Session, app: Flask, takeover_id: uuid.UUID) -> Takeover:
    """At the owner: approve a pending take-over (a steward, or the sweep once it is due)."""
    from federation.identity import local_identity
    from federation.outbox import publish
    from node.resources.models import Listing

    local_id = local_identity(app, db).node_id
    pledges.lock_publishing(db)
    row = _owned_request(db, local_id, takeover_id)
    # The same lock as every decision on this listing (federation/pledges.py): counter, then row.
    db.execute(select(Listing.id).where(Listing.id == row.listing_id).with_for_update())
    old = _owned(db, local_id, row.pledge_id)
    problem = _refusal(app, old, row.requester_node, now())
    if problem:
        _refuse(db, app, row, problem)
        return row
    new = Pledge(
        id=uuid.uuid4(), owner_node=local_id, listing_id=old.listing_id, listing_kind=old.listing_kind,
        pledger_node=row.requester_node, quantity=old.quantity, unit=old.unit, note=old.note,
        status=PledgeStatus.ACCEPTED, lease_until=old.lease_until, decided_at=now(),
    )
    old.status, old.reason = PledgeStatus.TAKEN_OVER, f"taken over by {row.requester_node}"
    db.add(new)
    row.status, row.new_pledge_id, row.decided_at = APPROVED, new.id, now()
    db.flush()
    publish(db, app, "pledge.takeover_decided", TakeoverDecided(
        takeover_id=row.id, pledge_id=old.id, listing_id=old.listing_id, requester=row.requester_node,
        approved=True, new_pledge_id=new.id, listing_kind=new.listing_kind,  # type: ignore[arg-type]
        quantity=new.quantity, unit=new.unit,
    ), audience=sorted({row.requester_node, old.pledger_node}))
    return row


def refuse(db: Session, app: Flask, takeover_id: uuid.UUID, reason: str) -> Takeover:
    """At the owner: a steward refuses a pending take-over, saying why."""
    from federation.identity import local_identity

    pledges.lock_publishing(db)
    row = _owned_request(db, local_identity(app, db).node_id, takeover_id)
    _refuse(db, app, row, reason or "refused by the owner")
    return row


def approve_due(db: Session, app: Flask, moment: datetime) -> int:
    """Sweep job: approve the take-overs nobody decided on in time; returns how many."""
    pledges.lock_publishing(db)  # first: a steward's decision in flight is then seen, not overwritten
    due = list(db.scalars(select(Takeover.id).where(
        Takeover.status == REQUESTED, Takeover.decide_by.is_not(None), Takeover.decide_by <= moment,
    ).order_by(Takeover.decide_by)))
    for takeover_id in due:
        approve(db, app, takeover_id)
    return len(due)


def _refusal(app: Flask, pledge: Pledge | None, requester: str, moment: datetime) -> str:
    if pledge is None:
        return "no such pledge against this node's listings"
    if pledge.pledger_node == requester:
        return "the pledge is already the requesting node's"
    if pledge.status == PledgeStatus.FULFILLED:
        return "the pledge was fulfilled"
    if pledge.status != PledgeStatus.ACCEPTED:
        return f"the pledge is {pledge.status.value}, not accepted"
    stall = stalled_at(app, pledge)
    if moment < stall:
        return f"the pledge is not stalled: its pledger has until {stall.isoformat()}"
    return ""


def _refuse(db: Session, app: Flask, row: Takeover, reason: str) -> None:
    from federation.outbox import publish

    row.status, row.reason, row.decided_at = REFUSED, reason, now()
    db.flush()
    publish(db, app, "pledge.takeover_decided", TakeoverDecided(
        takeover_id=row.id, pledge_id=row.pledge_id, listing_id=row.listing_id,
        requester=row.requester_node, approved=False, reason=reason,
    ), audience=[row.requester_node])


def _owned(db: Session, local_id: str, pledge_id: uuid.UUID) -> Pledge:
    pledge = db.get(Pledge, pledge_id)
    if pledge is None or pledge.owner_node != local_id:
        raise NotFound("no such pledge against this node's listings")
    return pledge


def _owned_request(db: Session, local_id: str, takeover_id: uuid.UUID) -> Takeover:
    row = db.get(Takeover, takeover_id)
    if row is None or row.owner_node != local_id:
        raise NotFound("no such take-over request to this node")
    if row.status != REQUESTED:
        raise Conflict(f"the take-over was {row.status} already")
    return row


def _pending(db: Session, pledge_id: uuid.UUID) -> list[Takeover]:
    return list(db.scalars(select(Takeover).where(Takeover.pledge_id == pledge_id,
                                                  Takeover.status == REQUESTED)))


# --- applying what arrives ----------------------------------------------------------------

def apply_requested(ctx: ApplyContext, body: TakeoverRequested) -> str:
    """At the owner: refuse at once what cannot be taken over; keep the rest for a steward or
    the timeout."""
    from node.resources.models import Listing

    if body.owner != ctx.local_id:
        raise EnvelopeError("not-owner", f"listing {body.listing_id} belongs to {body.owner}, not this node")
    if ctx.db.get(Takeover, body.takeover_id) is not None:
        return "ignored: this take-over was already received"
    pledges.lock_publishing(ctx.db)
    ctx.db.execute(select(Listing.id).where(Listing.id == body.listing_id).with_for_update())
    pledge = ctx.db.get(Pledge, body.pledge_id)
    if pledge is not None and (pledge.owner_node != ctx.local_id or pledge.listing_id != body.listing_id):
        pledge = None
    problem = _refusal(ctx.app, pledge, ctx.envelope.sender, now())
    if not problem and _pending(ctx.db, body.pledge_id):
        problem = "another take-over of this pledge is pending"
    row = Takeover(id=body.takeover_id, pledge_id=body.pledge_id, listing_id=body.listing_id,
                   owner_node=ctx.local_id, requester_node=ctx.envelope.sender, reason=body.reason)
    ctx.db.add(row)
    if problem:
        _refuse(ctx.db, ctx.app, row, problem)
        return f"applied: refused ({problem})"
    minutes = ctx.app.config["MUTUALAID"].takeover_approve_minutes
    row.decide_by = now() + timedelta(minutes=minutes)
    ctx.db.flush()
    return f"applied: pending until {row.decide_by.isoformat()}"


def apply_decided(ctx: ApplyContext, body: TakeoverDecided) -> str:
    """At the requester and the old pledger: the owner's decision is final."""
    applied = False
    row = ctx.db.get(Takeover, body.takeover_id)
    if row is not None and row.requester_node == ctx.local_id:
        if row.owner_node != ctx.envelope.sender:
            raise EnvelopeError("not-owner", f"{ctx.envelope.sender} does not own the listing of this pledge")
        row.status, row.reason, row.decided_at = (APPROVED if body.approved else REFUSED), body.reason, now()
        row.new_pledge_id = body.new_pledge_id
        if body.approved and body.new_pledge_id and ctx.db.get(Pledge, body.new_pledge_id) is None:
            from federation.pledges import DEFAULT_LEASE

            # The requester's own pledge now, accepted by the owner; its old holder's is over.
            ctx.db.add(Pledge(
                id=body.new_pledge_id, owner_node=ctx.envelope.sender, listing_id=body.listing_id,
                listing_kind=body.listing_kind or "surplus", pledger_node=ctx.local_id,
                quantity=body.quantity or 0.0, unit=body.unit or "", note=f"took over {body.pledge_id}",
                status=PledgeStatus.ACCEPTED, lease_until=now() + DEFAULT_LEASE, decided_at=now(),
            ))
        applied = True
    old = ctx.db.get(Pledge, body.pledge_id)
    if body.approved and old is not None and old.pledger_node == ctx.local_id:
        if old.owner_node != ctx.envelope.sender or old.listing_id != body.listing_id:
            raise EnvelopeError("not-owner", f"{ctx.envelope.sender} does not own the listing of this pledge")
        old.status, old.reason = PledgeStatus.TAKEN_OVER, f"taken over by {body.requester}"
        applied = True
    return APPLIED if applied else "ignored: neither the requester nor the pledger here"


def apply_progress(ctx: ApplyContext, body: PledgeProgress) -> str:
    """At the owner: the pledger's pledge is moving; pending take-overs of it are refused."""
    pledges.lock_publishing(ctx.db)
    pledge = ctx.db.get(Pledge, body.pledge_id)
    if pledge is None or pledge.owner_node != ctx.local_id or pledge.listing_id != body.listing_id:
        return "ignored: no such pledge against this node's listings"
    if pledge.pledger_node != ctx.envelope.sender:
        raise EnvelopeError("not-pledger", f"pledge {body.pledge_id} is not {ctx.envelope.sender}'s")
    if pledge.status != PledgeStatus.ACCEPTED:
        return f"ignored: the pledge is {pledge.status.value}"
    pledge.progress_at = now()
    for pending in _pending(ctx.db, pledge.id):
        _refuse(ctx.db, ctx.app, pending, "the pledger reported progress")
    return APPLIED


def as_dict(row: Takeover) -> dict[str, object]:
    """A take-over for the API."""
    return {
        "id": str(row.id), "pledge_id": str(row.pledge_id), "listing_id": str(row.listing_id),
        "owner": row.owner_node, "requester": row.requester_node, "status": row.status,
        "reason": row.reason, "decide_by": _aware(row.decide_by).isoformat() if row.decide_by else None,
        "new_pledge_id": str(row.new_pledge_id) if row.new_pledge_id else None,
    }


def _aware(value: datetime) -> datetime:
    from datetime import UTC

    return value if value.tzinfo else value.replace(tzinfo=UTC)


register("pledge.takeover_requested", TakeoverRequested, apply_requested)
register("pledge.takeover_decided", TakeoverDecided, apply_decided)
register("pledge.progress", PledgeProgress, apply_progress)
