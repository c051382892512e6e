"""Announcing this node's needs and offers to the federation, in the transaction that changes them.

`node` sends `listing_changed` (sender: the Session) whenever a listing is published, updated
or changes status; this receiver publishes the matching `need.*` or `surplus.*` envelope
through the outbox. An offer is called a surplus on the wire. The body says what a neighbour
needs to help and never who: no name, email, phone or address, only the poster's handle.

When a member erases their data (`member_erasing`, in the erasure's transaction), every
listing of theirs is announced `*.withdrawn` with status `erased`, whatever its state, and
each receiver blanks what it kept of it: no listing of an erased member stays anywhere.
"""

from __future__ import annotations

import logging
import weakref
from typing import Any

from flask import Flask
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from federation import bodies
from federation.pledges import WIRE_KIND, lock_publishing
from node.members.models import Member
from node.resources.models import Listing, ListingStatus
from node.signals import listing_changed, listing_changing, member_erasing

log = logging.getLogger(__name__)

# Changes after which the listing is still worth helping with: send its full description.
LIVE = {"published": "published", "updated": "updated", ListingStatus.OPEN.value: "updated",
        ListingStatus.MATCHED.value: "updated"}
CLOSED = {ListingStatus.WITHDRAWN.value, ListingStatus.FULFILLED.value, ListingStatus.EXPIRED.value}

# The app whose database an engine is, so a receiver given only a Session finds its node.
_APPS: weakref.WeakKeyDictionary[Engine, Flask] = weakref.WeakKeyDictionary()


def init_app(app: Flask) -> None:
    """Announce this app's listing changes to the federation."""
    _APPS[app.extensions["db"].engine] = app


def app_of(db: Session) -> Flask | None:
    """The federating app that owns this session's database, if any."""
    bind = db.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    return _APPS.get(engine)


def listing_body(db: Session, listing: Listing) -> bodies.ListingBody:
    """What the federation learns of a listing: no personal data, the handle at most."""
    member = db.get(Member, listing.member_id)
    return bodies.ListingBody(
        listing_id=listing.id, category=listing.category, title=listing.title,
        description=listing.description, quantity=listing.quantity, unit=listing.unit,
        urgency=listing.urgency.value, h3_cell=listing.h3_cell,
        handle=member.handle if member else "unknown", status=listing.status.value,
        available_from=listing.available_from, available_until=listing.available_until,
        expires=listing.expires_at,
    )


def wire_type(listing: Listing, change: str) -> str | None:
    """The envelope type announcing `change` of this listing, or None for nothing to say."""
    kind = WIRE_KIND[listing.kind]
    if change in LIVE:
        return f"{kind}.{LIVE[change]}"
    if change in CLOSED:
        return f"{kind}.withdrawn"
    return None


@listing_changing.connect
def _lock_first(db: Session, listing: Listing, **_: Any) -> None:
    # The change will be announced under the seq counter's lock: take it before the listing's
    # row is written, as a pledge decision does (federation.pledges.lock_publishing).
    if app_of(db) is not None:
        lock_publishing(db)


@listing_changed.connect
def _announce(db: Session, listing: Listing, change: str, **_: Any) -> None:
    from federation.incidents import priority_for
    from federation.outbox import publish

    app = app_of(db)
    type_name = wire_type(listing, change)
    if app is None or type_name is None:
        return
    body: bodies.Body
    if type_name.endswith(".withdrawn"):
        body = bodies.ListingClosed(listing_id=listing.id, status=listing.status.value)  # type: ignore[arg-type]
    else:
        body = listing_body(db, listing)
    # Inside a live incident's area the news travels in the priority lane (federation/incidents.py).
    publish(db, app, type_name, body, priority=priority_for(db, listing.h3_cell))


@member_erasing.connect
def _erase(db: Session, member: Member, **_: Any) -> None:
    from federation.incidents import priority_for
    from federation.outbox import publish

    app = app_of(db)
    if app is None:
        return
    rows = db.scalars(
        select(Listing).where(Listing.member_id == member.id).order_by(Listing.created_at, Listing.id)
    )
    for listing in list(rows):
        body = bodies.ListingClosed(listing_id=listing.id, status="erased")
        publish(db, app, f"{WIRE_KIND[listing.kind]}.withdrawn", body,
                priority=priority_for(db, listing.h3_cell))
