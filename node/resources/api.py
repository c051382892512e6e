"""The needs, offers, categories, inventory and matches part of the JSON API."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Response, current_app
from sqlalchemy import or_, select
from sqlalchemy.orm import Session, aliased

from node.api.operations import ApiBlueprint
from node.api.paging import Page, page_of, paginate
from node.db import get_session
from node.members.auth import require_member, require_member_id
from node.members.models import Member
from node.members.service import require_steward
from node.resources import categories, matching, pages, schemas, service
from node.resources.models import (
    Category,
    InventoryItem,
    Listing,
    ListingKind,
    Match,
    MatchStatus,
)
from node.settings import Settings

bp = ApiBlueprint("resources_api", __name__, tag="Needs and offers")


def _settings() -> Settings:
    value: Settings = current_app.config["MUTUALAID"]
    return value


def listing_out(db: Session, listing: Listing, viewer: Member) -> schemas.ListingOut:
    """A listing as members see it: the poster's handle, never their contacts."""
    handle = viewer.handle if listing.member_id == viewer.id else _handle(db, listing.member_id)
    return schemas.ListingOut(
        id=listing.id, kind=listing.kind, category=listing.category, title=listing.title,
        description=listing.description, quantity=listing.quantity, unit=listing.unit,
        urgency=listing.urgency, available_from=listing.available_from,
        available_until=listing.available_until, h3_cell=listing.h3_cell,
        status=listing.status, expires_at=listing.expires_at, created_at=listing.created_at,
        updated_at=listing.updated_at, handle=handle, mine=listing.member_id == viewer.id,
    )


def _handle(db: Session, member_id: uuid.UUID) -> str:
    member = db.get(Member, member_id)
    return member.handle if member else ""


def _register_listing_routes(kind: ListingKind, plural: str) -> None:
    """The same routes serve needs and offers; only the kind differs."""
    noun = kind.value
    a_noun = f"an {noun}" if noun[0] in "aeiou" else f"a {noun}"

    def list_view(query: schemas.ListingQuery) -> Any:
        db, member_id = get_session(), require_member_id()
        if query.category:
            categories.check_category(db, query.category)
        items, total = pages.listing_page(db, kind, query, member_id)
        # End the read before writing JSON: on SQLite an open read holds back the WAL checkpoint.
        db.commit()
        return page_of(items, total, query)

    def create_view(body: schemas.ListingIn) -> Any:
        db, member = get_session(), require_member()
        listing = service.create_listing(db, _settings(), member, kind, body)
        db.commit()
        return listing_out(db, listing, member)

    def get_view(listing_id: uuid.UUID) -> Any:
        db, member = get_session(), require_member()
        listing = service.get_listing(db, kind, listing_id)
        db.commit()
        return listing_out(db, listing, member)

    def update_view(listing_id: uuid.UUID, body: schemas.ListingUpdate) -> Any:
        db, member = get_session(), require_member()
        listing = service.own_listing(db, kind, listing_id, member)
        service.update_listing(db, _settings(), listing, body)
        db.commit()
        return listing_out(db, listing, member)

    def withdraw_view(listing_id: uuid.UUID) -> Any:
        db, member = get_session(), require_member()
        listing = service.own_listing(db, kind, listing_id, member)
        service.withdraw_listing(db, listing)
        db.commit()
        return listing_out(db, listing, member)

    def suggestions_view(listing_id: uuid.UUID) -> Any:
        db, member = get_session(), require_member()
        listing = service.get_listing(db, kind, listing_id)
        db.commit()
        items = [
            schemas.Suggestion(
                listing=listing_out(db, s.listing, member), score=s.score,
                distance_km=s.distance_km, reasons=s.reasons,
            )
            for s in matching.suggest(db, listing)
        ]
        return schemas.Suggestions(items=items)

    views: list[tuple[str, str, Any, str, dict[str, Any]]] = [
        ("", "GET", list_view, f"List {plural} (open ones by default)",
         {"query": schemas.ListingQuery, "response": Page[schemas.ListingOut], "read_only": True}),
        ("", "POST", create_view, f"Post {a_noun}",
         {"body": schemas.ListingIn, "response": schemas.ListingOut, "status": 201}),
        ("/<uuid:listing_id>", "GET", get_view, f"One {noun}",
         {"response": schemas.ListingOut, "problems": (404,)}),
        ("/<uuid:listing_id>", "PATCH", update_view, f"Change your open {noun}",
         {"body": schemas.ListingUpdate, "response": schemas.ListingOut, "problems": (403, 404, 409)}),
        ("/<uuid:listing_id>/withdraw", "POST", withdraw_view, f"Withdraw your {noun}",
         {"response": schemas.ListingOut, "problems": (403, 404, 409)}),
        ("/<uuid:listing_id>/suggestions", "GET", suggestions_view,
         f"Suggested matches for {a_noun}, best first",
         {"response": schemas.Suggestions, "problems": (404,)}),
    ]
    for suffix, method, view, summary, options in views:
        view.__name__ = f"{view.__name__.removesuffix('_view')}_{plural}"
        bp.operation(f"/{plural}{suffix}", method, summary, **options)(view)


_register_listing_routes(ListingKind.NEED, "needs")
_register_listing_routes(ListingKind.OFFER, "offers")


@bp.operation("/categories", "GET", "Categories of needs and offers on this node",
              response=schemas.CategoryList)
def list_categories() -> Any:
    require_member()
    rows = get_session().scalars(select(Category).order_by(Category.builtin.desc(), Category.slug))
    return {"items": [schemas.CategoryOut.model_validate(r).model_dump() for r in rows]}


@bp.operation("/categories", "POST", "Add a category (stewards only)", body=schemas.CategoryIn,
              response=schemas.CategoryOut, status=201, problems=(403, 409))
def add_category(body: schemas.CategoryIn) -> Any:
    db = get_session()
    require_steward(db, require_member())
    category = categories.add_category(db, body.slug, body.label)
    db.commit()
    return schemas.CategoryOut.model_validate(category)


# --- inventory ---------------------------------------------------------------------------

def item_out(db: Session, item: InventoryItem, viewer: Member) -> schemas.InventoryOut:
    return schemas.InventoryOut(
        id=item.id, kind=item.kind, name=item.name, description=item.description,
        category=item.category, h3_cell=item.h3_cell, available=item.available,
        handle=_handle(db, item.member_id), mine=item.member_id == viewer.id,
        created_at=item.created_at,
    )


@bp.operation("/inventory", "GET", "Skills, tools, vehicles and spaces members will share",
              query=schemas.InventoryQuery, response=Page[schemas.InventoryOut])
def list_inventory(query: schemas.InventoryQuery) -> Any:
    db, member = get_session(), require_member()
    stmt = select(InventoryItem)
    if query.kind:
        stmt = stmt.where(InventoryItem.kind == query.kind)
    if query.mine:
        stmt = stmt.where(InventoryItem.member_id == member.id)
    rows, total = paginate(db, stmt.order_by(InventoryItem.created_at.desc(), InventoryItem.id), query)
    return page_of([item_out(db, r, member).model_dump(mode="json") for r in rows], total, query)


@bp.operation("/inventory", "POST", "Add something you are willing to share",
              body=schemas.InventoryIn, response=schemas.InventoryOut, status=201)
def add_inventory(body: schemas.InventoryIn) -> Any:
    db, member = get_session(), require_member()
    item = service.add_item(db, _settings(), member, body)
    db.commit()
    return item_out(db, item, member)


@bp.operation("/inventory/<uuid:item_id>", "PATCH", "Change your inventory item",
              body=schemas.InventoryUpdate, response=schemas.InventoryOut, problems=(403, 404))
def update_inventory(item_id: uuid.UUID, body: schemas.InventoryUpdate) -> Any:
    db, member = get_session(), require_member()
    item = service.update_item(db, _settings(), service.own_item(db, item_id, member), body)
    db.commit()
    return item_out(db, item, member)


@bp.operation("/inventory/<uuid:item_id>", "DELETE", "Remove your inventory item", status=204,
              problems=(403, 404))
def delete_inventory(item_id: uuid.UUID) -> Response:
    db, member = get_session(), require_member()
    db.delete(service.own_item(db, item_id, member))
    db.commit()
    return Response(status=204)


# --- matches -----------------------------------------------------------------------------

def match_out(db: Session, match: Match, viewer: Member) -> schemas.MatchOut:
    """A match; once accepted, each side sees the other's contact details."""
    contact = None
    if match.status in (MatchStatus.ACCEPTED, MatchStatus.FULFILLED):
        other_id = match.offer.member_id if match.need.member_id == viewer.id else match.need.member_id
        other = db.get(Member, other_id)
        if other is not None:
            contact = schemas.Contact(
                handle=other.handle, display_name=other.display_name, email=other.email,
                phone=other.phone,
            )
    proposer = db.get(Member, match.proposed_by_id) if match.proposed_by_id else None
    return schemas.MatchOut(
        id=match.id, need=listing_out(db, match.need, viewer),
        offer=listing_out(db, match.offer, viewer), status=match.status, note=match.note,
        outcome=match.outcome, proposed_by=proposer.handle if proposer else None,
        created_at=match.created_at, decided_at=match.decided_at, counterpart_contact=contact,
    )


@bp.operation("/matches", "GET", "Matches you are a party to", query=schemas.MatchQuery,
              response=Page[schemas.MatchOut])
def list_matches(query: schemas.MatchQuery) -> Any:
    db, member = get_session(), require_member()
    need, offer = aliased(Listing), aliased(Listing)
    stmt = (
        select(Match)
        .join(need, Match.need_id == need.id)
        .join(offer, Match.offer_id == offer.id)
        .where(or_(need.member_id == member.id, offer.member_id == member.id))
    )
    if query.status:
        stmt = stmt.where(Match.status == query.status)
    rows, total = paginate(db, stmt.order_by(Match.created_at.desc(), Match.id), query)
    return page_of([match_out(db, r, member).model_dump(mode="json") for r in rows], total, query)


@bp.operation("/matches", "POST", "Propose a match between a need and an offer",
              body=schemas.MatchIn, response=schemas.MatchOut, status=201,
              problems=(403, 404, 409))
def propose_match(body: schemas.MatchIn) -> Any:
    db, member = get_session(), require_member()
    match = service.propose_match(db, member, body)
    db.commit()
    return match_out(db, match, member)


@bp.operation("/matches/<uuid:match_id>", "GET", "One match", response=schemas.MatchOut,
              problems=(403, 404))
def get_match(match_id: uuid.UUID) -> Any:
    db, member = get_session(), require_member()
    return match_out(db, service.get_match(db, match_id, member), member)


def _decide(match_id: uuid.UUID, body: schemas.CloseIn | None, action: str) -> Any:
    db, member = get_session(), require_member()
    match = service.get_match(db, match_id, member)
    outcome = body.outcome if body else ""
    if action == "accept":
        service.accept_match(db, match, member)
    elif action == "decline":
        service.decline_match(db, match, member, outcome)
    elif action == "cancel":
        service.cancel_match(db, match, member, outcome)
    else:
        service.fulfil_match(db, match, member, outcome)
    db.commit()
    return match_out(db, match, member)


@bp.operation("/matches/<uuid:match_id>/accept", "POST", "Accept a match proposed to you",
              response=schemas.MatchOut, problems=(403, 404, 409))
def accept_match(match_id: uuid.UUID) -> Any:
    return _decide(match_id, None, "accept")


@bp.operation("/matches/<uuid:match_id>/decline", "POST", "Decline a match proposed to you",
              body=schemas.CloseIn, response=schemas.MatchOut, problems=(403, 404, 409))
def decline_match(match_id: uuid.UUID, body: schemas.CloseIn) -> Any:
    return _decide(match_id, body, "decline")


@bp.operation("/matches/<uuid:match_id>/cancel", "POST", "Call off a match",
              body=schemas.CloseIn, response=schemas.MatchOut, problems=(403, 404, 409))
def cancel_match(match_id: uuid.UUID, body: schemas.CloseIn) -> Any:
    return _decide(match_id, body, "cancel")


@bp.operation("/matches/<uuid:match_id>/fulfil", "POST", "Record that the exchange happened",
              body=schemas.CloseIn, response=schemas.MatchOut, problems=(403, 404, 409))
def fulfil_match(match_id: uuid.UUID, body: schemas.CloseIn) -> Any:
    return _decide(match_id, body, "fulfil")
