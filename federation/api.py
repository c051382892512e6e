"""The federation part of the JSON API: this node's identity, its peers, pledges to other
nodes' needs and surpluses, and the listings other nodes shared."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from flask import current_app
from pydantic import BaseModel, Field, StringConstraints
from sqlalchemy import select

from federation import peers as peer_service
from federation import pledges
from federation.apply import ERASED
from federation.bodies import NODE_ID_PATTERN, Kind, Quantity, Unit
from federation.identity import local_identity
from federation.keys import fingerprint
from federation.models import NodeKey, Peer, PeerStatus, Pledge, PledgeStatus, Relation, RemoteListing
from node.api.operations import ApiBlueprint
from node.api.paging import Page, PageQuery, page_of, paginate
from node.db import get_session
from node.errors import FieldError, ValidationFailed
from node.members.auth import require_member
from node.members.schemas import Input
from node.members.service import require_steward

bp = ApiBlueprint("federation_api", __name__, tag="Federation")


def _app() -> Any:
    return current_app._get_current_object()  # type: ignore[attr-defined]


# --- this node ------------------------------------------------------------------------

class KeyOut(BaseModel):
    key: str
    fingerprint: str
    created_at: datetime
    valid_until: datetime | None
    current: bool


class NodeOut(BaseModel):
    id: str
    name: str
    role: str
    fingerprint: str = Field(description="Read it to the operator of a node that adds this one")
    keys: list[KeyOut]


@bp.operation("/node", "GET", "This node's id, key fingerprint and keys", response=NodeOut)
def this_node() -> Any:
    require_member()
    db, app = get_session(), _app()
    identity = local_identity(app)
    keys = [
        KeyOut(key=row.public_key, fingerprint=fingerprint(row.public_key), created_at=row.created_at,
               valid_until=row.valid_until, current=row.public_key == identity.public_key)
        for row in db.scalars(select(NodeKey).order_by(NodeKey.id))
    ]
    settings = app.config["MUTUALAID"]
    return NodeOut(id=identity.node_id, name=settings.node_name, role=settings.role,
                   fingerprint=fingerprint(identity.public_key), keys=keys)


# --- peers ------------------------------------------------------------------------------

class PeerIn(Input):
    url: Annotated[str, StringConstraints(min_length=8, max_length=500)]
    fingerprint: Annotated[str, StringConstraints(min_length=32, max_length=80)] = Field(
        description="The key fingerprint the node's operator gave you out of band"
    )
    relation: Literal["peer", "federation", "member"] = "peer"


class PeerQuery(PageQuery):
    relation: Relation | None = None
    status: PeerStatus | None = None


class PeerOut(BaseModel):
    id: str
    name: str
    url: str | None
    role: str
    relation: str
    status: str
    fingerprint: str
    member_of: list[str]
    introduced_by: str | None
    created_at: datetime
    health: Literal["healthy", "degraded", "unreachable", "blocked"]
    pending: int = Field(description="Envelopes waiting to be delivered")
    oldest_pending_at: datetime | None
    oldest_pending_age: float | None = Field(description="Seconds the oldest waiting envelope has waited")
    last_success_at: datetime | None
    last_failure_at: datetime | None
    last_error: str | None
    consecutive_failures: int
    next_attempt_at: datetime | None
    rejected: int = Field(description="Envelopes this peer refused for good")


@bp.operation("/peers", "GET", "Nodes this node federates with, with delivery health and lag",
              query=PeerQuery, response=Page[PeerOut])
def list_peers(query: PeerQuery) -> Any:
    require_member()
    db = get_session()
    stmt = select(Peer)
    if query.relation:
        stmt = stmt.where(Peer.relation == query.relation)
    if query.status:
        stmt = stmt.where(Peer.status == query.status)
    rows, total = paginate(db, stmt.order_by(Peer.created_at, Peer.id), query)
    return page_of(peer_service.describe(db, _app(), rows), total, query)


@bp.operation("/peers/<peer_id>", "GET", "One known node", response=PeerOut, problems=(404,))
def get_peer(peer_id: str) -> Any:
    require_member()
    db = get_session()
    return peer_service.describe(db, _app(), [peer_service.get_peer(db, peer_id)])[0]


@bp.operation("/peers", "POST", "Add a node by URL after checking its key fingerprint (stewards)",
              body=PeerIn, response=PeerOut, status=201, problems=(403, 422, 503))
def add_peer(body: PeerIn) -> Any:
    db = get_session()
    require_steward(db, require_member())
    peer = peer_service.add_peer(db, _app(), body.url, body.fingerprint, Relation(body.relation))
    db.commit()
    return peer_service.describe(db, _app(), [peer])[0]


def _set_status(peer_id: str, status: PeerStatus) -> Any:
    db = get_session()
    require_steward(db, require_member())
    peer = peer_service.set_status(db, peer_id, status)
    db.commit()
    return peer_service.describe(db, _app(), [peer])[0]


@bp.operation("/peers/<peer_id>/block", "POST", "Block a node: nothing sent to it, nothing taken from it",
              response=PeerOut, problems=(403, 404, 409))
def block_peer(peer_id: str) -> Any:
    return _set_status(peer_id, PeerStatus.BLOCKED)


@bp.operation("/peers/<peer_id>/unblock", "POST", "Allow a blocked node again",
              response=PeerOut, problems=(403, 404, 409))
def unblock_peer(peer_id: str) -> Any:
    return _set_status(peer_id, PeerStatus.ALLOWED)


# --- other nodes' listings and pledges --------------------------------------------------

class RemoteQuery(PageQuery):
    kind: Kind | None = None
    category: str | None = Field(default=None, max_length=40)
    status: str | None = Field(default="open", max_length=20)


class RemoteListingOut(BaseModel):
    node_id: str
    listing_id: uuid.UUID
    kind: str
    category: str
    title: str
    description: str
    quantity: float
    unit: str
    urgency: str
    h3_cell: str
    handle: str
    status: str
    available_from: datetime | None
    available_until: datetime | None
    expires_at: datetime | None
    updated_at: datetime


@bp.operation("/network/listings", "GET", "Needs and surpluses other nodes shared",
              query=RemoteQuery, response=Page[RemoteListingOut])
def remote_listings(query: RemoteQuery) -> Any:
    require_member()
    db = get_session()
    stmt = select(RemoteListing).where(RemoteListing.status != ERASED)  # blank tombstones
    if query.kind:
        stmt = stmt.where(RemoteListing.kind == query.kind)
    if query.category:
        stmt = stmt.where(RemoteListing.category == query.category)
    if query.status:
        stmt = stmt.where(RemoteListing.status == query.status)
    stmt = stmt.order_by(RemoteListing.updated_at.desc(), RemoteListing.listing_id)
    rows, total = paginate(db, stmt, query)
    items = [RemoteListingOut.model_validate(r, from_attributes=True).model_dump(mode="json") for r in rows]
    return page_of(items, total, query)


class PledgeIn(Input):
    owner: Annotated[str, StringConstraints(pattern=NODE_ID_PATTERN)] = Field(
        description="The node that published the need or surplus"
    )
    listing_id: uuid.UUID
    listing_kind: Kind
    quantity: Quantity
    unit: Unit
    note: Annotated[str, StringConstraints(max_length=500)] = ""
    pledger_listing_id: uuid.UUID | None = None
    lease_hours: int = Field(default=24, ge=1, le=24 * 14)


class PledgeOut(BaseModel):
    id: uuid.UUID
    owner_node: str
    listing_id: uuid.UUID
    listing_kind: str
    pledger_node: str
    pledger_listing_id: uuid.UUID | None
    quantity: float
    unit: str
    note: str
    status: PledgeStatus
    reason: str
    lease_until: datetime
    created_at: datetime
    decided_at: datetime | None


@bp.operation("/pledges", "POST", "Pledge something against another node's need or surplus",
              body=PledgeIn, response=PledgeOut, status=201, problems=(422,))
def offer_pledge(body: PledgeIn) -> Any:
    require_member()
    db, app = get_session(), _app()
    if body.owner == local_identity(app).node_id:
        raise ValidationFailed("that is this node", [FieldError("owner", "pledge to another node's listing")])
    pledge = pledges.offer(db, app, body.owner, body.listing_id, body.listing_kind, body.quantity,
                           body.unit, body.note, body.pledger_listing_id, timedelta(hours=body.lease_hours))
    db.commit()
    return PledgeOut.model_validate(pledge, from_attributes=True)


class PledgeQuery(PageQuery):
    status: PledgeStatus | None = None
    listing_id: uuid.UUID | None = None


@bp.operation("/pledges", "GET", "Pledges this node made or decided", query=PledgeQuery,
              response=Page[PledgeOut])
def list_pledges(query: PledgeQuery) -> Any:
    require_member()
    db = get_session()
    stmt = select(Pledge)
    if query.status:
        stmt = stmt.where(Pledge.status == query.status)
    if query.listing_id:
        stmt = stmt.where(Pledge.listing_id == query.listing_id)
    rows, total = paginate(db, stmt.order_by(Pledge.created_at.desc(), Pledge.id), query)
    items = [PledgeOut.model_validate(row, from_attributes=True).model_dump(mode="json") for row in rows]
    return page_of(items, total, query)
