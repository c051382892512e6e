"""The transparency ledger (plan 3.5): what came into and went out of each project.

Every member of the node may read it; a project may make its totals public. Entries are never
changed: a mistake is put right by a correction, a new entry that names the one it replaces.
Both stay readable; totals count the correction instead of the entry it replaces.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from node.db import utcnow
from node.errors import Conflict, FieldError, NotFound, ValidationFailed
from node.members.models import Member
from node.projects.models import Direction, LedgerEntry, Project


def record(
    db: Session, project: Project, member: Member | None, direction: Direction, kind: str, quantity: float,
    unit: str, description: str = "", occurred_at: datetime | None = None, corrects: uuid.UUID | None = None,
) -> LedgerEntry:
    """Add one entry to the project's ledger."""
    entry = LedgerEntry(project_id=project.id, direction=direction, kind=kind, quantity=quantity, unit=unit,
                        description=description, occurred_at=occurred_at or utcnow(),
                        recorded_by_id=member.id if member else None, corrects_id=corrects)
    db.add(entry)
    db.flush()
    return entry


def check_kind(project: Project, kind: str) -> None:
    """Refuse a kind the project does not keep (the working group can add kinds)."""
    if kind not in project.ledger_kinds:
        raise ValidationFailed("unknown ledger kind", [FieldError(
            "kind",
            f"this project records {', '.join(project.ledger_kinds)}; add '{kind}' to its ledger kinds"
        )])


def correction_target(db: Session, project: Project, entry_id: uuid.UUID) -> LedgerEntry:
    """The entry a correction replaces: in the same project and not corrected before."""
    entry = db.get(LedgerEntry, entry_id)
    if entry is None or entry.project_id != project.id:
        raise NotFound("no such entry", [FieldError("corrects", "not an entry of this project's ledger")])
    if db.scalar(select(LedgerEntry.id).where(LedgerEntry.corrects_id == entry.id)) is not None:
        raise Conflict("already corrected", [FieldError("corrects", "this entry was already corrected")])
    return entry


def totals(db: Session, project: Project, since: datetime | None = None,
           until: datetime | None = None) -> list[dict[str, Any]]:
    """Sums per direction, kind and unit, counting corrections instead of what they replace."""
    replaced = select(LedgerEntry.corrects_id).where(LedgerEntry.corrects_id.is_not(None))
    stmt = (
        select(LedgerEntry.direction, LedgerEntry.kind, LedgerEntry.unit, func.sum(LedgerEntry.quantity),
               func.count())
        .where(LedgerEntry.project_id == project.id, LedgerEntry.id.not_in(replaced))
        .group_by(LedgerEntry.direction, LedgerEntry.kind, LedgerEntry.unit)
        .order_by(LedgerEntry.kind, LedgerEntry.unit, LedgerEntry.direction)
    )
    if since is not None:
        stmt = stmt.where(LedgerEntry.occurred_at >= since)
    if until is not None:
        stmt = stmt.where(LedgerEntry.occurred_at < until)
    return [
        {"direction": Direction(direction).value, "kind": kind, "unit": unit,
         "quantity": round(float(total), 4), "entries": int(entries)}
        for direction, kind, unit, total, entries in db.execute(stmt).all()
    ]
