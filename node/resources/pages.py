"""Pages of needs and offers, read in one query of plain columns: the API's busiest path.

Listing open needs is what every member's screen and every script does most, so it avoids the
ORM's per-row work: one statement (built once per combination of filters and kept) returns the
page with each poster's handle and the count of all matches, and rows become JSON-ready dicts
directly.
"""

from __future__ import annotations

import functools
import uuid
from datetime import UTC
from typing import Any

from sqlalchemy import Select, String, bindparam, func, or_, select, type_coerce
from sqlalchemy.orm import Session

from node.db import utcnow
from node.members.models import Member
from node.resources import schemas
from node.resources.models import Listing, ListingKind, ListingStatus

_T = Listing.__table__.c


def _raw(column: Any, kind: Any) -> Any:
    return type_coerce(column, kind).label(column.name)


# Everything is read as the text it is stored as where the database keeps text (SQLite: ids,
# times, enums), and formatted from that: no per-value parsing and re-formatting on every row.
_COLUMNS = (
    _raw(_T.id, String), _T.category, _T.title, _T.description, _T.quantity, _T.unit,
    _raw(_T.urgency, String), _raw(_T.available_from, String), _raw(_T.available_until, String),
    _T.h3_cell, _raw(_T.status, String), _raw(_T.expires_at, String), _raw(_T.created_at, String),
    _raw(_T.updated_at, String),
)


def uuid_text(value: Any) -> str:
    """An id as text with dashes, from SQLite's 32 hex digits or PostgreSQL's uuid."""
    if isinstance(value, str) and len(value) == 32:
        return f"{value[:8]}-{value[8:12]}-{value[12:16]}-{value[16:20]}-{value[20:]}"
    return str(value)


def iso(value: Any) -> str | None:
    """A stored time as the API writes it everywhere: UTC, the form pydantic gives (...Z)."""
    if value is None:
        return None
    if isinstance(value, str):
        # SQLite keeps UTC times as "YYYY-MM-DD HH:MM:SS.ffffff".
        text = value.replace(" ", "T", 1)
        return (text[:-7] if text.endswith(".000000") else text) + "Z"
    if value.tzinfo is not None:
        # PostgreSQL answers in the session's zone; everything is stored and shown in UTC.
        value = value.astimezone(UTC).replace(tzinfo=None)
    return str(value.isoformat()) + "Z"


@functools.cache
def _statements(
    kind: ListingKind, status: bool, open_only: bool, category: bool, urgency: bool, mine: bool
) -> tuple[Select[Any], Select[Any]]:
    """The page statement and the count statement for one combination of filters."""
    conditions: list[Any] = [Listing.kind == kind]
    if status:
        conditions.append(Listing.status == bindparam("status"))
    if open_only:
        conditions.append(or_(Listing.expires_at.is_(None), Listing.expires_at > bindparam("now")))
    if category:
        conditions.append(Listing.category == bindparam("category"))
    if urgency:
        conditions.append(Listing.urgency == bindparam("urgency"))
    if mine:
        conditions.append(Listing.member_id == bindparam("member_id"))
    count = select(func.count()).select_from(Listing).where(*conditions)
    page = (
        select(*_COLUMNS, Member.handle, (Listing.member_id == bindparam("viewer")).label("mine"),
               # The database counts once per statement (the subquery does not depend on the row):
               # one round trip instead of two. A window count would instead make it join and
               # sort every matching row before the limit.
               count.correlate(None).scalar_subquery().label("total"))
        .join(Member, Member.id == Listing.member_id)
        .where(*conditions)
        .order_by(Listing.created_at.desc(), Listing.id.desc())
        .limit(bindparam("limit"))
        .offset(bindparam("offset"))
    )
    return page, count


def listing_page(
    db: Session, kind: ListingKind, query: schemas.ListingQuery, viewer_id: uuid.UUID
) -> tuple[list[dict[str, Any]], int]:
    """One page of listings as JSON-ready dicts, and how many match in all."""
    open_only = query.status == ListingStatus.OPEN
    page, count = _statements(kind, query.status is not None, open_only, bool(query.category),
                              query.urgency is not None, query.mine)
    params: dict[str, Any] = {
        "limit": query.per_page, "offset": (query.page - 1) * query.per_page, "viewer": viewer_id,
    }
    if query.status is not None:
        params["status"] = query.status
    if open_only:
        params["now"] = utcnow()
    if query.category:
        params["category"] = query.category
    if query.urgency is not None:
        params["urgency"] = query.urgency
    if query.mine:
        params["member_id"] = viewer_id
    # Core execution on the session's connection: the same transaction, none of the ORM's work.
    connection = db.connection()
    rows = connection.execute(page, params).all()
    if rows:
        total = rows[0][-1]
    elif params["offset"] == 0:
        total = 0
    else:  # a page past the end: its rows cannot say how many there are
        total = connection.scalar(count, params) or 0
    return [_item(row, kind.value) for row in rows], total


def _item(row: Any, kind: str) -> dict[str, Any]:
    # Unpacked by position (the order of _COLUMNS): much cheaper than a Row's attribute lookups.
    (id_, category, title, description, quantity, unit, urgency, available_from, available_until,
     h3_cell, status, expires_at, created_at, updated_at, handle, mine, _total) = row
    return {
        "id": uuid_text(id_), "kind": kind, "category": category, "title": title,
        "description": description, "quantity": quantity, "unit": unit,
        "urgency": urgency, "available_from": iso(available_from),
        "available_until": iso(available_until), "h3_cell": h3_cell,
        "status": status, "expires_at": iso(expires_at),
        "created_at": iso(created_at), "updated_at": iso(updated_at),
        "handle": handle, "mine": bool(mine),
    }
