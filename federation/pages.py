"""The federation's web pages: the relief situation of this node's area, and pledges between nodes.

Built on `node.web.extend`, so that the pages look and behave like the node's own while `node`
never imports this package.
"""

from __future__ import annotations

import uuid
from collections import Counter
from typing import Any

from flask import Flask, current_app
from flask_babel import gettext, lazy_gettext
from markupsafe import Markup
from sqlalchemy import or_, select

from federation import incidents
from federation import situation as situation_view
from federation.identity import local_identity
from federation.models import Peer, Pledge
from federation.relief.areamap import render_svg
from node.db import get_session, utcnow
from node.resources.models import Listing, ListingKind, ListingStatus, Urgency
from node.web.base import page_member, render
from node.web.extend import add_to_menu, pages_blueprint

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
    page_member()
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
    page_member()
    db, app = get_session(), _app()
    view = situation_view.situation(db, app, incident_id)
    picture = situation_view.map_svg(db, app, incident_id)
    names = {p.id: p.name for p in db.scalars(select(Peer))}
    return render(
        "federation/incident.html",
        view=view,
        names=names,
        incident=db.get(incidents.Incident, incident_id),
        areamap=Markup(picture),  # noqa: S704  (built by render_svg, which escapes every text)
    )


def _pledges() -> list[Pledge]:
    return list(get_session().scalars(select(Pledge).order_by(Pledge.created_at.desc()).limit(50)))


@bp.get("/pledges")
def pledges() -> Any:
    """Pledges this node made to other nodes' needs and offers, and those it received."""
    page_member()
    rows = _pledges()
    ours = local_identity(_app()).node_id
    peers = {p.id: p.name for p in get_session().scalars(select(Peer))}
    return render(
        "federation/pledges.html",
        made=[p for p in rows if p.pledger_node == ours],
        received=[p for p in rows if p.pledger_node != ours],
        peers=peers,
    )


def _app() -> Flask:
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    return app


def init_app(app: Flask) -> None:
    """Serve the pages and put the situation in the menu."""
    app.register_blueprint(bp)
    add_to_menu(
        app, lazy_gettext("Relief"), "federation_pages.situation", ("/situation", "/pledges", "/incidents")
    )
