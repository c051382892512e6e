"""Incidents: a federation declares a flood or a power cut over an area and a time span.

A federation-role node declares an incident by a decision of its council, or under the
emergency rule (its rapid-response team acting first) with a deadline by which the council
must ratify it; unratified by then, it lapses. Ratifying re-sends `incident.declared` with the
council's decision. Closing is a decision too (`incident.closed`). Every node that hears of a
live incident sends its needs and surpluses in the incident's area in the priority lane, and
the envelope keeps that lane at every hop.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Literal, Self, TypeVar

import h3
from flask import Flask
from pydantic import Field, StringConstraints, model_validator
from sqlalchemy import JSON, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from federation import bodies
from federation.envelope import EnvelopeError, now
from federation.registry import APPLIED, ApplyContext, register
from node.db import Base, utcnow
from node.errors import FieldError, Forbidden, InvalidState, NotFound, ValidationFailed

if TYPE_CHECKING:
    from federation.models import RemoteListing
    from federation.relief.matching import GlobalId, Hold, Posting, Proposal
    from node.members.models import Member

MAX_CELLS = 2000
# The project template whose working group is a node's rapid-response roster.
RAPID_RESPONSE = "rapid_response"
INCIDENT_PRIORITY = 1
Authority = Literal["council", "emergency"]
_B = TypeVar("_B", bound=bodies.Body)


class Incident(Base):
    """An incident as the declaring federation last described it."""

    __tablename__ = "federation_incidents"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    federation: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    title: Mapped[str] = mapped_column(String(120))
    cells: Mapped[list[str]] = mapped_column(JSON, default=list)
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    authority: Mapped[str] = mapped_column(String(20))
    decision: Mapped[str | None] = mapped_column(String(64))
    ratify_by: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    close_decision: Mapped[str | None] = mapped_column(String(64))
    close_reason: Mapped[str] = mapped_column(String(300), default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


# --- wire bodies --------------------------------------------------------------------------

class IncidentDeclared(bodies.Body):
    """A federation declares (or, with its council's decision, ratifies) an incident."""

    incident_id: uuid.UUID
    kind: bodies.Slug
    title: bodies.Title
    cells: Annotated[list[bodies.Cell], Field(min_length=1, max_length=MAX_CELLS)]
    starts: bodies.Timestamp
    ends: bodies.Timestamp
    authority: Authority
    decision: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None
    ratify_by: bodies.Timestamp | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.ends <= self.starts:
            raise ValueError("ends must be after starts")
        if self.authority == "council" and not self.decision:
            raise ValueError("a council declaration names its decision")
        if self.authority == "emergency" and self.ratify_by is None:
            raise ValueError("an emergency declaration says by when the council must ratify it")
        return self


class IncidentClosed(bodies.Body):
    """A federation closes an incident by a decision of its council."""

    incident_id: uuid.UUID
    decision: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    reason: bodies.Reason = ""


# --- the rules ----------------------------------------------------------------------------

def is_live(incident: Incident, moment: datetime | None = None) -> bool:
    """Whether the incident counts now: open, within its span, and ratified or not yet lapsed."""
    moment = moment or now()
    if incident.closed_at is not None:
        return False
    if not _aware(incident.starts_at) <= moment < _aware(incident.ends_at):
        return False
    return incident.authority == "council" or (
        incident.ratify_by is not None and moment < _aware(incident.ratify_by)
    )


def state(incident: Incident, moment: datetime | None = None) -> str:
    """One word for the incident: closed, lapsed, ended, pending, provisional or live."""
    moment = moment or now()
    if incident.closed_at is not None:
        return "closed"
    if incident.authority == "emergency" and incident.ratify_by and moment >= _aware(incident.ratify_by):
        return "lapsed"
    if moment >= _aware(incident.ends_at):
        return "ended"
    if moment < _aware(incident.starts_at):
        return "pending"
    return "provisional" if incident.authority == "emergency" else "live"


def within(cell: str, area: list[str]) -> bool:
    """Whether a cell lies inside an area of (possibly coarser) cells."""
    resolution = h3.get_resolution(cell)
    for outer in area:
        outer_res = h3.get_resolution(outer)
        if outer_res <= resolution and h3.cell_to_parent(cell, outer_res) == outer:
            return True
    return False


def live_incidents(db: Session, moment: datetime | None = None) -> list[Incident]:
    """The incidents that count now, oldest first."""
    moment = moment or now()
    rows = db.scalars(select(Incident).where(Incident.closed_at.is_(None)).order_by(Incident.starts_at))
    return [row for row in rows if is_live(row, moment)]


def priority_for(db: Session, cell: str | None) -> int | None:
    """The lane for news about something in `cell`: 1 inside a live incident, else the default."""
    if not cell or not h3.is_valid_cell(cell):
        return None
    for incident in live_incidents(db):
        if within(cell, incident.cells):
            return INCIDENT_PRIORITY
    return None


def council_decision(db: Session, federation: str, decision: str) -> None:
    """Refuse unless `decision` is a passed decision of this federation's council."""
    from delegates.models import CouncilProposal, CouncilStatus

    try:
        proposal_id = uuid.UUID(decision)
    except ValueError:
        raise ValidationFailed("not a council decision", [FieldError("decision", "not a uuid")]) from None
    proposal = db.get(CouncilProposal, proposal_id)
    if proposal is None or proposal.federation != federation:
        raise NotFound("no such decision of this federation's council",
                       [FieldError("decision", "unknown decision")])
    if proposal.status != CouncilStatus.DECIDED or proposal.outcome != "passed":
        raise InvalidState("the council has not passed this proposal",
                           [FieldError("decision", f"the proposal is {proposal.outcome or 'still open'}")])


def on_roster(db: Session, member: Member) -> bool:
    """Whether the member is on this node's rapid-response roster: the working group of an
    active project made from the rapid-response template."""
    from node.projects.models import Project, ProjectMember, ProjectStatus

    found = db.scalar(
        select(ProjectMember.id).join(Project, Project.id == ProjectMember.project_id).where(
            Project.template == RAPID_RESPONSE, Project.status == ProjectStatus.ACTIVE,
            ProjectMember.member_id == member.id,
        ).limit(1)
    )
    return found is not None


def check_area(app: Flask, cells: list[str]) -> list[str]:
    """The cells, deduplicated; ValidationFailed naming each one outside the federation's area."""
    settings = app.config["MUTUALAID"]
    if settings.role != "federation":
        raise Forbidden("only a node in the federation role declares incidents")
    area = list(settings.federation_area_cells)
    if not area:
        raise ValidationFailed("this federation has no area set (federation_area_cells)",
                               [FieldError("cells", "no federation area")])
    errors = []
    for index, cell in enumerate(cells):
        if not h3.is_valid_cell(cell):
            errors.append(FieldError(f"cells.{index}", "not a valid H3 cell"))
        elif h3.get_resolution(cell) > bodies.MAX_CELL_RESOLUTION:
            errors.append(FieldError(f"cells.{index}", "finer than H3 resolution 10"))
        elif not within(cell, area):
            errors.append(FieldError(f"cells.{index}", "outside the federation's area"))
    if not cells:
        errors.append(FieldError("cells", "an incident needs at least one cell"))
    if errors:
        raise ValidationFailed("the incident's area must lie within the federation's", errors[:50])
    return sorted(set(cells))


def declare(
    db: Session, app: Flask, *, kind: str, title: str, cells: list[str], starts: datetime,
    ends: datetime, decision: str | None = None, emergency: bool = False, by: Member | None = None,
) -> Incident:
    """Declare an incident by a council decision, or under the emergency rule to be ratified.

    Under the emergency rule `by` is the declaring member, who must be on the federation's
    rapid-response roster (`on_roster`); the council ratifies the declaration afterwards."""
    from federation.identity import local_identity
    from federation.outbox import publish

    area = check_area(app, cells)
    federation = local_identity(app, db).node_id
    if decision is not None:
        council_decision(db, federation, decision)
    elif not emergency:
        raise ValidationFailed("an incident is declared by a council decision or under the emergency rule",
                               [FieldError("decision", "give a decision, or declare an emergency")])
    elif by is None or not on_roster(db, by):
        raise Forbidden("under the emergency rule only a member of the federation's rapid-response team "
                        "declares an incident; the council ratifies it afterwards")
    ratify_by = None if decision else now() + timedelta(hours=app.config["MUTUALAID"].incident_ratify_hours)
    body = _body(IncidentDeclared, incident_id=uuid.uuid4(), kind=kind, title=title, cells=area,
                 starts=starts, ends=ends, authority="council" if decision else "emergency",
                 decision=decision, ratify_by=ratify_by)
    incident = _store(db, federation, body)
    publish(db, app, "incident.declared", body, priority=INCIDENT_PRIORITY)
    return incident


def ratify(db: Session, app: Flask, incident_id: uuid.UUID, decision: str) -> Incident:
    """Ratify an emergency declaration with the council's decision, before it lapses."""
    from federation.outbox import publish

    incident = own_incident(db, app, incident_id)
    if state(incident) in ("closed", "lapsed"):
        raise InvalidState(f"the incident is {state(incident)}: declare it again")
    council_decision(db, incident.federation, decision)
    body = _body(IncidentDeclared, incident_id=incident.id, kind=incident.kind, title=incident.title,
                 cells=list(incident.cells), starts=_aware(incident.starts_at),
                 ends=_aware(incident.ends_at), authority="council", decision=decision)
    _store(db, incident.federation, body)
    publish(db, app, "incident.declared", body, priority=INCIDENT_PRIORITY)
    return incident


def close(db: Session, app: Flask, incident_id: uuid.UUID, decision: str, reason: str = "") -> Incident:
    """Close an incident by a decision of the council."""
    from federation.outbox import publish

    incident = own_incident(db, app, incident_id)
    if incident.closed_at is not None:
        raise InvalidState("the incident is already closed")
    council_decision(db, incident.federation, decision)
    body = _body(IncidentClosed, incident_id=incident.id, decision=decision, reason=reason)
    _close(incident, body)
    publish(db, app, "incident.closed", body, priority=INCIDENT_PRIORITY)
    return incident


def own_incident(db: Session, app: Flask, incident_id: uuid.UUID) -> Incident:
    """An incident this node declared, or NotFound."""
    from federation.identity import local_identity

    incident = db.get(Incident, incident_id)
    if incident is None or incident.federation != local_identity(app, db).node_id:
        raise NotFound("this federation declared no such incident")
    return incident


def as_dict(incident: Incident, moment: datetime | None = None) -> dict[str, object]:
    """The incident for the API."""
    return {
        "id": str(incident.id), "federation": incident.federation, "kind": incident.kind,
        "title": incident.title, "cells": list(incident.cells),
        "starts": _aware(incident.starts_at).isoformat(), "ends": _aware(incident.ends_at).isoformat(),
        "authority": incident.authority, "decision": incident.decision,
        "ratify_by": _aware(incident.ratify_by).isoformat() if incident.ratify_by else None,
        "state": state(incident, moment),
        "closed_at": _aware(incident.closed_at).isoformat() if incident.closed_at else None,
        "close_reason": incident.close_reason,
    }


# --- matching across nodes ----------------------------------------------------------------

def area_listings(db: Session, incident: Incident, kind: str) -> list[RemoteListing]:
    """The open needs or surpluses other nodes published inside the incident's area."""
    from federation.models import RemoteListing

    rows = db.scalars(select(RemoteListing).where(RemoteListing.kind == kind, RemoteListing.status == "open"))
    return [row for row in rows if within(row.h3_cell, list(incident.cells))]


def posting(row: RemoteListing) -> Posting:
    """A remote listing as the matching engine takes it."""
    from federation.relief.matching import Posting

    return Posting(node=row.node_id, resource=str(row.listing_id), category=row.category,
                   quantity=row.quantity, unit=row.unit, cell=row.h3_cell, urgency=row.urgency,
                   expires_at=row.expires_at)


def holds(db: Session, local_id: str, moment: datetime) -> list[Hold]:
    """This federation's pledges still offered or accepted, so a second run proposes nothing twice."""
    from federation.models import Pledge, PledgeStatus
    from federation.relief.matching import GlobalId, Hold

    rows = db.scalars(select(Pledge).where(
        Pledge.pledger_node == local_id, Pledge.listing_kind == "surplus",
        Pledge.status.in_((PledgeStatus.OFFERED, PledgeStatus.ACCEPTED)),
    ))
    found = []
    for row in rows:
        need = _need_of(row.note)
        if need is None:
            continue
        lease = None if row.status == PledgeStatus.ACCEPTED else _aware(row.lease_until)
        found.append(Hold(GlobalId(row.owner_node, str(row.listing_id)), need, row.quantity, lease))
    return [hold for hold in found if hold.live(moment)]


def match_incident(db: Session, app: Flask, incident_id: uuid.UUID) -> list[Proposal]:
    """Match the needs and surpluses in a live incident's area and offer each proposal to the
    surplus's owning node as a pledge (priority lane); the owner's ledger decides."""
    from federation.identity import local_identity
    from federation.pledges import DEFAULT_LEASE, lock_publishing, offer
    from federation.relief.matching import match

    incident = own_incident(db, app, incident_id)
    if not is_live(incident):
        raise InvalidState(f"the incident is {state(incident)}")
    # Two matchers at once (a steward's request and the sweep, or two workers) would both read
    # the same holds and offer the same pledges twice: the owners would decline the second,
    # but the offers are noise in a disaster. The seq counter's lock, which the offers take
    # anyway, is taken first so the second matcher reads the first one's pledges as holds.
    lock_publishing(db)
    moment = now()
    local_id = local_identity(app, db).node_id
    needs = [posting(row) for row in area_listings(db, incident, "need")]
    surpluses = [posting(row) for row in area_listings(db, incident, "surplus")]
    result = match(needs, surpluses, now=moment, holds=holds(db, local_id, moment), lease=DEFAULT_LEASE)
    for proposal in result.proposals:
        lease = max(proposal.lease_until - moment, timedelta(minutes=1))
        offer(db, app, proposal.surplus.node, uuid.UUID(proposal.surplus.resource), "surplus",
              proposal.quantity, proposal.unit, note=_note(incident, proposal.need), lease=lease,
              priority=INCIDENT_PRIORITY)
    return result.proposals


def match_live(db: Session, app: Flask, moment: datetime) -> int:
    """Sweep job: match every live incident this federation declared; returns pledges offered."""
    from federation.identity import local_identity

    if app.config["MUTUALAID"].role != "federation":
        return 0
    local_id = local_identity(app, db).node_id
    own = [row for row in live_incidents(db, moment) if row.federation == local_id]
    return sum(len(match_incident(db, app, row.id)) for row in own)


def _note(incident: Incident, need: GlobalId) -> str:
    # The need a pledge serves rides in its note: the wire body has no field for another node's need.
    return f"incident {incident.id} need {need.node}/{need.resource}"


def _need_of(note: str) -> GlobalId | None:
    from federation.relief.matching import GlobalId

    parts = note.split()
    if len(parts) != 4 or parts[0] != "incident" or parts[2] != "need" or "/" not in parts[3]:
        return None
    node, resource = parts[3].split("/", 1)
    return GlobalId(node, resource)


# --- applying what arrives ----------------------------------------------------------------

def apply_declared(ctx: ApplyContext, body: IncidentDeclared) -> str:
    """Record a federation's incident; only the declaring federation may change it."""
    existing = ctx.db.get(Incident, body.incident_id)
    if existing is not None and existing.federation != ctx.envelope.sender:
        raise EnvelopeError("not-owner", f"incident {body.incident_id} was declared by {existing.federation}")
    if existing is not None and existing.closed_at is not None:
        return "ignored: the incident is closed"
    _store(ctx.db, ctx.envelope.sender, body)
    return APPLIED


def apply_closed(ctx: ApplyContext, body: IncidentClosed) -> str:
    """Close a federation's incident here too."""
    existing = ctx.db.get(Incident, body.incident_id)
    if existing is None:
        return "ignored: unknown incident"
    if existing.federation != ctx.envelope.sender:
        raise EnvelopeError("not-owner", f"incident {body.incident_id} was declared by {existing.federation}")
    _close(existing, body)
    return APPLIED


def _store(db: Session, federation: str, body: IncidentDeclared) -> Incident:
    incident = db.get(Incident, body.incident_id) or Incident(id=body.incident_id, federation=federation)
    incident.kind, incident.title, incident.cells = body.kind, body.title, list(body.cells)
    incident.starts_at, incident.ends_at = body.starts, body.ends
    incident.authority, incident.decision, incident.ratify_by = body.authority, body.decision, body.ratify_by
    incident.updated_at = utcnow()
    db.add(incident)
    db.flush()
    return incident


def _close(incident: Incident, body: IncidentClosed) -> None:
    incident.closed_at, incident.close_decision, incident.close_reason = now(), body.decision, body.reason
    incident.updated_at = utcnow()


def _body(model: type[_B], **values: object) -> _B:
    # Built through validation so a bad kind or title is a 422 with its field, not a crash later.
    from pydantic import ValidationError

    try:
        return model.model_validate({k: v for k, v in values.items() if v is not None})
    except ValidationError as exc:
        errors = [
            FieldError(".".join(str(p) for p in e["loc"]) or "body", e["msg"].removeprefix("Value error, "))
            for e in exc.errors(include_url=False, include_input=False)
        ]
        raise ValidationFailed("the incident is not valid", errors) from None


def _aware(value: datetime) -> datetime:
    from datetime import UTC

    return value if value.tzinfo else value.replace(tzinfo=UTC)


register("incident.declared", IncidentDeclared, apply_declared, priority=INCIDENT_PRIORITY)
register("incident.closed", IncidentClosed, apply_closed, priority=INCIDENT_PRIORITY)
