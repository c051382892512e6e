"""The inventory: skills, tools, vehicles and spaces members are willing to share."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Blueprint, request
from flask_babel import gettext
from sqlalchemy import select

from node.api.paging import PageQuery, paginate
from node.db import get_session
from node.errors import Problem
from node.resources import schemas, service
from node.resources.models import InventoryItem, InventoryKind
from node.web import forms
from node.web.base import done, page_member, render, settings
from node.web.listings import categories, handles

bp = Blueprint("inventory", __name__)
PER_PAGE = 30


@bp.get("/inventory")
def index() -> Any:
    """What members will share, filtered by kind."""
    member, db = page_member(), get_session()
    kind = request.args.get("kind") if request.args.get("kind") in {k.value for k in InventoryKind} else None
    mine = request.args.get("mine") == "1"
    stmt = select(InventoryItem)
    if kind:
        stmt = stmt.where(InventoryItem.kind == kind)
    if mine:
        stmt = stmt.where(InventoryItem.member_id == member.id)
    else:
        stmt = stmt.where(InventoryItem.available.is_(True))
    try:
        page = max(1, min(int(request.args.get("page", "1")), 100_000))
    except ValueError:
        page = 1
    rows, total = paginate(
        db, stmt.order_by(InventoryItem.name, InventoryItem.id), PageQuery(page=page, per_page=PER_PAGE)
    )
    return render(
        "inventory/index.html",
        rows=rows,
        kinds=list(InventoryKind),
        kind=kind,
        mine=mine,
        page=page,
        more=page * PER_PAGE < total,
        handles=handles(db, rows),
    )


def _values() -> dict[str, Any]:
    values = forms.text(request.form, "kind", "name", "description", "category")
    values["available"] = request.form.get("available") == "yes"
    return values


def _form(values: dict[str, Any], status: int = 200, **extra: Any) -> Any:
    return render(
        "inventory/form.html",
        status=status,
        values=values,
        kinds=list(InventoryKind),
        categories=categories(get_session()),
        **extra,
    )


@bp.route("/inventory/new", methods=["GET", "POST"])
def add() -> Any:
    """Add something to share."""
    member, db = page_member(), get_session()
    if request.method == "GET":
        return _form({"available": True, "kind": request.args.get("kind", "tool")})
    values = _values()
    try:
        service.add_item(db, settings(), member, forms.parse(schemas.InventoryIn, values))
        db.commit()
    except forms.FormErrors as exc:
        return _form(values, 422, errors=exc)
    except Problem as exc:
        db.rollback()
        return _form(values, 422, errors=forms.from_problem(exc))
    return done(gettext("Added. Thank you for sharing!"), "web.inventory.index", mine="1")


@bp.route("/inventory/<uuid:item_id>/edit", methods=["GET", "POST"])
def edit(item_id: uuid.UUID) -> Any:
    """Change one's own item, or mark it unavailable."""
    member, db = page_member(), get_session()
    item = service.own_item(db, item_id, member)
    if request.method == "GET":
        values = {
            "kind": item.kind.value,
            "name": item.name,
            "description": item.description,
            "category": item.category or "",
            "available": item.available,
        }
        return _form(values, item=item)
    values = _values()
    data: dict[str, Any] = {k: v for k, v in values.items() if k != "kind"}
    data.setdefault("description", "")
    data.setdefault("category", None)
    try:
        service.update_item(db, settings(), item, forms.parse(schemas.InventoryUpdate, data))
        db.commit()
    except forms.FormErrors as exc:
        return _form(values, 422, errors=exc, item=item)
    except Problem as exc:
        db.rollback()
        return _form(values, 422, errors=forms.from_problem(exc), item=item)
    return done(gettext("Your changes are saved."), "web.inventory.index", mine="1")
