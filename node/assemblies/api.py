"""The assemblies part of the JSON API: assemblies, agenda, proposals, positions and the record."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from node.api.operations import ApiBlueprint
from node.api.paging import Page, page_of, paginate
from node.assemblies import schemas, service
from node.assemblies.models import Assembly, Decision, Position, Proposal
from node.db import get_session
from node.errors import NotFound
from node.members.auth import require_member
from node.members.models import Member
from node.members.service import require_steward

bp = ApiBlueprint("assemblies_api", __name__, tag="Assemblies")


def _handles(db: Session, ids: set[uuid.UUID | None]) -> dict[uuid.UUID, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return dict(db.execute(select(Member.id, Member.handle).where(Member.id.in_(wanted))).all())


def proposal_out(db: Session, proposal: Proposal, viewer: Member) -> schemas.ProposalOut:
    """A proposal with its count so far (or the final one) and the positions on its text."""
    positions = service.current_positions(db, proposal)
    decision = db.scalar(select(Decision).where(Decision.proposal_id == proposal.id))
    if decision is not None:
        tally = schemas.TallyOut(
            outcome=decision.outcome, counts=decision.counts, participants=decision.participants,
            quorum=decision.quorum, explanation=decision.explanation,
        )
    else:
        tally = schemas.TallyOut.model_validate(service.current_tally(db, proposal).as_dict())
    ids: set[uuid.UUID | None] = {p.member_id for p in positions}
    handles = _handles(db, ids | {proposal.proposed_by_id})
    mine = next((p.stance for p in positions if p.member_id == viewer.id), None)
    return schemas.ProposalOut(
        id=proposal.id, assembly_id=proposal.assembly_id, agenda_item_id=proposal.agenda_item_id,
        kind=proposal.kind, title=proposal.title, text=proposal.text, version=proposal.version,
        payload=proposal.payload, amends_id=proposal.amends_id, status=proposal.status,
        proposed_by=handles.get(proposal.proposed_by_id) if proposal.proposed_by_id else None,
        opened_at=proposal.opened_at, closes_at=proposal.closes_at, decided_at=proposal.decided_at,
        tally=tally, positions=[_position_out(p, handles) for p in positions], my_position=mine,
    )


def _position_out(position: Position, handles: dict[uuid.UUID, str]) -> schemas.PositionOut:
    return schemas.PositionOut(
        handle=handles.get(position.member_id), stance=position.stance, reason=position.reason,
        version=position.version, cast_at=position.cast_at,
    )


def _assembly(assembly_id: uuid.UUID) -> tuple[Session, Member, Assembly]:
    db, member = get_session(), require_member()
    return db, member, service.get_assembly(db, assembly_id)


@bp.operation("/assemblies", "GET", "Assemblies of this node, newest first",
              query=schemas.AssemblyQuery, response=Page[schemas.AssemblyOut])
def list_assemblies(query: schemas.AssemblyQuery) -> Any:
    db = get_session()
    require_member()
    stmt = select(Assembly)
    if query.status:
        stmt = stmt.where(Assembly.status == query.status)
    rows, total = paginate(db, stmt.order_by(Assembly.created_at.desc(), Assembly.id), query)
    for row in rows:
        service.refresh(db, row)
    db.commit()
    items = [schemas.AssemblyOut.model_validate(r).model_dump(mode="json") for r in rows]
    return page_of(items, total, query)


@bp.operation("/assemblies", "POST", "Convene an assembly (stewards)", body=schemas.AssemblyIn,
              response=schemas.AssemblyOut, status=201, problems=(403, 422))
def create_assembly(body: schemas.AssemblyIn) -> Any:
    db, member = get_session(), require_member()
    require_steward(db, member)
    assembly = service.create_assembly(db, member, body)
    db.commit()
    return schemas.AssemblyOut.model_validate(assembly)


@bp.operation("/assemblies/<uuid:assembly_id>", "GET", "One assembly", response=schemas.AssemblyOut,
              problems=(404,))
def get_assembly(assembly_id: uuid.UUID) -> Any:
    db, _, assembly = _assembly(assembly_id)
    db.commit()
    return schemas.AssemblyOut.model_validate(assembly)


@bp.operation("/assemblies/<uuid:assembly_id>", "PATCH", "Change an assembly's details or rules",
              body=schemas.AssemblyUpdate, response=schemas.AssemblyOut, problems=(403, 404, 409, 422))
def update_assembly(assembly_id: uuid.UUID, body: schemas.AssemblyUpdate) -> Any:
    db, member, assembly = _assembly(assembly_id)
    service.require_manager(db, assembly, member)
    service.update_assembly(db, assembly, body, member)
    db.commit()
    return schemas.AssemblyOut.model_validate(assembly)


@bp.operation("/assemblies/<uuid:assembly_id>/open", "POST", "Bring a scheduled assembly into session",
              response=schemas.AssemblyOut, problems=(403, 404, 409))
def open_assembly(assembly_id: uuid.UUID) -> Any:
    db, member, assembly = _assembly(assembly_id)
    service.require_manager(db, assembly, member)
    service.open_assembly(db, assembly, member)
    db.commit()
    return schemas.AssemblyOut.model_validate(assembly)


@bp.operation("/assemblies/<uuid:assembly_id>/close", "POST",
              "End an assembly; open proposals are decided on the positions taken",
              response=schemas.AssemblyOut, problems=(403, 404, 409))
def close_assembly(assembly_id: uuid.UUID) -> Any:
    db, member, assembly = _assembly(assembly_id)
    service.require_manager(db, assembly, member)
    service.close_assembly(db, assembly, member)
    db.commit()
    return schemas.AssemblyOut.model_validate(assembly)


@bp.operation("/assemblies/<uuid:assembly_id>/agenda", "GET", "The agenda, in order",
              response=schemas.AgendaOut, problems=(404,))
def get_agenda(assembly_id: uuid.UUID) -> Any:
    db, _, assembly = _assembly(assembly_id)
    items = [schemas.AgendaItemOut.model_validate(i) for i in service.agenda(db, assembly)]
    db.commit()
    return schemas.AgendaOut(items=items)


@bp.operation("/assemblies/<uuid:assembly_id>/agenda", "POST", "Put an item on the agenda",
              body=schemas.AgendaItemIn, response=schemas.AgendaItemOut, status=201, problems=(404, 409))
def add_agenda_item(assembly_id: uuid.UUID, body: schemas.AgendaItemIn) -> Any:
    db, member, assembly = _assembly(assembly_id)
    item = service.add_agenda_item(db, assembly, body, member)
    db.commit()
    return schemas.AgendaItemOut.model_validate(item)


@bp.operation("/assemblies/<uuid:assembly_id>/proposals", "GET", "Proposals put to the assembly",
              query=schemas.ProposalQuery, response=Page[schemas.ProposalOut], problems=(404,))
def list_proposals(assembly_id: uuid.UUID, query: schemas.ProposalQuery) -> Any:
    db, member, assembly = _assembly(assembly_id)
    stmt = select(Proposal).where(Proposal.assembly_id == assembly.id)
    if query.status:
        stmt = stmt.where(Proposal.status == query.status)
    rows, total = paginate(db, stmt.order_by(Proposal.opened_at, Proposal.id), query)
    items = [proposal_out(db, r, member).model_dump(mode="json") for r in rows]
    db.commit()
    return page_of(items, total, query)


@bp.operation("/assemblies/<uuid:assembly_id>/proposals", "POST", "Put a proposal to the assembly",
              body=schemas.ProposalIn, response=schemas.ProposalOut, status=201, problems=(404, 409, 422))
def create_proposal(assembly_id: uuid.UUID, body: schemas.ProposalIn) -> Any:
    db, member, assembly = _assembly(assembly_id)
    proposal = service.create_proposal(
        db, assembly, member, body.title, body.text, agenda_item_id=body.agenda_item_id,
        closes_at=body.closes_at,
    )
    db.commit()
    return proposal_out(db, proposal, member)


def _proposal(proposal_id: uuid.UUID) -> tuple[Session, Member, Proposal]:
    db, member = get_session(), require_member()
    return db, member, service.get_proposal(db, proposal_id)


@bp.operation("/proposals/<uuid:proposal_id>", "GET", "One proposal with its positions and count",
              response=schemas.ProposalOut, problems=(404,))
def get_proposal(proposal_id: uuid.UUID) -> Any:
    db, member, proposal = _proposal(proposal_id)
    db.commit()
    return proposal_out(db, proposal, member)


@bp.operation("/proposals/<uuid:proposal_id>/positions", "POST",
              "Take your position on the proposal's current text (once)",
              body=schemas.PositionIn, response=schemas.ProposalOut, status=201, problems=(404, 409, 422))
def cast_position(proposal_id: uuid.UUID, body: schemas.PositionIn) -> Any:
    db, member, proposal = _proposal(proposal_id)
    service.cast_position(db, proposal, member, body.stance, body.reason)
    db.commit()
    return proposal_out(db, proposal, member)


@bp.operation("/proposals/<uuid:proposal_id>/amendments", "POST", "Propose an amendment",
              body=schemas.AmendmentIn, response=schemas.ProposalOut, status=201, problems=(404, 409, 422))
def amend(proposal_id: uuid.UUID, body: schemas.AmendmentIn) -> Any:
    db, member, proposal = _proposal(proposal_id)
    amendment = service.amend(db, proposal, member, body)
    db.commit()
    return proposal_out(db, amendment, member)


@bp.operation("/proposals/<uuid:proposal_id>/close", "POST", "Count the positions and decide",
              response=schemas.DecisionOut, problems=(403, 404, 409))
def close_proposal(proposal_id: uuid.UUID) -> Any:
    db, member, proposal = _proposal(proposal_id)
    decision = service.close_proposal(db, proposal, member)
    db.commit()
    return schemas.DecisionOut.model_validate(decision)


@bp.operation("/proposals/<uuid:proposal_id>/withdraw", "POST", "Withdraw a proposal still open",
              response=schemas.ProposalOut, problems=(403, 404, 409))
def withdraw_proposal(proposal_id: uuid.UUID) -> Any:
    db, member, proposal = _proposal(proposal_id)
    service.withdraw_proposal(db, proposal, member)
    db.commit()
    return proposal_out(db, proposal, member)


@bp.operation("/assemblies/<uuid:assembly_id>/minutes", "POST", "Add a note to the minutes",
              body=schemas.MinuteIn, response=schemas.MinuteOut, status=201, problems=(404,))
def add_note(assembly_id: uuid.UUID, body: schemas.MinuteIn) -> Any:
    db, member, assembly = _assembly(assembly_id)
    minute = service.add_minute(db, assembly, "note", body.text, member)
    db.commit()
    return schemas.MinuteOut.model_validate(minute)


@bp.operation("/assemblies/<uuid:assembly_id>/record", "GET",
              "The open record: minutes and decisions, oldest first", response=schemas.RecordOut,
              problems=(404,))
def record(assembly_id: uuid.UUID) -> Any:
    db, _, assembly = _assembly(assembly_id)
    db.commit()
    return schemas.RecordOut(
        assembly=schemas.AssemblyOut.model_validate(assembly),
        minutes=[schemas.MinuteOut.model_validate(m) for m in service.minutes(db, assembly)],
        decisions=[schemas.DecisionOut.model_validate(d) for d in service.decisions(db, assembly)],
    )


@bp.operation("/decisions/<uuid:decision_id>", "GET", "One decision of an assembly",
              response=schemas.DecisionOut, problems=(404,))
def get_decision(decision_id: uuid.UUID) -> Any:
    db = get_session()
    require_member()
    decision = db.get(Decision, decision_id)
    if decision is None:
        raise NotFound("no such decision")
    return schemas.DecisionOut.model_validate(decision)
