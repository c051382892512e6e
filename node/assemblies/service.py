"""Assemblies as plain functions over a session: convening, proposals, positions, decisions.

Callers commit. Every step that changes the outcome of a proposal writes a minute, so the open
record tells the whole story without anyone writing it up afterwards (plan 3.5).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from node.assemblies import schemas
from node.assemblies.methods import (
    Method,
    Outcome,
    Rules,
    Stance,
    Tally,
    required_quorum,
    stance_problem,
    tally,
)
from node.assemblies.models import (
    AgendaItem,
    Assembly,
    AssemblyKind,
    AssemblyStatus,
    Decision,
    Minute,
    Position,
    Proposal,
    ProposalStatus,
)
from node.db import utcnow
from node.errors import Conflict, FieldError, Forbidden, InvalidState, NotFound, ValidationFailed
from node.members.models import Member
from node.members.service import is_steward
from node.signals import assembly_scheduled, decision_made, proposal_opened

RULE_FIELDS = (
    "method", "quorum_count", "quorum_percent", "supermajority_num", "supermajority_den",
    "max_stand_asides", "delegate_term_days", "delegate_max_terms", "delegate_rotation_days",
    "recall_petition_count", "recall_petition_percent",
)
OUTCOME_STATUS = {
    Outcome.PASSED: ProposalStatus.PASSED,
    Outcome.REJECTED: ProposalStatus.REJECTED,
    Outcome.BLOCKED: ProposalStatus.BLOCKED,
    Outcome.NO_QUORUM: ProposalStatus.NO_QUORUM,
}


# --- assemblies --------------------------------------------------------------------------

def create_assembly(db: Session, convener: Member, data: schemas.AssemblyIn) -> Assembly:
    """Convene an assembly; a standing one is in session at once, a scheduled one at its start."""
    now = utcnow()
    if data.kind is AssemblyKind.SCHEDULED and data.starts_at is not None and data.starts_at <= now:
        raise ValidationFailed("starts in the past", [FieldError("starts_at", "must be in the future")])
    status = AssemblyStatus.OPEN if data.kind is AssemblyKind.STANDING else AssemblyStatus.SCHEDULED
    assembly = Assembly(
        title=data.title, description=data.description, kind=data.kind, status=status,
        location=data.location, starts_at=data.starts_at, ends_at=data.ends_at,
        method=data.method or Method.CONSENSUS, convened_by_id=convener.id,
    )
    _apply_rules(assembly, data.model_dump(exclude_unset=True))
    db.add(assembly)
    db.flush()
    _check_rules(assembly)
    add_minute(db, assembly, "convened", f"Assembly convened by {convener.handle}", convener)
    assembly_scheduled.send(db, assembly=assembly)
    return assembly


def update_assembly(db: Session, assembly: Assembly, data: schemas.AssemblyUpdate, actor: Member) -> Assembly:
    """Change an assembly's details or rules; the change itself goes into the minutes."""
    refresh(db, assembly)
    if assembly.status is AssemblyStatus.CLOSED:
        raise InvalidState("this assembly is closed")
    changes = data.model_dump(exclude_unset=True)
    for name in ("title", "description", "location", "starts_at", "ends_at"):
        if name in changes:
            if changes[name] is None and name in ("title", "description", "location"):
                raise ValidationFailed("field cannot be null", [FieldError(name, "cannot be null")])
            setattr(assembly, name, changes[name])
    _apply_rules(assembly, changes)
    _check_rules(assembly)
    db.flush()
    if changes:
        add_minute(db, assembly, "rules", f"{actor.handle} changed: {', '.join(sorted(changes))}", actor)
    return assembly


def _apply_rules(assembly: Assembly, changes: dict[str, Any]) -> None:
    for name in RULE_FIELDS:
        if name in changes:
            if changes[name] is None and name != "max_stand_asides":
                raise ValidationFailed("field cannot be null", [FieldError(name, "cannot be null")])
            setattr(assembly, name, changes[name])


def _check_rules(assembly: Assembly) -> None:
    if assembly.supermajority_num > assembly.supermajority_den:
        raise ValidationFailed(
            "not a fraction", [FieldError("supermajority_num", "cannot exceed supermajority_den")]
        )
    if assembly.starts_at and assembly.ends_at and assembly.ends_at <= assembly.starts_at:
        raise ValidationFailed("bad window", [FieldError("ends_at", "must be after starts_at")])


def get_assembly(db: Session, assembly_id: uuid.UUID) -> Assembly:
    """An assembly, brought up to date with the clock, or a 404 problem."""
    assembly = db.get(Assembly, assembly_id)
    if assembly is None:
        raise NotFound("no such assembly")
    refresh(db, assembly)
    return assembly


def refresh(db: Session, assembly: Assembly) -> None:
    """Open a scheduled assembly whose time came, close one whose time is over, and close due
    proposals: time passing is applied when someone looks, and by `close_due`."""
    now = utcnow()
    if assembly.status is AssemblyStatus.SCHEDULED and assembly.starts_at and assembly.starts_at <= now:
        open_assembly(db, assembly, None)
    if assembly.status is AssemblyStatus.OPEN:
        for proposal in _open_proposals(db, assembly):
            if proposal.closes_at is not None and proposal.closes_at <= now:
                close_proposal(db, proposal, None)
        if assembly.ends_at is not None and assembly.ends_at <= now:
            close_assembly(db, assembly, None)


def open_assembly(db: Session, assembly: Assembly, actor: Member | None) -> Assembly:
    """Bring a scheduled assembly into session."""
    if assembly.status is not AssemblyStatus.SCHEDULED:
        raise InvalidState(f"this assembly is {assembly.status.value}, not scheduled")
    assembly.status = AssemblyStatus.OPEN
    db.flush()
    who = f" by {actor.handle}" if actor else ""
    add_minute(db, assembly, "opened", f"Assembly opened{who}", actor)
    return assembly


def close_assembly(db: Session, assembly: Assembly, actor: Member | None) -> Assembly:
    """End the session; proposals still open are decided on the positions taken so far."""
    if assembly.status is AssemblyStatus.CLOSED:
        raise InvalidState("this assembly is already closed")
    if assembly.status is AssemblyStatus.OPEN:
        for proposal in _open_proposals(db, assembly):
            close_proposal(db, proposal, None)
    assembly.status = AssemblyStatus.CLOSED
    assembly.closed_at = utcnow()
    db.flush()
    who = f" by {actor.handle}" if actor else ""
    add_minute(db, assembly, "closed", f"Assembly closed{who}", actor)
    return assembly


def may_manage(db: Session, assembly: Assembly, member: Member) -> bool:
    """Whether the member convened the assembly or is a steward now."""
    return assembly.convened_by_id == member.id or is_steward(db, member)


def require_manager(db: Session, assembly: Assembly, member: Member) -> None:
    """Refuse unless the member convened the assembly or is a steward."""
    if not may_manage(db, assembly, member):
        raise Forbidden("only the member who convened this assembly or a steward may do this")


def rules(db: Session, assembly: Assembly) -> Rules:
    """The assembly's decision rules, with the quorum worked out from today's membership."""
    members = db.scalar(select(func.count()).select_from(Member)) or 0
    return Rules(
        method=assembly.method,
        quorum=required_quorum(assembly.quorum_count, assembly.quorum_percent, members),
        supermajority=(assembly.supermajority_num, assembly.supermajority_den),
        max_stand_asides=assembly.max_stand_asides,
    )


def recall_threshold(db: Session, assembly: Assembly) -> int:
    """Signatures a recall petition needs before it opens a recall vote."""
    members = db.scalar(select(func.count()).select_from(Member)) or 0
    return required_quorum(assembly.recall_petition_count, assembly.recall_petition_percent, members)


# --- agenda ------------------------------------------------------------------------------

def add_agenda_item(db: Session, assembly: Assembly, data: schemas.AgendaItemIn, actor: Member) -> AgendaItem:
    """Put an item on the agenda, after the others."""
    if assembly.status is AssemblyStatus.CLOSED:
        raise InvalidState("this assembly is closed")
    last = db.scalar(select(func.max(AgendaItem.position)).where(AgendaItem.assembly_id == assembly.id))
    item = AgendaItem(assembly_id=assembly.id, position=(last or 0) + 1, title=data.title, notes=data.notes)
    db.add(item)
    db.flush()
    add_minute(db, assembly, "agenda", f"{actor.handle} put on the agenda: {data.title}", actor)
    return item


def agenda(db: Session, assembly: Assembly) -> list[AgendaItem]:
    """The agenda in order."""
    stmt = select(AgendaItem).where(AgendaItem.assembly_id == assembly.id).order_by(AgendaItem.position)
    return list(db.scalars(stmt))


# --- proposals ---------------------------------------------------------------------------

def create_proposal(
    db: Session,
    assembly: Assembly,
    member: Member,
    title: str,
    text: str,
    *,
    kind: str = "general",
    payload: dict[str, Any] | None = None,
    agenda_item_id: uuid.UUID | None = None,
    closes_at: datetime | None = None,
    amends: Proposal | None = None,
) -> Proposal:
    """Put a proposal to the assembly."""
    if assembly.status is AssemblyStatus.CLOSED:
        raise InvalidState("this assembly is closed")
    _check_closes_at(closes_at)
    if agenda_item_id is not None:
        item = db.get(AgendaItem, agenda_item_id)
        if item is None or item.assembly_id != assembly.id:
            raise ValidationFailed(
                "unknown agenda item", [FieldError("agenda_item_id", "not on this agenda")]
            )
    proposal = Proposal(
        assembly_id=assembly.id, agenda_item_id=agenda_item_id, kind=kind, title=title, text=text,
        payload=payload or {}, amends_id=amends.id if amends else None, proposed_by_id=member.id,
        closes_at=closes_at,
    )
    db.add(proposal)
    db.flush()
    what = f"amendment to “{amends.title}”" if amends else f"{kind} proposal"
    add_minute(db, assembly, "proposal", f"{member.handle} proposed ({what}): {title}", member, proposal)
    proposal_opened.send(db, proposal=proposal, assembly=assembly)
    return proposal


def _check_closes_at(closes_at: datetime | None) -> None:
    if closes_at is not None and closes_at <= utcnow():
        raise ValidationFailed("closes in the past", [FieldError("closes_at", "must be in the future")])


def amend(db: Session, proposal: Proposal, member: Member, data: schemas.AmendmentIn) -> Proposal:
    """Propose an amendment: a proposal of its own that, if it passes, replaces the text."""
    if proposal.status is not ProposalStatus.OPEN:
        raise InvalidState(f"this proposal is {proposal.status.value}")
    if proposal.amends_id is not None:
        raise InvalidState("an amendment cannot itself be amended; propose another amendment instead")
    if proposal.kind != "general":
        raise InvalidState(f"a {proposal.kind} proposal cannot be amended; withdraw it and propose again")
    assembly = db.get_one(Assembly, proposal.assembly_id)
    closes_at = data.closes_at or proposal.closes_at
    if proposal.closes_at is not None and closes_at is not None and closes_at > proposal.closes_at:
        raise ValidationFailed("too late", [FieldError("closes_at", "must not be after the proposal closes")])
    return create_proposal(
        db, assembly, member, data.title or f"Amend: {proposal.title}"[:120], data.text,
        kind="amendment", closes_at=closes_at, amends=proposal,
    )


def get_proposal(db: Session, proposal_id: uuid.UUID) -> Proposal:
    """A proposal, with its assembly brought up to date with the clock, or a 404 problem."""
    proposal = db.get(Proposal, proposal_id)
    if proposal is None:
        raise NotFound("no such proposal")
    refresh(db, db.get_one(Assembly, proposal.assembly_id))
    return proposal


def _open_proposals(db: Session, assembly: Assembly) -> list[Proposal]:
    # Amendments first, so that a passed amendment changes the text before its proposal closes.
    stmt = select(Proposal).where(Proposal.assembly_id == assembly.id, Proposal.status == ProposalStatus.OPEN)
    return sorted(db.scalars(stmt), key=lambda p: (p.amends_id is None, p.opened_at))


def cast_position(
    db: Session, proposal: Proposal, member: Member, stance: Stance, reason: str = ""
) -> Position:
    """Take a position on the proposal's current text: once per member and version."""
    assembly = db.get_one(Assembly, proposal.assembly_id)
    if proposal.status is not ProposalStatus.OPEN:
        raise InvalidState(f"this proposal is {proposal.status.value}; positions are no longer taken")
    if assembly.status is not AssemblyStatus.OPEN:
        raise InvalidState(f"the assembly is {assembly.status.value}, not in session")
    problem = stance_problem(assembly.method, stance, reason)
    if problem:
        field = "reason" if stance in (Stance.BLOCK, Stance.OBJECT) and not reason.strip() else "stance"
        raise ValidationFailed("this position cannot be taken here", [FieldError(field, problem)])
    position = Position(
        proposal_id=proposal.id, member_id=member.id, version=proposal.version, stance=stance,
        reason=reason.strip(),
    )
    try:
        # A savepoint, so that losing a race on the unique key leaves the transaction usable.
        with db.begin_nested():
            db.add(position)
    except IntegrityError:
        raise _already(proposal) from None
    if stance in (Stance.BLOCK, Stance.OBJECT, Stance.STAND_ASIDE):
        said = f"{member.handle} {stance.value.replace('_', ' ')}s “{proposal.title}”"
        add_minute(db, assembly, "position", f"{said}: {reason.strip()}".rstrip(": "), member, proposal)
    return position


def _already(proposal: Proposal) -> Conflict:
    return Conflict(
        "you have already taken a position on this text of the proposal",
        [FieldError("stance", f"already taken on version {proposal.version}")],
    )


def current_positions(db: Session, proposal: Proposal) -> list[Position]:
    """The positions that count: those taken on the proposal's current text."""
    stmt = (
        select(Position)
        .where(Position.proposal_id == proposal.id, Position.version == proposal.version)
        .order_by(Position.cast_at, Position.id)
    )
    return list(db.scalars(stmt))


def current_tally(db: Session, proposal: Proposal) -> Tally:
    """The count so far under the assembly's rules."""
    assembly = db.get_one(Assembly, proposal.assembly_id)
    return tally(rules(db, assembly), [p.stance for p in current_positions(db, proposal)])


def close_proposal(db: Session, proposal: Proposal, actor: Member | None) -> Decision:
    """Count the positions, record the decision and announce it; an actor closing early must
    be the proposer (when no closing time was set), the convener or a steward."""
    # The row lock makes closing and a concurrent recall or second close take turns.
    locked = db.scalars(
        select(Proposal).where(Proposal.id == proposal.id).with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    if locked.status is not ProposalStatus.OPEN:
        raise InvalidState(f"this proposal is already {locked.status.value}")
    assembly = db.get_one(Assembly, proposal.assembly_id)
    if actor is not None:
        _check_may_close(db, assembly, proposal, actor)
    if assembly.status is AssemblyStatus.SCHEDULED:
        raise InvalidState("the assembly has not met yet")
    for amendment in db.scalars(
        select(Proposal).where(Proposal.amends_id == proposal.id, Proposal.status == ProposalStatus.OPEN)
    ).all():
        close_proposal(db, amendment, None)
    result = current_tally(db, proposal)
    proposal.status = OUTCOME_STATUS[result.outcome]
    proposal.decided_at = utcnow()
    decision = Decision(
        assembly_id=assembly.id, proposal_id=proposal.id, kind=proposal.kind, title=proposal.title,
        text=proposal.text, payload=proposal.payload, method=assembly.method, outcome=result.outcome,
        counts=result.counts, participants=result.participants, quorum=result.quorum,
        explanation=result.explanation, decided_at=proposal.decided_at,
    )
    db.add(decision)
    db.flush()
    add_minute(
        db, assembly, "decision",
        f"Decided “{proposal.title}”: {result.outcome.value.replace('_', ' ')} ({result.explanation})",
        actor, proposal,
    )
    if proposal.amends_id is not None and result.outcome is Outcome.PASSED:
        _apply_amendment(db, assembly, proposal)
    decision_made.send(db, decision=decision, proposal=proposal, assembly=assembly)
    return decision


def _check_may_close(db: Session, assembly: Assembly, proposal: Proposal, actor: Member) -> None:
    if may_manage(db, assembly, actor):
        return
    if proposal.proposed_by_id == actor.id and proposal.closes_at is None:
        return
    raise Forbidden("only the convener or a steward may close this proposal before its time")


def _apply_amendment(db: Session, assembly: Assembly, amendment: Proposal) -> None:
    parent = db.get_one(Proposal, amendment.amends_id)
    if parent.status is not ProposalStatus.OPEN:
        return
    parent.text = amendment.text
    parent.version += 1
    db.flush()
    add_minute(
        db, assembly, "amended",
        f"“{parent.title}” amended (now version {parent.version}); positions are taken again",
        None, parent,
    )


def withdraw_proposal(db: Session, proposal: Proposal, actor: Member) -> Proposal:
    """The proposer (or the convener, or a steward) withdraws a proposal still open."""
    assembly = db.get_one(Assembly, proposal.assembly_id)
    if proposal.proposed_by_id != actor.id:
        require_manager(db, assembly, actor)
    if proposal.status is not ProposalStatus.OPEN:
        raise InvalidState(f"this proposal is already {proposal.status.value}")
    proposal.status = ProposalStatus.WITHDRAWN
    proposal.decided_at = utcnow()
    db.flush()
    add_minute(db, assembly, "withdrawn", f"{actor.handle} withdrew “{proposal.title}”", actor, proposal)
    return proposal


def close_due(db: Session) -> int:
    """Apply the clock to every assembly not yet closed; return how many proposals it decided."""
    before = db.scalar(select(func.count()).select_from(Decision)) or 0
    for assembly in db.scalars(select(Assembly).where(Assembly.status != AssemblyStatus.CLOSED)).all():
        refresh(db, assembly)
    after = db.scalar(select(func.count()).select_from(Decision)) or 0
    return after - before


# --- the open record ---------------------------------------------------------------------

def add_minute(
    db: Session,
    assembly: Assembly,
    kind: str,
    text: str,
    author: Member | None = None,
    proposal: Proposal | None = None,
) -> Minute:
    """Write one entry in the assembly's minutes."""
    minute = Minute(
        assembly_id=assembly.id, kind=kind, text=text, author_id=author.id if author else None,
        author_handle=author.handle if author else None, proposal_id=proposal.id if proposal else None,
    )
    db.add(minute)
    db.flush()
    return minute


def minutes(db: Session, assembly: Assembly) -> list[Minute]:
    """The assembly's minutes, oldest first."""
    stmt = select(Minute).where(Minute.assembly_id == assembly.id).order_by(Minute.id)
    return list(db.scalars(stmt))


def decisions(db: Session, assembly: Assembly) -> list[Decision]:
    """The assembly's decisions, oldest first."""
    stmt = (
        select(Decision).where(Decision.assembly_id == assembly.id)
        .order_by(Decision.decided_at, Decision.id)
    )
    return list(db.scalars(stmt))
