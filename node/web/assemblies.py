"""Assemblies: calling one, its agenda, proposals, taking positions and the decisions."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Blueprint, request
from flask_babel import gettext
from sqlalchemy import select

from node.assemblies import schemas, service
from node.assemblies.methods import ALLOWED, Method, Stance
from node.assemblies.models import Assembly, AssemblyStatus, Proposal, ProposalStatus
from node.db import get_session
from node.errors import Problem
from node.members.models import Member
from node.members.service import is_steward, require_steward
from node.web import forms
from node.web.base import done, page_member, render
from node.web.listings import handles, local_time

bp = Blueprint("assemblies", __name__)
STANCE_ORDER = (Stance.FOR, Stance.AGAINST, Stance.ABSTAIN, Stance.STAND_ASIDE, Stance.OBJECT, Stance.BLOCK)


@bp.get("/assemblies")
def index() -> Any:
    """Assemblies in session and coming up first, then closed ones."""
    member, db = page_member(), get_session()
    rows = list(db.scalars(select(Assembly).order_by(Assembly.created_at.desc()).limit(50)))
    for row in rows:
        service.refresh(db, row)
    db.commit()
    current = [a for a in rows if a.status is not AssemblyStatus.CLOSED]
    closed = [a for a in rows if a.status is AssemblyStatus.CLOSED]
    return render("assemblies/index.html", current=current, closed=closed, may_convene=is_steward(db, member))


def _assembly_values(form: Any) -> dict[str, Any]:
    return forms.text(form, "title", "description", "kind", "location", "method", "starts_at", "ends_at")


@bp.route("/assemblies/new", methods=["GET", "POST"])
def new() -> Any:
    """Call an assembly (stewards)."""
    member, db = page_member(), get_session()
    require_steward(db, member)
    if request.method == "GET":
        return render("assemblies/form.html", values={"kind": "standing", "method": "consensus"})
    values = _assembly_values(request.form)
    data: dict[str, Any] = {
        k: values[k] for k in ("title", "description", "kind", "location", "method") if k in values
    }
    try:
        for name in ("starts_at", "ends_at"):
            data[name] = local_time(values.get(name), name)
        assembly = service.create_assembly(db, member, forms.parse(schemas.AssemblyIn, data))
        db.commit()
    except forms.FormErrors as exc:
        return render("assemblies/form.html", status=422, values=values, errors=exc)
    except Problem as exc:
        db.rollback()
        return render("assemblies/form.html", status=422, values=values, errors=forms.from_problem(exc))
    return done(gettext("The assembly is called."), "web.assemblies.detail", assembly_id=assembly.id)


def _detail(assembly: Assembly, member: Member, status: int = 200, **extra: Any) -> Any:
    db = get_session()
    proposals = list(
        db.scalars(
            select(Proposal).where(Proposal.assembly_id == assembly.id).order_by(Proposal.opened_at.desc())
        )
    )
    minutes = service.minutes(db, assembly)[-30:]
    return render(
        "assemblies/detail.html",
        status=status,
        assembly=assembly,
        agenda=service.agenda(db, assembly),
        open_proposals=[p for p in proposals if p.status is ProposalStatus.OPEN],
        decided=[p for p in proposals if p.status is not ProposalStatus.OPEN],
        minutes=list(reversed(minutes)),
        may_manage=service.may_manage(db, assembly, member),
        **extra,
    )


@bp.get("/assemblies/<uuid:assembly_id>")
def detail(assembly_id: uuid.UUID) -> Any:
    """One assembly: its agenda, proposals, decisions and minutes."""
    member, db = page_member(), get_session()
    assembly = service.get_assembly(db, assembly_id)
    db.commit()
    return _detail(assembly, member, values={})


@bp.post("/assemblies/<uuid:assembly_id>/proposals")
def propose(assembly_id: uuid.UUID) -> Any:
    """Put a proposal to the assembly."""
    member, db = page_member(), get_session()
    assembly = service.get_assembly(db, assembly_id)
    values = forms.text(request.form, "title", "text", "closes_at")
    try:
        data: dict[str, Any] = {k: values[k] for k in ("title", "text") if k in values}
        data["closes_at"] = local_time(values.get("closes_at"), "closes_at")
        parsed = forms.parse(schemas.ProposalIn, data)
        proposal = service.create_proposal(
            db, assembly, member, parsed.title, parsed.text, closes_at=parsed.closes_at
        )
        db.commit()
    except forms.FormErrors as exc:
        db.rollback()
        return _detail(assembly, member, 422, values=values, errors=exc)
    except Problem as exc:
        db.rollback()
        return _detail(assembly, member, 422, values=values, errors=forms.from_problem(exc))
    return done(
        gettext("Your proposal is put to the assembly."), "web.assemblies.proposal", proposal_id=proposal.id
    )


@bp.post("/assemblies/<uuid:assembly_id>/agenda")
def add_item(assembly_id: uuid.UUID) -> Any:
    """Put an item on the agenda."""
    member, db = page_member(), get_session()
    assembly = service.get_assembly(db, assembly_id)
    point = (request.form.get("point") or "").strip()
    try:
        service.add_agenda_item(db, assembly, forms.parse(schemas.AgendaItemIn, {"title": point}), member)
        db.commit()
    except forms.FormErrors as exc:
        db.rollback()
        errors = forms.FormErrors({"point": next(iter(exc.fields.values()))})
        return _detail(assembly, member, 422, values={}, agenda_errors=errors)
    return done(gettext("Added to the agenda."), "web.assemblies.detail", assembly_id=assembly.id)


@bp.post("/assemblies/<uuid:assembly_id>/<any(open, close):action>")
def session(assembly_id: uuid.UUID, action: str) -> Any:
    """Open a scheduled assembly, or close one (the convener or a steward)."""
    member, db = page_member(), get_session()
    assembly = service.get_assembly(db, assembly_id)
    service.require_manager(db, assembly, member)
    if action == "open":
        service.open_assembly(db, assembly, member)
        message = gettext("The assembly is in session.")
    else:
        service.close_assembly(db, assembly, member)
        message = gettext("The assembly is closed.")
    db.commit()
    return done(message, "web.assemblies.detail", assembly_id=assembly.id)


def stances(method: Method) -> list[Stance]:
    """The positions the method allows, in a stable order."""
    return [s for s in STANCE_ORDER if s in ALLOWED[method]]


def _proposal_page(proposal: Proposal, member: Member, status: int = 200, **extra: Any) -> Any:
    db = get_session()
    assembly = db.get_one(Assembly, proposal.assembly_id)
    positions = service.current_positions(db, proposal)
    decision = next((d for d in service.decisions(db, assembly) if d.proposal_id == proposal.id), None)
    mine = next((p for p in positions if p.member_id == member.id), None)
    proposer = db.get(Member, proposal.proposed_by_id) if proposal.proposed_by_id else None
    return render(
        "assemblies/proposal.html",
        status=status,
        proposal=proposal,
        assembly=assembly,
        positions=positions,
        handles=handles(db, positions),
        tally=service.current_tally(db, proposal),
        decision=decision,
        mine=mine,
        stances=stances(assembly.method),
        proposer=proposer,
        may_close=service.may_manage(db, assembly, member)
        or (proposal.proposed_by_id == member.id and proposal.closes_at is None),
        may_withdraw=proposal.proposed_by_id == member.id or service.may_manage(db, assembly, member),
        **extra,
    )


@bp.get("/proposals/<uuid:proposal_id>")
def proposal(proposal_id: uuid.UUID) -> Any:
    """One proposal: its text, the positions taken so far and the count."""
    member, db = page_member(), get_session()
    found = service.get_proposal(db, proposal_id)
    db.commit()
    return _proposal_page(found, member)


@bp.post("/proposals/<uuid:proposal_id>/position")
def position(proposal_id: uuid.UUID) -> Any:
    """Take a position on the proposal's current text."""
    member, db = page_member(), get_session()
    found = service.get_proposal(db, proposal_id)
    values = forms.text(request.form, "stance", "reason")
    try:
        data = forms.parse(schemas.PositionIn, values)
        service.cast_position(db, found, member, data.stance, data.reason)
        db.commit()
    except forms.FormErrors as exc:
        db.rollback()
        return _proposal_page(found, member, 422, values=values, errors=exc)
    except Problem as exc:
        db.rollback()
        return _proposal_page(found, member, 422, values=values, errors=forms.from_problem(exc))
    return done(gettext("Your position is counted."), "web.assemblies.proposal", proposal_id=found.id)


@bp.post("/proposals/<uuid:proposal_id>/<any(close, withdraw):action>")
def decide(proposal_id: uuid.UUID, action: str) -> Any:
    """Count the positions and decide now, or withdraw the proposal."""
    member, db = page_member(), get_session()
    found = service.get_proposal(db, proposal_id)
    if action == "close":
        service.close_proposal(db, found, member)
        message = gettext("The positions are counted and the decision is recorded.")
    else:
        service.withdraw_proposal(db, found, member)
        message = gettext("The proposal is withdrawn.")
    db.commit()
    return done(message, "web.assemblies.proposal", proposal_id=found.id)
