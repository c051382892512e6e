"""A member's needs, offers, inventory and matches in their export, and withdrawn on erase.

Connected to the members signals when `node.resources` is imported, so that `node.members`
never needs to know this package.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, aliased

from node.members.models import Member
from node.resources.models import InventoryItem, Listing, Match
from node.resources.service import ACTIVE, withdraw_listing
from node.signals import member_erasing, member_exporting


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def _listing(row: Listing) -> dict[str, Any]:
    return {
        "id": str(row.id), "kind": row.kind.value, "category": row.category, "title": row.title,
        "description": row.description, "quantity": row.quantity, "unit": row.unit,
        "urgency": row.urgency.value, "available_from": _iso(row.available_from),
        "available_until": _iso(row.available_until), "h3_cell": row.h3_cell,
        "status": row.status.value, "expires_at": _iso(row.expires_at),
        "created_at": _iso(row.created_at), "updated_at": _iso(row.updated_at),
    }


def _item(row: InventoryItem) -> dict[str, Any]:
    return {
        "id": str(row.id), "kind": row.kind.value, "name": row.name,
        "description": row.description, "category": row.category, "h3_cell": row.h3_cell,
        "available": row.available, "created_at": _iso(row.created_at),
    }


def _match(row: Match, member: Member) -> dict[str, Any]:
    # The other side is named by handle only: their contacts are their data, not this member's.
    return {
        "id": str(row.id), "need_id": str(row.need_id), "offer_id": str(row.offer_id),
        "status": row.status.value, "note": row.note, "outcome": row.outcome,
        "proposed_by_me": row.proposed_by_id == member.id, "created_at": _iso(row.created_at),
        "decided_at": _iso(row.decided_at),
    }


def member_matches(db: Session, member: Member) -> list[Match]:
    """Every match one of the member's listings is a side of."""
    need, offer = aliased(Listing), aliased(Listing)
    stmt = (
        select(Match)
        .join(need, Match.need_id == need.id)
        .join(offer, Match.offer_id == offer.id)
        .where(or_(need.member_id == member.id, offer.member_id == member.id))
        .order_by(Match.created_at, Match.id)
    )
    return list(db.scalars(stmt))


def export_sections(db: Session, *, member: Member, sections: dict[str, Any], **_: Any) -> None:
    """Add the member's listings, inventory and matches to their export."""
    listings = db.scalars(
        select(Listing).where(Listing.member_id == member.id).order_by(Listing.created_at, Listing.id)
    )
    items = db.scalars(
        select(InventoryItem)
        .where(InventoryItem.member_id == member.id)
        .order_by(InventoryItem.created_at, InventoryItem.id)
    )
    rows = list(listings)
    sections["needs"] = [_listing(r) for r in rows if r.kind.value == "need"]
    sections["offers"] = [_listing(r) for r in rows if r.kind.value == "offer"]
    sections["inventory"] = [_item(r) for r in items]
    sections["matches"] = [_match(r, member) for r in member_matches(db, member)]


def withdraw_before_erase(db: Session, *, member: Member, **_: Any) -> None:
    """Withdraw the member's open and matched listings so that everyone who saw them learns it."""
    active = db.scalars(
        select(Listing).where(Listing.member_id == member.id, Listing.status.in_(ACTIVE))
    )
    for listing in list(active):
        withdraw_listing(db, listing, why="its poster left the node")


member_exporting.connect(export_sections)
member_erasing.connect(withdraw_before_erase)
