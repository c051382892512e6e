"""The front page: a welcome for visitors, and for members what waits on them."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from sqlalchemy import select

from node.db import get_session
from node.members.auth import current_member
from node.resources.member_data import member_matches
from node.resources.models import Listing, ListingStatus
from node.resources.service import ACTIVE
from node.web.base import render
from node.web.matches import waiting_on

bp = Blueprint("home", __name__)


@bp.get("/")
def index() -> Any:
    """The welcome page, or the member's overview."""
    member = current_member()
    if member is None:
        return render("home/welcome.html")
    db = get_session()
    mine = list(
        db.scalars(
            select(Listing)
            .where(Listing.member_id == member.id, Listing.status.in_(ACTIVE))
            .order_by(Listing.created_at.desc())
            .limit(20)
        )
    )
    matches = member_matches(db, member)
    recent = list(
        db.scalars(
            select(Listing)
            .where(Listing.status == ListingStatus.OPEN, Listing.member_id != member.id)
            .order_by(Listing.created_at.desc())
            .limit(5)
        )
    )
    return render("home/index.html", mine=mine, waiting=waiting_on(member, matches), recent=recent)
