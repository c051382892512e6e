"""A member's mandates and petition signatures in their export."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from delegates.models import Mandate, PetitionSignature, RecallPetition
from node.members.models import Member
from node.signals import member_exporting


def export_sections(db: Session, *, member: Member, sections: dict[str, Any], **_: Any) -> None:
    """Add the mandates the member held and the recall petitions they signed to their export."""
    held = db.scalars(select(Mandate).where(Mandate.member_id == member.id).order_by(Mandate.received_at))
    signed = db.execute(
        select(RecallPetition, PetitionSignature.signed_at)
        .join(PetitionSignature, PetitionSignature.petition_id == RecallPetition.id)
        .where(PetitionSignature.member_id == member.id).order_by(PetitionSignature.signed_at)
    ).all()
    sections["mandates"] = [
        {"id": str(m.id), "federation": m.federation, "status": m.status.value, "scope": m.scope,
         "public_key": m.public_key, "expires_at": m.expires_at.isoformat(),
         "recalled_at": m.recalled_at.isoformat() if m.recalled_at else None}
        for m in held
    ]
    sections["recall_petitions_signed"] = [
        {"petition_id": str(p.id), "mandate_id": str(p.mandate_id), "reason": p.reason,
         "signed_at": at.isoformat()}
        for p, at in signed
    ]


member_exporting.connect(export_sections)
