"""The incidents part of the JSON API: declare, ratify, close and match incidents (stewards of a
federation node), and read the situation of one, as JSON and as a map picture."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from flask import Response, current_app
from pydantic import AwareDatetime, BaseModel, Field, StringConstraints
from sqlalchemy import select

from federation import incidents, situation, solidarity, takeover
from federation.bodies import NodeId
from node.api.operations import ApiBlueprint
from node.api.paging import Page, PageQuery, page_of, paginate
from node.db import get_session
from node.members.auth import require_member
from node.members.schemas import Input
from node.members.service import require_steward

bp = ApiBlueprint("incidents_api", __name__, tag="Incidents")

Decision = Annotated[str, StringConstraints(min_length=1, max_length=64)]


def _app() -> Any:
    return current_app._get_current_object()  # type: ignore[attr-defined]


class IncidentIn(Input):
    kind: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{1,39}$")]
    title: Annotated[str, StringConstraints(min_length=1, max_length=120)]
    cells: Annotated[list[str], Field(min_length=1, max_length=incidents.MAX_CELLS)]
    starts: AwareDatetime
    ends: AwareDatetime
    decision: Decision | None = Field(default=None, description="The council decision that declares it")
    emergency: bool = Field(default=False, description="Declared under the emergency rule, to be ratified")


class DecisionIn(Input):
    decision: Decision
    reason: Annotated[str, StringConstraints(max_length=300)] = ""


class IncidentOut(BaseModel):
    id: str
    federation: str
    kind: str
    title: str
    cells: list[str]
    starts: datetime
    ends: datetime
    authority: str
    decision: str | None
    ratify_by: datetime | None
    state: str
    closed_at: datetime | None
    close_reason: str


class SolidarityIn(Input):
    source: solidarity.Source
    requester: Annotated[str, StringConstraints(min_length=1, max_length=120)]
    title: Annotated[str, StringConstraints(min_length=1, max_length=120)]
    text: Annotated[str, StringConstraints(max_length=4000)] = ""
    url: Annotated[str, StringConstraints(pattern=r"^https?://", max_length=500)] | None = None
    until: AwareDatetime | None = None


class MatchOut(BaseModel):
    proposals: int = Field(description="Pledges offered to the surpluses' owning nodes")
    quantity: float


@bp.operation("/incidents", "GET", "Incidents this node knows of", query=PageQuery,
              response=Page[IncidentOut])
def list_incidents(query: PageQuery) -> Any:
    require_member()
    rows, total = paginate(get_session(), select(incidents.Incident).order_by(
        incidents.Incident.starts_at.desc(), incidents.Incident.id), query)
    return page_of([incidents.as_dict(row) for row in rows], total, query)


@bp.operation("/incidents", "POST",
              "Declare an incident (stewards of a federation node by a council decision; a member of "
              "its rapid-response team under the emergency rule)",
              body=IncidentIn, response=IncidentOut, status=201, problems=(403, 404, 409, 422))
def declare_incident(body: IncidentIn) -> Any:
    db = get_session()
    member = require_member()
    if body.decision is not None or not body.emergency:
        require_steward(db, member)
    # Under the emergency rule the rapid-response roster decides who may declare (incidents.declare).
    incident = incidents.declare(db, _app(), kind=body.kind, title=body.title, cells=body.cells,
                                 starts=body.starts, ends=body.ends, decision=body.decision,
                                 emergency=body.emergency, by=member)
    db.commit()
    return incidents.as_dict(incident)


@bp.operation("/incidents/<uuid:incident_id>/ratify", "POST", "Ratify an emergency declaration",
              body=DecisionIn, response=IncidentOut, problems=(403, 404, 409, 422))
def ratify_incident(incident_id: uuid.UUID, body: DecisionIn) -> Any:
    db = get_session()
    require_steward(db, require_member())
    incident = incidents.ratify(db, _app(), incident_id, body.decision)
    db.commit()
    return incidents.as_dict(incident)


@bp.operation("/incidents/<uuid:incident_id>/close", "POST", "Close an incident by a council decision",
              body=DecisionIn, response=IncidentOut, problems=(403, 404, 409, 422))
def close_incident(incident_id: uuid.UUID, body: DecisionIn) -> Any:
    db = get_session()
    require_steward(db, require_member())
    incident = incidents.close(db, _app(), incident_id, body.decision, body.reason)
    db.commit()
    return incidents.as_dict(incident)


@bp.operation("/incidents/<uuid:incident_id>/match", "POST",
              "Match the incident's needs and surpluses and offer the pledges to their owners",
              response=MatchOut, problems=(403, 404, 409))
def match_incident(incident_id: uuid.UUID) -> Any:
    db = get_session()
    require_steward(db, require_member())
    proposals = incidents.match_incident(db, _app(), incident_id)
    db.commit()
    return {"proposals": len(proposals), "quantity": sum(p.quantity for p in proposals)}


@bp.operation("/incidents/<uuid:incident_id>/situation", "GET",
              "Needs against surpluses by category and area, unmet counts, pledges in flight, node lag",
              problems=(404,))
def incident_situation(incident_id: uuid.UUID) -> Any:
    require_member()
    return situation.situation(get_session(), _app(), incident_id)


@bp.operation("/incidents/<uuid:incident_id>/map.svg", "GET", "The incident's area coloured by unmet need",
              problems=(404,), content_type="image/svg+xml")
def incident_map(incident_id: uuid.UUID) -> Response:
    require_member()
    return Response(situation.map_svg(get_session(), _app(), incident_id), mimetype="image/svg+xml")


@bp.operation("/solidarity-requests", "GET", "Requests for support passed on by the federations",
              query=PageQuery)
def list_solidarity_requests(query: PageQuery) -> Any:
    db = get_session()
    require_member()
    rows, total = paginate(db, solidarity.listed(db), query)
    return page_of([solidarity.as_dict(row) for row in rows], total, query)


@bp.operation("/solidarity-requests", "POST",
              "Pass a request for support on to the member nodes (stewards of a federation node)",
              body=SolidarityIn, status=201, problems=(403, 422))
def pass_on_solidarity_request(body: SolidarityIn) -> Any:
    db = get_session()
    require_steward(db, require_member())
    wire = solidarity.SolidarityRequested(request_id=uuid.uuid4(), **body.model_dump(exclude_none=True))
    row = solidarity.pass_on(db, _app(), wire)
    db.commit()
    return solidarity.as_dict(row)


# --- take-overs of stalled pledges (federation/takeover.py) --------------------------------

class TakeoverIn(Input):
    owner: NodeId = Field(description="The node that owns the pledge's listing and decides")
    listing_id: uuid.UUID
    reason: Annotated[str, StringConstraints(max_length=300)] = ""


class NoteIn(Input):
    note: Annotated[str, StringConstraints(max_length=300)] = ""


class TakeoverOut(BaseModel):
    id: str
    pledge_id: str
    listing_id: str
    owner: str
    requester: str
    status: str
    reason: str
    decide_by: datetime | None
    new_pledge_id: str | None


@bp.operation("/pledges/<uuid:pledge_id>/takeover", "POST",
              "Ask the owning node to let this node take over a stalled pledge (stewards)",
              body=TakeoverIn, response=TakeoverOut, status=201, problems=(403, 422))
def request_takeover(pledge_id: uuid.UUID, body: TakeoverIn) -> Any:
    db = get_session()
    require_steward(db, require_member())
    row = takeover.request(db, _app(), body.owner, body.listing_id, pledge_id, body.reason)
    db.commit()
    return takeover.as_dict(row)


@bp.operation("/takeovers", "GET", "Take-over requests this node made or received (stewards)",
              query=PageQuery, response=Page[TakeoverOut], problems=(403,))
def list_takeovers(query: PageQuery) -> Any:
    db = get_session()
    require_steward(db, require_member())
    rows, total = paginate(db, select(takeover.Takeover).order_by(
        takeover.Takeover.requested_at.desc(), takeover.Takeover.id), query)
    return page_of([takeover.as_dict(row) for row in rows], total, query)


@bp.operation("/takeovers/<uuid:takeover_id>/approve", "POST",
              "Approve a take-over of a pledge against this node's listing (stewards)",
              response=TakeoverOut, problems=(403, 404, 409))
def approve_takeover(takeover_id: uuid.UUID) -> Any:
    db = get_session()
    require_steward(db, require_member())
    row = takeover.approve(db, _app(), takeover_id)
    db.commit()
    return takeover.as_dict(row)


@bp.operation("/takeovers/<uuid:takeover_id>/refuse", "POST",
              "Refuse a take-over, saying why (stewards)", body=NoteIn, response=TakeoverOut,
              problems=(403, 404, 409))
def refuse_takeover(takeover_id: uuid.UUID, body: NoteIn) -> Any:
    db = get_session()
    require_steward(db, require_member())
    row = takeover.refuse(db, _app(), takeover_id, body.note)
    db.commit()
    return takeover.as_dict(row)


@bp.operation("/pledges/<uuid:pledge_id>/progress", "POST",
              "Tell the owner an accepted pledge of this node is moving (stewards)", body=NoteIn,
              problems=(403, 404, 409))
def pledge_progress(pledge_id: uuid.UUID, body: NoteIn) -> Any:
    db = get_session()
    require_steward(db, require_member())
    pledge = takeover.report_progress(db, _app(), pledge_id, body.note)
    db.commit()
    return {"id": str(pledge.id), "status": pledge.status.value}


@bp.operation("/pledges/<uuid:pledge_id>/fulfil", "POST",
              "Record that a pledge against this node's listing was delivered (stewards)",
              problems=(403, 404, 409))
def fulfil_pledge(pledge_id: uuid.UUID) -> Any:
    db = get_session()
    require_steward(db, require_member())
    pledge = takeover.fulfil(db, _app(), pledge_id)
    db.commit()
    return {"id": str(pledge.id), "status": pledge.status.value}


def init_app(app: Any) -> None:
    """Serve the incidents API; the sweep matches live incidents (federation role only) and
    approves take-over requests nobody decided on in time."""
    from federation.sweep import register_job

    app.register_blueprint(bp)
    register_job("incident-matching", incidents.match_live)
    register_job("takeover-approval", takeover.approve_due)
