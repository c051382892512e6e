"""Needs and offers: browse, post, read, change, withdraw, and answer one with a match."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from flask import Blueprint, Response, request, url_for
from flask_babel import get_timezone, gettext
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from node.api.paging import PageQuery, paginate
from node.db import get_session, utcnow
from node.errors import Problem
from node.members.models import Member
from node.resources import matching, schemas, service
from node.resources.models import Category, Listing, ListingKind, ListingStatus, Match, Urgency
from node.web import areas, forms
from node.web.base import done, page_member, render, settings

bp = Blueprint("listings", __name__)
KINDS = {"needs": ListingKind.NEED, "offers": ListingKind.OFFER}
PLURAL = {ListingKind.NEED: "needs", ListingKind.OFFER: "offers"}
LIFETIMES = (3, 7, 14, 30, 60)
PER_PAGE = 20


def other(kind: ListingKind) -> ListingKind:
    """Offers answer needs and needs answer offers."""
    return ListingKind.OFFER if kind == ListingKind.NEED else ListingKind.NEED


def categories(db: Session) -> list[Category]:
    """The node's categories, built-in ones first."""
    return list(db.scalars(select(Category).order_by(Category.builtin.desc(), Category.slug)))


def handles(db: Session, rows: Sequence[Any]) -> dict[uuid.UUID, str]:
    """The handle of the member behind each row (a listing, an item), in one query."""
    ids = {row.member_id for row in rows}
    if not ids:
        return {}
    return {
        row.id: row.handle for row in db.execute(select(Member.id, Member.handle).where(Member.id.in_(ids)))
    }


@bp.get("/<any(needs, offers):plural>")
def browse(plural: str) -> Any:
    """Open needs or offers, newest first, filtered by category and urgency."""
    member, db = page_member(), get_session()
    kind = KINDS[plural]
    category = request.args.get("category") or None
    urgency = request.args.get("urgency") or None
    mine = request.args.get("mine") == "1"
    try:
        page = max(1, min(int(request.args.get("page", "1")), 100_000))
    except ValueError:
        page = 1
    valid_category = category if category in {c.slug for c in categories(db)} else None
    valid_urgency = urgency if urgency in {u.value for u in Urgency} else None
    query = schemas.ListingQuery(
        category=valid_category,
        urgency=valid_urgency,
        mine=mine,
        status=None if mine else ListingStatus.OPEN,
        page=page,
        per_page=PER_PAGE,
    )
    rows, total = paginate(
        db, service.listings_query(kind, query, member), PageQuery(page=page, per_page=PER_PAGE)
    )
    return render(
        "listings/browse.html",
        kind=kind,
        plural=plural,
        rows=rows,
        total=total,
        page=page,
        more=page * PER_PAGE < total,
        handles=handles(db, rows),
        categories=categories(db),
        category=valid_category,
        urgency=valid_urgency,
        mine=mine,
        urgencies=list(Urgency),
    )


def _form_values(form: Any, fallback_area: str) -> dict[str, Any]:
    values = forms.text(
        form,
        "category",
        "title",
        "description",
        "quantity",
        "unit",
        "urgency",
        "area",
        "available_from",
        "available_until",
        "lifetime",
        "note",
    )
    values.setdefault("area", fallback_area)
    return values


def local_time(value: str | None, field: str) -> datetime | None:
    """A time typed in the node's time zone (a datetime-local field), as aware UTC."""
    if not value:
        return None
    try:
        naive = datetime.fromisoformat(value)
    except ValueError:
        raise forms.FormErrors({field: gettext("Choose a date and time.")}) from None
    if naive.tzinfo is not None:
        return naive
    return naive.replace(tzinfo=get_timezone())


def listing_input(values: dict[str, Any], *, update: bool = False) -> Any:
    """The service input for a listing form, or FormErrors."""
    data: dict[str, Any] = {
        k: values[k]
        for k in ("category", "title", "description", "quantity", "unit", "urgency")
        if k in values
    }
    errors: dict[str, str] = {}
    try:
        data["h3_cell"] = areas.to_cell(values.get("area", ""), settings())
    except forms.FormErrors as exc:
        errors.update(exc.fields)
    for name in ("available_from", "available_until"):
        try:
            data[name] = local_time(values.get(name), name)
        except forms.FormErrors as exc:
            errors.update(exc.fields)
    if values.get("lifetime") and values["lifetime"].isdigit() and int(values["lifetime"]) in LIFETIMES:
        data["expires_at"] = utcnow() + timedelta(days=int(values["lifetime"]))
    try:
        parsed = forms.parse(schemas.ListingUpdate if update else schemas.ListingIn, data)
    except forms.FormErrors as exc:
        errors = {**exc.fields, **errors}
        if "h3_cell" in errors:
            errors.setdefault("area", errors.pop("h3_cell"))
        raise forms.FormErrors(errors) from None
    if errors:
        raise forms.FormErrors(errors)
    return parsed


def _form_page(kind: ListingKind, values: dict[str, Any], status: int = 200, **extra: Any) -> Response:
    return render(
        "listings/form.html",
        status=status,
        kind=kind,
        plural=PLURAL[kind],
        values=values,
        categories=categories(get_session()),
        urgencies=list(Urgency),
        lifetimes=LIFETIMES,
        **extra,
    )


@bp.route("/<any(needs, offers):plural>/new", methods=["GET", "POST"])
def post(plural: str) -> Any:
    """Post a need or an offer."""
    member, db = page_member(), get_session()
    kind = KINDS[plural]
    fallback = areas.default_area(db, settings(), member)
    if request.method == "GET":
        values = forms.text(request.args, "category", "title")
        values.update(
            area=fallback,
            lifetime="30",
            quantity="1",
            unit="item",
            urgency=request.args.get("urgency") or "routine",
        )
        return _form_page(kind, values)
    values = _form_values(request.form, fallback)
    try:
        listing = service.create_listing(db, settings(), member, kind, listing_input(values))
        db.commit()
    except forms.FormErrors as exc:
        return _form_page(kind, values, 422, errors=exc)
    except Problem as exc:
        db.rollback()
        return _form_page(kind, values, 422, errors=_area_errors(forms.from_problem(exc)))
    message = (
        gettext("Your need is posted.") if kind == ListingKind.NEED else gettext("Your offer is posted.")
    )
    return done(message, "web.listings.detail", plural=plural, listing_id=listing.id)


def _area_errors(errors: forms.FormErrors) -> forms.FormErrors:
    if "h3_cell" in errors.fields:
        errors.fields["area"] = errors.fields.pop("h3_cell")
    return errors


@bp.get("/<any(needs, offers):plural>/<uuid:listing_id>")
def detail(plural: str, listing_id: uuid.UUID) -> Any:
    """One need or offer; its poster sees suggestions, others can answer it."""
    member, db = page_member(), get_session()
    kind = KINDS[plural]
    listing = service.get_listing(db, kind, listing_id)
    db.commit()  # an expired listing is marked so on reading
    mine = listing.member_id == member.id
    suggestions = (
        matching.suggest(db, listing, limit=10) if mine and listing.status == ListingStatus.OPEN else []
    )
    answers = _my_open(db, member, other(kind)) if not mine else []
    return render(
        "listings/detail.html",
        kind=kind,
        plural=plural,
        listing=listing,
        mine=mine,
        poster=db.get(Member, listing.member_id),
        suggestions=suggestions,
        suggestion_handles=handles(db, [s.listing for s in suggestions]),
        answers=answers,
        matches=_matches_of(db, listing) if mine else [],
        other_plural=PLURAL[other(kind)],
    )


def _my_open(db: Session, member: Member, kind: ListingKind) -> list[Listing]:
    stmt = (
        select(Listing)
        .where(Listing.member_id == member.id, Listing.kind == kind, Listing.status == ListingStatus.OPEN)
        .order_by(Listing.created_at.desc())
        .limit(20)
    )
    return list(db.scalars(stmt))


def _matches_of(db: Session, listing: Listing) -> list[Match]:
    stmt = select(Match).where(or_(Match.need_id == listing.id, Match.offer_id == listing.id))
    return list(db.scalars(stmt.order_by(Match.created_at.desc()).limit(20)))


@bp.route("/<any(needs, offers):plural>/<uuid:listing_id>/edit", methods=["GET", "POST"])
def edit(plural: str, listing_id: uuid.UUID) -> Any:
    """Change an open need or offer of one's own."""
    member, db = page_member(), get_session()
    kind = KINDS[plural]
    listing = service.own_listing(db, kind, listing_id, member)
    if request.method == "GET":
        values = {
            "category": listing.category,
            "title": listing.title,
            "description": listing.description,
            "quantity": f"{listing.quantity:g}",
            "unit": listing.unit,
            "urgency": listing.urgency.value,
            "area": listing.h3_cell,
        }
        return _form_page(kind, values, listing=listing)
    values = _form_values(request.form, listing.h3_cell)
    try:
        data = listing_input(values, update=True)
        service.update_listing(db, settings(), listing, data)
        db.commit()
    except forms.FormErrors as exc:
        return _form_page(kind, values, 422, errors=exc, listing=listing)
    except Problem as exc:
        db.rollback()
        return _form_page(kind, values, 422, errors=_area_errors(forms.from_problem(exc)), listing=listing)
    return done(
        gettext("Your changes are saved."), "web.listings.detail", plural=plural, listing_id=listing.id
    )


@bp.post("/<any(needs, offers):plural>/<uuid:listing_id>/withdraw")
def withdraw(plural: str, listing_id: uuid.UUID) -> Any:
    """Withdraw one's own need or offer."""
    member, db = page_member(), get_session()
    listing = service.own_listing(db, KINDS[plural], listing_id, member)
    service.withdraw_listing(db, listing)
    db.commit()
    return done(gettext("It is withdrawn."), "web.listings.detail", plural=plural, listing_id=listing.id)


@bp.post("/<any(needs, offers):plural>/<uuid:listing_id>/answer")
def answer(plural: str, listing_id: uuid.UUID) -> Any:
    """Answer someone's need with an offer (or an offer with a need) and propose the match."""
    member, db = page_member(), get_session()
    kind = KINDS[plural]
    listing = service.get_listing(db, kind, listing_id)
    note = (request.form.get("note") or "").strip()[:500]
    chosen = request.form.get("mine")
    try:
        if chosen:
            mine = service.own_listing(db, other(kind), uuid.UUID(chosen), member)
        else:
            values = forms.text(request.form, "title", "quantity", "unit")
            values.update(category=listing.category, h3_cell=listing.h3_cell, urgency=listing.urgency.value)
            data = forms.parse(schemas.ListingIn, values)
            mine = service.create_listing(db, settings(), member, other(kind), data)
        pair = (listing.id, mine.id) if kind == ListingKind.NEED else (mine.id, listing.id)
        match = service.propose_match(
            db, member, schemas.MatchIn(need_id=pair[0], offer_id=pair[1], note=note)
        )
        db.commit()
    except (forms.FormErrors, ValueError) as exc:
        db.rollback()
        errors = (
            exc if isinstance(exc, forms.FormErrors) else forms.FormErrors({"mine": gettext("Choose one.")})
        )
        return _answer_failed(member, listing, plural, errors)
    except Problem as exc:
        db.rollback()
        return _answer_failed(member, listing, plural, forms.from_problem(exc))
    return done(
        gettext("Your proposal is sent. You will see here when they answer."),
        "web.matches.detail",
        match_id=match.id,
    )


def _answer_failed(member: Member, listing: Listing, plural: str, errors: forms.FormErrors) -> Response:
    db = get_session()
    kind = KINDS[plural]
    return render(
        "listings/detail.html",
        status=422,
        kind=kind,
        plural=plural,
        listing=listing,
        mine=False,
        poster=db.get(Member, listing.member_id),
        suggestions=[],
        suggestion_handles={},
        answers=_my_open(db, member, other(kind)),
        matches=[],
        other_plural=PLURAL[other(kind)],
        errors=errors,
        values=forms.text(request.form, "title", "quantity", "unit", "note"),
    )


def listing_url(listing: Listing) -> str:
    """The page of a listing."""
    return url_for("web.listings.detail", plural=PLURAL[listing.kind], listing_id=listing.id)
