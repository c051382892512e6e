"""A member's part in assemblies in their export, and what erasing them leaves in the record."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from node.assemblies.models import Minute, Position, Proposal
from node.members.models import Member
from node.signals import member_erasing, member_exporting


def export_sections(db: Session, *, member: Member, sections: dict[str, Any], **_: Any) -> None:
    """Add the member's proposals, positions and notes to their export."""
    proposals = db.scalars(
        select(Proposal).where(Proposal.proposed_by_id == member.id).order_by(Proposal.opened_at, Proposal.id)
    )
    positions = db.scalars(
        select(Position).where(Position.member_id == member.id).order_by(Position.cast_at, Position.id)
    )
    notes = db.scalars(
        select(Minute).where(Minute.author_id == member.id, Minute.kind == "note").order_by(Minute.id)
    )
    sections["assembly_proposals"] = [
        {"id": str(p.id), "assembly_id": str(p.assembly_id), "kind": p.kind, "title": p.title,
         "text": p.text, "status": p.status.value, "opened_at": p.opened_at.isoformat()}
        for p in proposals
    ]
    sections["assembly_positions"] = [
        {"proposal_id": str(p.proposal_id), "version": p.version, "stance": p.stance.value,
         "reason": p.reason, "cast_at": p.cast_at.isoformat()}
        for p in positions
    ]
    sections["assembly_notes"] = [
        {"assembly_id": str(m.assembly_id), "text": m.text, "at": m.at.isoformat()} for m in notes
    ]


def unname_before_erase(db: Session, *, member: Member, **_: Any) -> None:
    """Keep the minutes (they are the assembly's record) but no longer name the member."""
    db.execute(
        update(Minute).where(Minute.author_id == member.id).values(author_id=None, author_handle=None)
    )


member_exporting.connect(export_sections)
member_erasing.connect(unname_before_erase)
