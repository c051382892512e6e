"""Suggesting local matches: rank the other side's open listings for one listing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from node.db import utcnow
from node.resources.areas import distance_km
from node.resources.categories import RELATED
from node.resources.models import Listing, ListingKind, ListingStatus, Urgency

URGENCY_WEIGHT = {
    Urgency.ROUTINE: 0.25,
    Urgency.SOON: 0.5,
    Urgency.URGENT: 0.75,
    Urgency.EMERGENCY: 1.0,
}
WEIGHTS = {"category": 0.4, "distance": 0.3, "urgency": 0.15, "availability": 0.15}
# Half the distance score is lost at this many kilometres.
DISTANCE_HALF_KM = 2.0
MAX_SUGGESTIONS = 20


@dataclass(frozen=True)
class Scored:
    """A candidate with its score and the parts that make it up."""

    listing: Listing
    score: float
    distance_km: float
    reasons: dict[str, float]


def suggest(db: Session, listing: Listing, limit: int = MAX_SUGGESTIONS) -> list[Scored]:
    """The best open listings of the other kind for `listing`, best first."""
    other = ListingKind.OFFER if listing.kind == ListingKind.NEED else ListingKind.NEED
    categories = {listing.category} | RELATED.get(listing.category, set())
    now = utcnow()
    candidates = db.scalars(
        select(Listing).where(
            Listing.kind == other,
            Listing.status == ListingStatus.OPEN,
            Listing.category.in_(categories),
            Listing.member_id != listing.member_id,
            or_(Listing.expires_at.is_(None), Listing.expires_at > now),
        )
    )
    scored = [score(listing, candidate, now) for candidate in candidates]
    scored.sort(key=lambda s: (-s.score, s.distance_km, s.listing.created_at))
    return scored[:limit]


def score(listing: Listing, candidate: Listing, now: datetime) -> Scored:
    """Score one candidate against a listing: category, distance, urgency, availability."""
    need = listing if listing.kind == ListingKind.NEED else candidate
    km = distance_km(listing.h3_cell, candidate.h3_cell)
    reasons = {
        "category": 1.0 if candidate.category == listing.category else 0.5,
        "distance": 1.0 / (1.0 + km / DISTANCE_HALF_KM),
        "urgency": URGENCY_WEIGHT[need.urgency],
        "availability": availability(listing, candidate, now),
    }
    total = sum(WEIGHTS[name] * value for name, value in reasons.items())
    return Scored(candidate, round(total, 4), round(km, 3), reasons)


def availability(a: Listing, b: Listing, now: datetime) -> float:
    """1 if the two windows overlap from now on, 0 if they cannot meet."""
    start = max(filter(None, (a.available_from, b.available_from, now)))
    ends = [end for end in (a.available_until, b.available_until) if end is not None]
    if ends and min(ends) <= start:
        return 0.0
    return 1.0
