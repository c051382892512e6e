"""The federation's web pages: the relief situation of this node's area, and pledges between nodes.

Built on `node.web.extend`, so that the pages look and behave like the node's own while `node`
never imports this package.
"""

from __future__ import annotations

import re
import uuid
from collections import Counter
from typing import Any

from flask import Flask, current_app, request
from flask_babel import format_decimal, get_timezone, gettext, lazy_gettext
from markupsafe import Markup
from sqlalchemy import or_, select

from federation import incidents
from federation import pledges as pledging
from federation import situation as situation_view
from federation.identity import local_identity
from federation.models import Peer, Pledge, RemoteListing
from federation.relief.areamap import render_svg
from node.db import get_session, utcnow
from node.errors import Forbidden, NotFound, Problem
from node.members.models import Member
from node.members.service import is_steward, require_steward
from node.resources.models import Listing, ListingKind, ListingStatus, Urgency
from node.web import forms
from node.web.base import done, page_member, render
from node.web.extend import add_to_menu, pages_blueprint
from node.web.listings import local_time

bp = pages_blueprint("federation_pages", __name__)
MAP_WIDTH = 360


def _open_needs() -> list[Listing]:
    now = utcnow()
    stmt = select(Listing).where(
        Listing.kind == ListingKind.NEED,
        Listing.status == ListingStatus.OPEN,
        or_(Listing.expires_at.is_(None), Listing.expires_at > now),
    )
    return list(get_session().scalars(stmt.limit(5000)))


@bp.get("/situation")
def situation() -> Any:
    """Unmet needs of this node by urgency, kind and area, and the incidents it knows of."""
    member = page_member()
    needs, known = _open_needs(), _incidents()
    by_cell = Counter(n.h3_cell for n in needs)
    described = gettext(
        "%(n)s open needs in %(areas)s areas; darker areas have more.", n=len(needs), areas=len(by_cell)
    )
    picture = render_svg(
        dict(by_cell),
        title=gettext("Unmet need by area"),
        description=described,
        width=MAP_WIDTH,
        id_prefix="situation-map",
    )
    return render(
        "federation/situation.html",
        needs=len(needs),
        urgency=[(u, sum(1 for n in needs if n.urgency == u)) for u in reversed(list(Urgency))],
        categories=Counter(n.category for n in needs).most_common(),
        areamap=Markup(picture),  # noqa: S704  (built by render_svg, which escapes every text)
        urgent=sorted(
            (n for n in needs if n.urgency in (Urgency.URGENT, Urgency.EMERGENCY)), key=lambda n: n.created_at
        )[:10],
        incidents=known,
        states={i.id: incidents.state(i) for i in known},
        may_declare=any(_may_declare(member).values()),
    )


def _incidents() -> list[incidents.Incident]:
    rows = list(
        get_session().scalars(select(incidents.Incident).order_by(incidents.Incident.starts_at.desc()))
    )
    return sorted(rows, key=lambda row: not incidents.is_live(row))[:20]


@bp.get("/incidents/<uuid:incident_id>")
def incident(incident_id: uuid.UUID) -> Any:
    """An incident's situation view: needs against surpluses by kind, unmet need by area,
    pledges in flight and how far behind each node is."""
    return _incident_page(incident_id)


def _incident_page(incident_id: uuid.UUID, status: int = 200, **extra: Any) -> Any:
    member, db, app = page_member(), get_session(), _app()
    view = situation_view.situation(db, app, incident_id)
    picture = situation_view.map_svg(db, app, incident_id)
    names = {p.id: p.name for p in db.scalars(select(Peer))}
    incident = db.get_one(incidents.Incident, incident_id)
    ours = incident.federation == local_identity(app).node_id
    manage = ours and is_steward(db, member) and incident.closed_at is None
    return render(
        "federation/incident.html",
        status=status,
        view=view,
        names=names,
        incident=incident,
        areamap=Markup(picture),  # noqa: S704  (built by render_svg, which escapes every text)
        decisions=_passed_decisions() if manage else [],
        may_close=manage,
        may_ratify=manage and incidents.state(incident) == "provisional",
        needs=_pledgeable(incidents.area_listings(db, incident, "need")),
        **extra,
    )


def _pledges() -> list[Pledge]:
    return list(get_session().scalars(select(Pledge).order_by(Pledge.created_at.desc()).limit(50)))


@bp.get("/pledges")
def pledges() -> Any:
    """Pledges this node made to other nodes' needs and offers, those it received, and the needs
    of other nodes a member can pledge against."""
    page_member()
    rows = _pledges()
    ours = local_identity(_app()).node_id
    peers = {p.id: p.name for p in get_session().scalars(select(Peer))}
    open_needs = get_session().scalars(
        select(RemoteListing)
        .where(RemoteListing.kind == "need", RemoteListing.status == "open")
        .order_by(RemoteListing.updated_at.desc())
        .limit(200)
    )
    return render(
        "federation/pledges.html",
        made=[p for p in rows if p.pledger_node == ours],
        received=[p for p in rows if p.pledger_node != ours],
        peers=peers,
        needs=_pledgeable(list(open_needs))[:30],
    )


URGENCY_RANK = {u.value: rank for rank, u in enumerate(reversed(list(Urgency)))}


def _pledgeable(rows: list[RemoteListing]) -> list[RemoteListing]:
    """Other nodes' open needs, most urgent first, that this node may pledge against."""
    ours = local_identity(_app()).node_id
    now = utcnow()
    live = [r for r in rows if r.node_id != ours and (r.expires_at is None or r.expires_at > now)]
    return sorted(live, key=lambda r: (URGENCY_RANK.get(r.urgency, 9), r.updated_at))


def _remote_need(node: str | None, listing: str | None) -> RemoteListing:
    try:
        key = (str(node), uuid.UUID(str(listing)))
    except ValueError:
        raise NotFound("no such need on another node") from None
    row = get_session().get(RemoteListing, key)
    if row is None or row.kind != "need" or row.node_id == local_identity(_app()).node_id:
        raise NotFound("no such need on another node")
    return row


@bp.route("/pledges/new", methods=["GET", "POST"])
def offer_pledge() -> Any:
    """Pledge part of another node's need; the node that posted it accepts or declines."""
    page_member()
    db = get_session()
    source = request.form if request.method == "POST" else request.args
    need = _remote_need(source.get("node"), source.get("listing"))
    names = {p.id: p.name for p in db.scalars(select(Peer).where(Peer.id == need.node_id))}
    if request.method == "GET":
        return render("federation/pledge_form.html", need=need, names=names, values={"quantity": ""})
    values = forms.text(request.form, "quantity", "note")
    try:
        quantity = float(values.get("quantity", ""))
    except ValueError:
        quantity = 0.0
    errors: dict[str, str] = {}
    if not 0 < quantity <= need.quantity:
        most = format_decimal(need.quantity)
        errors["quantity"] = gettext("Write a number greater than 0 and at most %(n)s.", n=most)
    if len(values.get("note", "")) > 500:
        errors["note"] = gettext("Too long: at most %(n)s characters.", n=500)
    if errors:
        return render("federation/pledge_form.html", status=422, need=need, names=names, values=values,
                      errors=forms.FormErrors(errors))
    pledging.offer(db, _app(), need.node_id, need.listing_id, "need", quantity, need.unit,
                   values.get("note", ""), priority=incidents.priority_for(db, need.h3_cell))
    db.commit()
    return done(gettext("Your pledge is sent. The node that posted the need will accept or decline it."),
                "federation_pages.pledges")


# --- declaring and closing incidents (a federation node) ----------------------------------

INCIDENT_KIND = re.compile(r"^[a-z][a-z0-9_-]{1,39}$")


def _passed_decisions() -> list[Any]:
    """This federation's council decisions that passed, newest first: what may back an incident."""
    from delegates.models import CouncilProposal, CouncilStatus

    ours = local_identity(_app()).node_id
    stmt = select(CouncilProposal).where(
        CouncilProposal.federation == ours,
        CouncilProposal.status == CouncilStatus.DECIDED,
        CouncilProposal.outcome == "passed",
    )
    return list(get_session().scalars(stmt.order_by(CouncilProposal.decided_at.desc()).limit(50)))


def _may_declare(member: Member) -> dict[str, bool]:
    """Whether the member may declare by a council decision (a steward) or under the emergency
    rule (on the rapid-response roster), on a node in the federation role."""
    if _settings().role != "federation":
        return {"by_council": False, "by_emergency": False}
    db = get_session()
    return {"by_council": is_steward(db, member), "by_emergency": incidents.on_roster(db, member)}


def _declare_form(status: int = 200, **extra: Any) -> Any:
    return render(
        "federation/declare.html", status=status, decisions=_passed_decisions(),
        ratify_hours=_settings().incident_ratify_hours, area=_settings().federation_area_cells,
        **_may_declare(page_member()), **extra,
    )


@bp.route("/incidents/new", methods=["GET", "POST"])
def declare() -> Any:
    """Declare an incident: by a decision of the council (stewards), or under the emergency rule
    by the rapid-response team, for the council to ratify."""
    member, db = page_member(), get_session()
    allowed = _may_declare(member)
    if not any(allowed.values()):
        raise Forbidden("only a steward of a federation node, or its rapid-response team, declares incidents")
    if request.method == "GET":
        start = utcnow().astimezone(get_timezone()).strftime("%Y-%m-%dT%H:%M")
        values = {"cells": "\n".join(_settings().federation_area_cells), "starts": start,
                  "authority": "council" if allowed["by_council"] else "emergency"}
        return _declare_form(values=values)
    values = forms.text(request.form, "kind", "title", "cells", "starts", "ends", "authority", "decision")
    try:
        errors: dict[str, str] = {}
        if not INCIDENT_KIND.match(values.get("kind", "")):
            errors["kind"] = gettext("One word in small letters, like flood or power_cut.")
        if not values.get("title"):
            errors["title"] = gettext("Fill this in.")
        starts, ends = local_time(values.get("starts"), "starts"), local_time(values.get("ends"), "ends")
        if starts is None:
            errors["starts"] = gettext("Choose a date and time.")
        if ends is None:
            errors["ends"] = gettext("Choose a date and time.")
        elif starts is not None and ends <= starts:
            errors["ends"] = gettext("The end must come after the start.")
        emergency = values.get("authority") == "emergency"
        if not emergency and not values.get("decision"):
            errors["decision"] = gettext("Choose the council's decision, or declare an emergency.")
        if errors or starts is None or ends is None:
            raise forms.FormErrors(errors)
        if not emergency and not allowed["by_council"]:
            raise Forbidden("a declaration by council decision is made by a steward")
        cells = [c for c in re.split(r"[\s,;]+", values.get("cells", "")) if c]
        incident = incidents.declare(
            db, _app(), kind=values["kind"], title=values["title"][:120], cells=cells, starts=starts,
            ends=ends, decision=None if emergency else values.get("decision"), emergency=emergency, by=member,
        )
        db.commit()
    except forms.FormErrors as exc:
        db.rollback()
        return _declare_form(422, values=values, errors=exc)
    except Problem as exc:
        db.rollback()
        return _declare_form(422, values=values, errors=_area_errors(exc), detail=exc.detail)
    return done(gettext("The incident is declared. Every node hears of it first."),
                "federation_pages.incident", incident_id=incident.id)


def _area_errors(problem: Problem) -> forms.FormErrors:
    """A refusal as form errors; the area's cells are one field on the page."""
    errors = forms.from_problem(problem)
    fields: dict[str, str] = {}
    for field, reason in errors.fields.items():
        name = "cells" if field.startswith("cells") else field
        fields[name] = f"{fields[name]}; {reason}" if name in fields and name == "cells" else reason
    return forms.FormErrors(fields, errors.message)


@bp.post("/incidents/<uuid:incident_id>/<any(close, ratify):action>")
def decide_incident(incident_id: uuid.UUID, action: str) -> Any:
    """Close an incident, or ratify an emergency declaration, by a decision of the council."""
    member, db = page_member(), get_session()
    require_steward(db, member)
    values = forms.text(request.form, "decision", "reason")
    try:
        if not values.get("decision"):
            raise forms.FormErrors({f"{action}_decision": gettext("Choose the council's decision.")})
        if action == "close":
            incidents.close(db, _app(), incident_id, values["decision"], values.get("reason", "")[:300])
            message = gettext("The incident is closed.")
        else:
            incidents.ratify(db, _app(), incident_id, values["decision"])
            message = gettext("The council's decision is recorded: the incident stays declared.")
        db.commit()
    except forms.FormErrors as exc:
        return _incident_page(incident_id, 422, errors=exc, values=values)
    except Problem as exc:
        db.rollback()
        errors = forms.from_problem(exc)
        return _incident_page(incident_id, 422, errors=errors, values=values, detail=exc.detail)
    return done(message, "federation_pages.incident", incident_id=incident_id)


def _settings() -> Any:
    return _app().config["MUTUALAID"]


def _app() -> Flask:
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    return app


def init_app(app: Flask) -> None:
    """Serve the pages and put the situation in the menu."""
    app.register_blueprint(bp)
    add_to_menu(
        app, lazy_gettext("Relief"), "federation_pages.situation", ("/situation", "/pledges", "/incidents")
    )
