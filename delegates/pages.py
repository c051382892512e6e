"""The delegates' web pages: a delegate's mandates, report-backs, and the federation council.

Built on `node.web.extend`, so that the pages look and behave like the node's own while `node`
never imports this package.
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import Flask, current_app, request
from flask_babel import gettext, lazy_gettext
from sqlalchemy import select

from delegates import council
from delegates import mandate as mandates
from delegates.models import Act, CouncilProposal, CouncilStatus, Mandate, MandateStatus
from federation.models import Peer
from node.assemblies import service as assemblies
from node.assemblies.models import Minute
from node.db import get_session, utcnow
from node.errors import Forbidden
from node.web.base import done, page_member, render
from node.web.extend import add_to_menu, pages_blueprint
from node.web.forms import FormErrors

bp = pages_blueprint("delegates_pages", __name__)


def _app() -> Flask:
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    return app


def _names(ids: set[str]) -> dict[str, str]:
    """Federations and nodes by name where this node knows them, else by a short id."""
    known = {p.id: p.name for p in get_session().scalars(select(Peer).where(Peer.id.in_(ids)))} if ids else {}
    return {i: known.get(i) or i[:12] for i in ids}


@bp.get("/mandates")
def index() -> Any:
    """The member's own mandates first, then the node's other delegates."""
    member, db = page_member(), get_session()
    rows = list(db.scalars(select(Mandate).order_by(Mandate.received_at.desc()).limit(50)))
    mine = [m for m in rows if m.member_id == member.id]
    others = [m for m in rows if m.member_id != member.id and m.member_id is not None]
    return render(
        "delegates/index.html",
        mine=mine,
        others=others,
        names=_names({m.federation for m in rows}),
        now=utcnow(),
    )


def _reports(mandate: Mandate) -> list[Minute]:
    if mandate.assembly_id is None or mandate.member_id is None:
        return []
    stmt = select(Minute).where(
        Minute.assembly_id == mandate.assembly_id,
        Minute.kind == "report",
        Minute.author_id == mandate.member_id,
    )
    return list(get_session().scalars(stmt.order_by(Minute.id.desc()).limit(30)))


def _mandate_page(mandate: Mandate, status: int = 200, **extra: Any) -> Any:
    member, db = page_member(), get_session()
    questions = list(
        db.scalars(
            select(CouncilProposal)
            .where(CouncilProposal.federation == mandate.federation)
            .order_by(CouncilProposal.opened_at.desc())
            .limit(20)
        )
    )
    carried = [(q, council.position_for(mandate, q)) for q in questions]
    return render(
        "delegates/mandate.html",
        status=status,
        mandate=mandate,
        mine=mandate.member_id == member.id,
        live=mandate.status is MandateStatus.LIVE and mandate.expires_at > utcnow(),
        reports=_reports(mandate),
        names=_names({mandate.federation, mandate.issuer}),
        carried=carried,
        **extra,
    )


@bp.get("/mandates/<uuid:mandate_id>")
def detail(mandate_id: uuid.UUID) -> Any:
    """One mandate: what it covers, the positions to carry, and the delegate's report-backs."""
    page_member()
    return _mandate_page(mandates.get_mandate(get_session(), mandate_id))


def _own(mandate_id: uuid.UUID) -> Mandate:
    member = page_member()
    mandate = mandates.get_mandate(get_session(), mandate_id)
    if mandate.member_id != member.id:
        raise Forbidden("only the delegate holding this mandate may do this")
    return mandate


@bp.post("/mandates/<uuid:mandate_id>/key")
def key(mandate_id: uuid.UUID) -> Any:
    """The elected delegate takes a key made by the node; its private half is shown this once."""
    db, mandate = get_session(), _own(mandate_id)
    mandate, private_key = mandates.register_key(db, _app(), mandate, page_member(), None)
    db.commit()
    return _mandate_page(mandate, private_key=private_key)


@bp.post("/mandates/<uuid:mandate_id>/report")
def report(mandate_id: uuid.UUID) -> Any:
    """Report back to the assembly that gave the mandate; it goes into its minutes."""
    db, mandate = get_session(), _own(mandate_id)
    text = (request.form.get("text") or "").strip()
    if not text or len(text) > 10_000:
        reason = (
            gettext("Fill this in.") if not text else gettext("Too long: at most %(n)s characters.", n=10_000)
        )
        return _mandate_page(mandate, 422, errors=FormErrors({"text": reason}), values={"text": text})
    assemblies.add_minute(db, mandates.assembly_of(db, mandate), "report", text, page_member())
    db.commit()
    return done(
        gettext("Your report is in the assembly's minutes."), "delegates_pages.detail", mandate_id=mandate.id
    )


@bp.get("/council")
def council_index() -> Any:
    """Questions before the councils of this node's federations."""
    page_member()
    rows = list(
        get_session().scalars(select(CouncilProposal).order_by(CouncilProposal.opened_at.desc()).limit(50))
    )
    return render(
        "delegates/council.html",
        open=[r for r in rows if r.status is CouncilStatus.OPEN],
        decided=[r for r in rows if r.status is not CouncilStatus.OPEN],
        names=_names({r.federation for r in rows}),
    )


@bp.get("/council/<uuid:proposal_id>")
def council_detail(proposal_id: uuid.UUID) -> Any:
    """One council question: the count so far and what each delegate said."""
    page_member()
    db = get_session()
    proposal = council.get_proposal(db, proposal_id)
    acts = list(db.scalars(select(Act).where(Act.proposal_id == proposal.id).order_by(Act.created)))
    delegates = (
        {
            m.id: m.delegate_handle
            for m in db.scalars(select(Mandate).where(Mandate.id.in_({a.mandate_id for a in acts})))
        }
        if acts
        else {}
    )
    tally = council.current_tally(db, proposal) if proposal.status is CouncilStatus.OPEN else None
    return render(
        "delegates/council_proposal.html",
        proposal=proposal,
        acts=acts,
        delegates=delegates,
        tally=tally,
        names=_names({proposal.federation, *(a.node for a in acts)}),
    )


def init_app(app: Flask) -> None:
    """Serve the pages and put them in the menu."""
    app.register_blueprint(bp)
    add_to_menu(app, lazy_gettext("Delegates"), "delegates_pages.index", ("/mandates", "/council"))
