"""The 'where' field of the forms: an area as an H3 cell, or a position the phone gave."""

from __future__ import annotations

import re

import h3
from flask_babel import gettext
from sqlalchemy import select
from sqlalchemy.orm import Session

from node.members.models import Member
from node.resources.models import Listing
from node.settings import Settings
from node.web.forms import FormErrors

POSITION = re.compile(r"^\s*(-?\d{1,2}(?:\.\d+)?)\s*,\s*(-?\d{1,3}(?:\.\d+)?)\s*$")


def to_cell(value: str, settings: Settings, field: str = "area") -> str:
    """An H3 cell at the node's resolution from a cell or 'latitude, longitude'."""
    value = value.strip()
    position = POSITION.match(value)
    if position:
        lat, lng = float(position.group(1)), float(position.group(2))
        if -90 <= lat <= 90 and -180 <= lng <= 180:
            return str(h3.latlng_to_cell(lat, lng, settings.h3_resolution))
    elif value and h3.is_valid_cell(value.lower()):
        return value.lower()
    if not value:
        raise FormErrors({field: gettext("Say roughly where: use the button, or leave the area as it was.")})
    raise FormErrors({field: gettext("This is not a place we know. Leave it as it was.")})


def default_area(db: Session, settings: Settings, member: Member) -> str:
    """The area a member used last, else the node's own area, else nothing."""
    last = db.scalar(
        select(Listing.h3_cell)
        .where(Listing.member_id == member.id)
        .order_by(Listing.created_at.desc())
        .limit(1)
    )
    return last or getattr(settings, "default_area_cell", None) or ""
