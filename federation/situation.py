"""The situation of an incident: needs against surpluses by category and area, what is still
unmet, pledges in flight and how far behind each node is, as JSON and as a map picture."""

from __future__ import annotations

import uuid
from collections import defaultdict
from typing import Any

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from federation import incidents
from federation.envelope import now
from federation.models import Pledge, PledgeStatus
from federation.outbox import peer_health
from federation.relief.areamap import render_svg, unmet_counts
from federation.relief.matching import MatchResult, Posting, match

IN_FLIGHT = (PledgeStatus.OFFERED, PledgeStatus.ACCEPTED)


def _picture(db: Session, app: Flask, incident: incidents.Incident) -> tuple[list[Posting], list[Posting],
                                                                              MatchResult]:
    from federation.identity import local_identity

    moment = now()
    needs = [incidents.posting(row) for row in incidents.area_listings(db, incident, "need")]
    surpluses = [incidents.posting(row) for row in incidents.area_listings(db, incident, "surplus")]
    held = incidents.holds(db, local_identity(app, db).node_id, moment)
    return needs, surpluses, match(needs, surpluses, now=moment, holds=held)


def situation(db: Session, app: Flask, incident_id: uuid.UUID) -> dict[str, Any]:
    """Everything the situation view shows of one incident this node knows of."""
    incident = _known(db, incident_id)
    needs, surpluses, result = _picture(db, app, incident)
    by_category: dict[str, dict[str, float]] = defaultdict(
        lambda: {"needs": 0, "needed": 0.0, "surpluses": 0, "available": 0.0, "unmet_needs": 0, "unmet": 0.0}
    )
    by_cell: dict[str, dict[str, float]] = defaultdict(lambda: {"needs": 0, "surpluses": 0, "unmet_needs": 0})
    for need in needs:
        row, cell = by_category[need.category], by_cell[need.cell]
        row["needs"] += 1
        row["needed"] += need.quantity
        cell["needs"] += 1
        missing = result.unmet.get(need.gid, 0.0)
        if missing > 0:
            row["unmet_needs"] += 1
            row["unmet"] += missing
            cell["unmet_needs"] += 1
    for surplus in surpluses:
        row = by_category[surplus.category]
        row["surpluses"] += 1
        row["available"] += surplus.quantity
        by_cell[surplus.cell]["surpluses"] += 1
    pledges = _pledges(db, incident)
    return {
        "incident": incidents.as_dict(incident),
        "needs": len(needs),
        "surpluses": len(surpluses),
        "unmet_needs": sum(1 for need in needs if result.unmet.get(need.gid, 0.0) > 0),
        "by_category": {key: by_category[key] for key in sorted(by_category)},
        "by_cell": {key: by_cell[key] for key in sorted(by_cell)},
        "pledges_in_flight": pledges,
        "proposals_waiting": len(result.proposals),
        "nodes": _lag(db, app, {p.node for p in needs} | {p.node for p in surpluses}),
    }


def map_svg(db: Session, app: Flask, incident_id: uuid.UUID) -> str:
    """The incident's area as an SVG map coloured by unmet need per cell."""
    incident = _known(db, incident_id)
    needs, _, result = _picture(db, app, incident)
    counts: dict[str, float] = {cell: 0 for cell in incident.cells}
    counts.update(unmet_counts(needs, result.unmet))
    return render_svg(counts, title=f"Unmet need: {incident.title}",
                      id_prefix=f"incident-{incident.id.hex[:8]}")


def _known(db: Session, incident_id: uuid.UUID) -> incidents.Incident:
    from node.errors import NotFound

    incident = db.get(incidents.Incident, incident_id)
    if incident is None:
        raise NotFound("no such incident")
    return incident


def _pledges(db: Session, incident: incidents.Incident) -> dict[str, Any]:
    rows = db.scalars(select(Pledge).where(Pledge.note.startswith(f"incident {incident.id} ")))
    counts = {status.value: 0 for status in PledgeStatus}
    quantity = 0.0
    for row in rows:
        counts[row.status.value] += 1
        if row.status in IN_FLIGHT:
            quantity += row.quantity
    return {"by_status": counts, "in_flight": counts["offered"] + counts["accepted"], "quantity": quantity}


def _lag(db: Session, app: Flask, nodes: set[str]) -> list[dict[str, Any]]:
    # Direct peers show their queue here; nodes reached through another federation show none.
    report = peer_health(db, app.config["MUTUALAID"])
    rows = []
    for node in sorted(nodes | set(report)):
        health = report.get(node)
        rows.append({"node": node, "direct": health is not None,
                     "health": health.health.value if health else None,
                     "pending": health.pending if health else None,
                     "oldest_pending_age": health.oldest_pending_age if health else None,
                     "last_success_at": health.last_success_at.isoformat()
                     if health and health.last_success_at else None})
    return rows
