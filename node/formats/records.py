"""The open needs and offers an export carries, read once and shared by every format."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import h3
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from node.db import utcnow
from node.members.models import Member
from node.resources.areas import is_coarse_enough
from node.resources.models import Listing, ListingKind, ListingStatus, Urgency
from node.settings import Settings

# Five decimals of a degree is about a metre: more than enough for a cell's centre, which is
# all an export ever gives (never a member's own location).
COORDINATE_DECIMALS = 5


@dataclass(frozen=True)
class ExportRow:
    """One open need or offer as the exports see it: the area is a cell, the person a handle."""

    id: uuid.UUID
    kind: ListingKind
    category: str
    title: str
    description: str
    quantity: float
    unit: str
    urgency: Urgency
    h3_cell: str
    lat: float
    lon: float
    status: ListingStatus
    available_from: datetime | None
    available_until: datetime | None
    expires_at: datetime | None
    created_at: datetime
    handle: str


def open_rows(db: Session, settings: Settings, kinds: tuple[ListingKind, ...]) -> list[ExportRow]:
    """The node's open, unexpired listings of these kinds, oldest first."""
    now = utcnow()
    stmt = (
        select(Listing, Member.handle)
        .join(Member, Member.id == Listing.member_id)
        .where(
            Listing.kind.in_(kinds),
            Listing.status == ListingStatus.OPEN,
            or_(Listing.expires_at.is_(None), Listing.expires_at > now),
        )
        .order_by(Listing.kind, Listing.created_at, Listing.id)
    )
    return [_row(listing, handle, settings.h3_resolution) for listing, handle in db.execute(stmt)]


def shared_cell(cell: str, resolution: int) -> str:
    """The cell as it may be shared: never finer than the node's resolution."""
    if is_coarse_enough(cell, resolution):
        return cell
    return str(h3.cell_to_parent(cell, resolution))


def cell_centre(cell: str) -> tuple[float, float]:
    """Latitude and longitude of a cell's centre, rounded for export."""
    lat, lon = h3.cell_to_latlng(cell)
    return round(lat, COORDINATE_DECIMALS), round(lon, COORDINATE_DECIMALS)


def _row(listing: Listing, handle: str, resolution: int) -> ExportRow:
    cell = shared_cell(listing.h3_cell, resolution)
    lat, lon = cell_centre(cell)
    return ExportRow(
        id=listing.id, kind=listing.kind, category=listing.category, title=listing.title,
        description=listing.description, quantity=listing.quantity, unit=listing.unit,
        urgency=listing.urgency, h3_cell=cell, lat=lat, lon=lon, status=listing.status,
        available_from=listing.available_from, available_until=listing.available_until,
        expires_at=listing.expires_at, created_at=listing.created_at, handle=handle,
    )


def iso(value: datetime | None) -> str:
    """An aware datetime as RFC 3339 in UTC, or "" for none."""
    if value is None:
        return ""
    return value.isoformat().replace("+00:00", "Z")


def number(value: float) -> str:
    """A quantity without a needless ".0"."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def spreadsheet_safe(text: str) -> str:
    """Text that a spreadsheet will not run as a formula (a leading ' is its escape)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
