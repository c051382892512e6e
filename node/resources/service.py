"""Needs, offers, the inventory and matches, as plain functions over a session. Callers commit."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import Select, or_, select, update
from sqlalchemy.orm import Session

from node.db import Base, utcnow
from node.errors import FieldError, Forbidden, InvalidState, NotFound, ValidationFailed
from node.members.models import Member
from node.resources import schemas
from node.resources.areas import coarse_cell
from node.resources.categories import check_category
from node.resources.models import (
    InventoryItem,
    Listing,
    ListingKind,
    ListingStatus,
    Match,
    MatchStatus,
)
from node.settings import Settings
from node.signals import listing_changed, listing_changing, match_changed

DEFAULT_LIFETIME = timedelta(days=30)
ACTIVE = (ListingStatus.OPEN, ListingStatus.MATCHED)


def create_listing(
    db: Session, settings: Settings, member: Member, kind: ListingKind, data: schemas.ListingIn
) -> Listing:
    """Post a need or an offer; the area is coarsened to the node's resolution."""
    check_category(db, data.category)
    now = utcnow()
    if data.expires_at is not None and data.expires_at <= now:
        raise ValidationFailed("already expired", [FieldError("expires_at", "must be in the future")])
    listing = Listing(
        kind=kind,
        member_id=member.id,
        category=data.category,
        title=data.title,
        description=data.description,
        quantity=data.quantity,
        unit=data.unit,
        urgency=data.urgency,
        available_from=data.available_from,
        available_until=data.available_until,
        h3_cell=coarse_cell(data.h3_cell, settings.h3_resolution),
        expires_at=data.expires_at or now + DEFAULT_LIFETIME,
    )
    db.add(listing)
    db.flush()
    listing_changed.send(db, listing=listing, change="published")
    return listing


def get_listing(db: Session, kind: ListingKind, listing_id: uuid.UUID) -> Listing:
    """A listing of this kind, or a 404 problem."""
    listing = db.get(Listing, listing_id)
    if listing is None or listing.kind != kind:
        raise NotFound(f"no such {kind.value}")
    expire_if_due(db, listing)
    return listing


def own_listing(db: Session, kind: ListingKind, listing_id: uuid.UUID, member: Member) -> Listing:
    """A listing the member posted, or a problem (another member's is forbidden)."""
    listing = get_listing(db, kind, listing_id)
    if listing.member_id != member.id:
        raise Forbidden(f"this {kind.value} belongs to another member")
    return listing


def update_listing(
    db: Session, settings: Settings, listing: Listing, data: schemas.ListingUpdate
) -> Listing:
    """Change an open listing's fields that were sent."""
    if listing.status != ListingStatus.OPEN:
        raise InvalidState(
            f"only an open {listing.kind.value} can be changed; it is {listing.status.value}"
        )
    changes = data.model_dump(exclude_unset=True)
    refuse_nulls(Listing, changes)
    if "category" in changes:
        check_category(db, changes["category"])
    if "h3_cell" in changes:
        changes["h3_cell"] = coarse_cell(changes["h3_cell"], settings.h3_resolution)
    if changes.get("expires_at") is not None and changes["expires_at"] <= utcnow():
        raise ValidationFailed("already expired", [FieldError("expires_at", "must be in the future")])
    start = changes.get("available_from", listing.available_from)
    end = changes.get("available_until", listing.available_until)
    if start and end and end <= start:
        raise ValidationFailed("bad window", [FieldError("available_until", "must be after available_from")])
    listing_changing.send(db, listing=listing)
    for name, value in changes.items():
        setattr(listing, name, value)
    db.flush()
    listing_changed.send(db, listing=listing, change="updated")
    return listing


def refuse_nulls(model: type[Base], changes: dict[str, Any]) -> None:
    """Refuse null for every changed field whose column must hold a value."""
    columns = model.__table__.columns
    nulls = [
        FieldError(name, "cannot be null")
        for name, value in changes.items()
        if value is None and name in columns and not columns[name].nullable
    ]
    if nulls:
        raise ValidationFailed("fields cannot be null", nulls)


def withdraw_listing(db: Session, listing: Listing, why: str = "withdrawn by its poster") -> Listing:
    """Withdraw an open or matched listing; its proposals and accepted match are called off."""
    if listing.status not in ACTIVE:
        raise InvalidState(f"this {listing.kind.value} is already {listing.status.value}")
    _set_status(db, listing, ListingStatus.WITHDRAWN)
    _cancel_pending(db, listing, why)
    accepted = db.scalars(select(Match).where(
        or_(Match.need_id == listing.id, Match.offer_id == listing.id),
        Match.status == MatchStatus.ACCEPTED,
    ))
    for match in list(accepted):
        # The other side was promised this; it is open again for someone else to meet.
        match.status = MatchStatus.CANCELLED
        match.outcome = why
        match.decided_at = utcnow()
        other = match.offer if match.need_id == listing.id else match.need
        if other.status == ListingStatus.MATCHED:
            _set_status(db, other, ListingStatus.OPEN)
    db.flush()
    return listing


def expire_if_due(db: Session, listing: Listing) -> None:
    """Mark an open listing expired if its time has passed."""
    if listing.status == ListingStatus.OPEN and listing.expires_at and listing.expires_at <= utcnow():
        _set_status(db, listing, ListingStatus.EXPIRED)
        _cancel_pending(db, listing, "expired")


def expire_due(db: Session) -> int:
    """Expire every open listing past its time; returns how many."""
    now = utcnow()
    due = list(db.scalars(
        select(Listing).where(Listing.status == ListingStatus.OPEN, Listing.expires_at <= now)
    ))
    for listing in due:
        expire_if_due(db, listing)
    return len(due)


def _set_status(db: Session, listing: Listing, status: ListingStatus) -> None:
    listing_changing.send(db, listing=listing)
    listing.status = status
    db.flush()
    listing_changed.send(db, listing=listing, change=status.value)


def _cancel_pending(db: Session, listing: Listing, why: str) -> None:
    db.execute(
        update(Match)
        .where(
            or_(Match.need_id == listing.id, Match.offer_id == listing.id),
            Match.status == MatchStatus.PROPOSED,
        )
        .values(status=MatchStatus.CANCELLED, outcome=why, decided_at=utcnow())
    )


def listings_query(kind: ListingKind, query: schemas.ListingQuery, member: Member) -> Select[Any]:
    """The select for a filtered list of listings, newest first."""
    stmt = select(Listing).where(Listing.kind == kind)
    if query.status is not None:
        stmt = stmt.where(Listing.status == query.status)
        if query.status == ListingStatus.OPEN:
            stmt = stmt.where(or_(Listing.expires_at.is_(None), Listing.expires_at > utcnow()))
    if query.category:
        stmt = stmt.where(Listing.category == query.category)
    if query.urgency:
        stmt = stmt.where(Listing.urgency == query.urgency)
    if query.mine:
        stmt = stmt.where(Listing.member_id == member.id)
    return stmt.order_by(Listing.created_at.desc(), Listing.id.desc())


# --- inventory ---------------------------------------------------------------------------

def add_item(db: Session, settings: Settings, member: Member, data: schemas.InventoryIn) -> InventoryItem:
    """Record something the member is willing to share."""
    if data.category:
        check_category(db, data.category)
    item = InventoryItem(
        member_id=member.id,
        kind=data.kind,
        name=data.name,
        description=data.description,
        category=data.category,
        h3_cell=coarse_cell(data.h3_cell, settings.h3_resolution) if data.h3_cell else None,
        available=data.available,
    )
    db.add(item)
    db.flush()
    return item


def own_item(db: Session, item_id: uuid.UUID, member: Member) -> InventoryItem:
    """An inventory item of the member's, or a problem."""
    item = db.get(InventoryItem, item_id)
    if item is None:
        raise NotFound("no such inventory item")
    if item.member_id != member.id:
        raise Forbidden("this item belongs to another member")
    return item


def update_item(
    db: Session, settings: Settings, item: InventoryItem, data: schemas.InventoryUpdate
) -> InventoryItem:
    """Change the fields that were sent."""
    changes = data.model_dump(exclude_unset=True)
    refuse_nulls(InventoryItem, changes)
    if changes.get("category"):
        check_category(db, changes["category"])
    if changes.get("h3_cell"):
        changes["h3_cell"] = coarse_cell(changes["h3_cell"], settings.h3_resolution)
    for name, value in changes.items():
        setattr(item, name, value)
    db.flush()
    return item


# --- matches -----------------------------------------------------------------------------

def propose_match(db: Session, member: Member, data: schemas.MatchIn) -> Match:
    """Propose meeting a need with an offer; the proposer must own one side of it."""
    need = _named(db, ListingKind.NEED, data.need_id, "need_id")
    offer = _named(db, ListingKind.OFFER, data.offer_id, "offer_id")
    if member.id not in (need.member_id, offer.member_id):
        raise Forbidden("you can only propose a match for your own need or offer")
    if need.member_id == offer.member_id:
        raise ValidationFailed("same member", [FieldError("offer_id", "the need and offer are both yours")])
    for field, listing in (("need_id", need), ("offer_id", offer)):
        if listing.status != ListingStatus.OPEN:
            raise InvalidState(
                f"the {listing.kind.value} is {listing.status.value}",
                [FieldError(field, f"is {listing.status.value}, not open")],
            )
    duplicate = db.scalar(select(Match.id).where(
        Match.need_id == need.id, Match.offer_id == offer.id, Match.status == MatchStatus.PROPOSED
    ))
    if duplicate is not None:
        raise InvalidState("this match is already proposed")
    match = Match(need_id=need.id, offer_id=offer.id, proposed_by_id=member.id, note=data.note)
    db.add(match)
    db.flush()
    match_changed.send(db, match=match, change=match.status.value)
    return match


def _named(db: Session, kind: ListingKind, listing_id: uuid.UUID, field: str) -> Listing:
    try:
        return get_listing(db, kind, listing_id)
    except NotFound as exc:
        raise NotFound(exc.detail, [FieldError(field, f"no such {kind.value}")]) from None


def get_match(db: Session, match_id: uuid.UUID, member: Member) -> Match:
    """A match the member is a party to, or a problem."""
    match = db.get(Match, match_id)
    if match is None:
        raise NotFound("no such match")
    if member.id not in (match.need.member_id, match.offer.member_id):
        raise Forbidden("you are not a party to this match")
    return match


def accept_match(db: Session, match: Match, member: Member) -> Match:
    """The other side accepts: both listings become matched, rival proposals are cancelled."""
    _require_other_side(match, member)
    _require_status(match, MatchStatus.PROPOSED)
    for listing in (match.need, match.offer):
        if listing.status != ListingStatus.OPEN:
            raise InvalidState(f"the {listing.kind.value} is no longer open")
    match.status = MatchStatus.ACCEPTED
    match.decided_at = utcnow()
    match.decided_by_id = member.id
    db.flush()
    for listing in (match.need, match.offer):
        _set_status(db, listing, ListingStatus.MATCHED)
        _cancel_pending(db, listing, "matched elsewhere")
    match_changed.send(db, match=match, change=match.status.value)
    return match


def decline_match(db: Session, match: Match, member: Member, outcome: str) -> Match:
    """The other side declines the proposal."""
    _require_other_side(match, member)
    _require_status(match, MatchStatus.PROPOSED)
    match.status = MatchStatus.DECLINED
    match.decided_at = utcnow()
    match.decided_by_id = member.id
    match.outcome = outcome
    db.flush()
    match_changed.send(db, match=match, change=match.status.value)
    return match


def cancel_match(db: Session, match: Match, member: Member, outcome: str) -> Match:
    """Either side calls it off; an accepted match that falls through reopens both listings."""
    if match.status not in (MatchStatus.PROPOSED, MatchStatus.ACCEPTED):
        raise InvalidState(f"the match is already {match.status.value}")
    if match.status == MatchStatus.PROPOSED and member.id != match.proposed_by_id:
        raise Forbidden("only the proposer can cancel a proposal; decline it instead")
    was_accepted = match.status == MatchStatus.ACCEPTED
    match.status = MatchStatus.CANCELLED
    match.decided_at = utcnow()
    match.outcome = outcome
    db.flush()
    if was_accepted:
        for listing in (match.need, match.offer):
            if listing.status == ListingStatus.MATCHED:
                _set_status(db, listing, ListingStatus.OPEN)
    match_changed.send(db, match=match, change=match.status.value)
    return match


def fulfil_match(db: Session, match: Match, member: Member, outcome: str) -> Match:
    """Either side records that the exchange happened."""
    _require_status(match, MatchStatus.ACCEPTED)
    match.status = MatchStatus.FULFILLED
    match.outcome = outcome
    db.flush()
    for listing in (match.need, match.offer):
        _set_status(db, listing, ListingStatus.FULFILLED)
    match_changed.send(db, match=match, change=match.status.value)
    return match


def _require_other_side(match: Match, member: Member) -> None:
    if member.id == match.proposed_by_id:
        raise Forbidden("the other side of the match decides on it")


def _require_status(match: Match, status: MatchStatus) -> None:
    if match.status != status:
        raise InvalidState(f"the match is {match.status.value}, not {status.value}")
