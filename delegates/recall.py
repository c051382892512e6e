"""Recall: by the assembly's own decision, or by a members' petition that opens a recall vote
once it reaches the threshold the assembly set. A recall is signed by the issuing node and
travels like any message; wherever it arrives, the delegate's votes on open proposals are
voided and every later act is refused."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from delegates import council, documents, trust
from delegates import mandate as mandates
from delegates.documents import RecallDoc
from delegates.errors import Refused
from delegates.models import Mandate, MandateStatus, PetitionSignature, PetitionStatus, RecallPetition
from federation import signing
from federation.identity import local_identity
from node.assemblies import service as assemblies
from node.assemblies.methods import Outcome
from node.assemblies.models import AssemblyStatus, Decision, Proposal, ProposalStatus
from node.db import utcnow
from node.errors import Conflict, FieldError, InvalidState, NotFound
from node.members.models import Member

RECALL_KIND = "recall"


# --- asking for a recall -----------------------------------------------------------------

def _recallable(db: Session, mandate: Mandate, app: Flask) -> None:
    if mandate.issuer != trust.local_id(app, db) or mandate.assembly_id is None:
        raise NotFound("only the node whose assembly issued a mandate can recall it")
    if mandate.status is MandateStatus.RECALLED:
        raise InvalidState("this mandate is already recalled")
    if mandate.expires_at <= utcnow():
        raise InvalidState("this mandate has already run out")


def propose_recall(
    db: Session, app: Flask, mandate: Mandate, member: Member, reason: str,
    closes_at: datetime | None = None, petition: RecallPetition | None = None,
) -> Proposal:
    """Put the recall of a delegate to the assembly that elected them, under its own method."""
    _recallable(db, mandate, app)
    assembly = mandates.assembly_of(db, mandate)
    if assembly.status is AssemblyStatus.CLOSED:
        raise InvalidState("the assembly that issued this mandate is closed; recall it in a new one")
    pending = db.scalars(select(Proposal).where(
        Proposal.kind == RECALL_KIND, Proposal.status == ProposalStatus.OPEN,
        Proposal.assembly_id == assembly.id,
    )).all()
    if any(p.payload.get("mandate") == str(mandate.id) for p in pending):
        raise Conflict("a recall vote on this mandate is already open")
    payload: dict[str, Any] = {"mandate": str(mandate.id), "reason": reason}
    if petition is not None:
        payload["petition"] = str(petition.id)
    return assemblies.create_proposal(
        db, assembly, member, f"Recall {mandate.delegate_handle}"[:120],
        f"Recall the mandate of {mandate.delegate_handle} to {mandate.federation}: {reason}",
        kind=RECALL_KIND, payload=payload, closes_at=closes_at,
    )


def open_petition(db: Session, app: Flask, mandate: Mandate, member: Member, reason: str) -> RecallPetition:
    """Open a recall petition, signed by the member who opens it."""
    _recallable(db, mandate, app)
    if db.scalar(select(RecallPetition.id).where(
        RecallPetition.mandate_id == mandate.id, RecallPetition.status == PetitionStatus.OPEN,
    )) is not None:
        raise Conflict("a petition to recall this delegate is already open: sign that one")
    assembly = mandates.assembly_of(db, mandate)
    petition = RecallPetition(
        mandate_id=mandate.id, reason=reason, opened_by_id=member.id,
        threshold=assemblies.recall_threshold(db, assembly),
    )
    db.add(petition)
    db.flush()
    said = f"{member.handle} opened a petition to recall {mandate.delegate_handle}: {reason}"
    assemblies.add_minute(db, assembly, "petition", said, member)
    sign_petition(db, app, petition, member)
    return petition


def sign_petition(db: Session, app: Flask, petition: RecallPetition, member: Member) -> RecallPetition:
    """Add the member's signature; at the threshold, the recall vote opens."""
    if petition.status is not PetitionStatus.OPEN:
        raise InvalidState(f"this petition is {petition.status.value}")
    try:
        with db.begin_nested():
            db.add(PetitionSignature(petition_id=petition.id, member_id=member.id))
    except IntegrityError:
        raise Conflict(
            "you have already signed this petition", [FieldError("petition", "already signed")]
        ) from None
    if signatures(db, petition) >= petition.threshold:
        mandate = db.get_one(Mandate, petition.mandate_id)
        proposal = propose_recall(db, app, mandate, member, petition.reason, petition=petition)
        petition.status, petition.triggered_at, petition.proposal_id = (
            PetitionStatus.TRIGGERED, utcnow(), proposal.id)
        db.flush()
    return petition


def signatures(db: Session, petition: RecallPetition) -> int:
    """How many members signed the petition."""
    stmt = select(func.count()).select_from(PetitionSignature).where(
        PetitionSignature.petition_id == petition.id)
    return int(db.scalar(stmt) or 0)


def get_petition(db: Session, petition_id: uuid.UUID) -> RecallPetition:
    """A petition, or a 404 problem."""
    petition = db.get(RecallPetition, petition_id)
    if petition is None:
        raise NotFound("no such petition")
    return petition


# --- recalling ---------------------------------------------------------------------------

def recall_by_decision(
    db: Session, app: Flask, mandate: Mandate, decision: Decision
) -> dict[str, Any] | None:
    """Recall a mandate as the assembly decided: sign the recall, void the delegate's votes on
    open proposals here, and announce it. Refused unless a passed recall decision of the
    assembly that issued the mandate names it."""
    backed = (
        decision.kind == RECALL_KIND and decision.outcome is Outcome.PASSED
        and decision.payload.get("mandate") == str(mandate.id) and decision.assembly_id == mandate.assembly_id
    )
    if not backed:
        raise Refused("recall-not-backed", "a recall needs a passed recall decision of the assembly "
                      "that issued the mandate", "recall")
    _recallable(db, mandate, app)
    now = utcnow()
    mandate.recall_decision_id = decision.id
    mandate.recall_reason = str(decision.payload.get("reason", ""))[:500]
    if mandate.credential is None:
        # Never issued, never announced: nobody else knows of it.
        mandate.status, mandate.recalled_at = MandateStatus.RECALLED, now
        db.flush()
        return None
    identity = local_identity(app, db)
    document = documents.recall_document(
        mandate_id=str(mandate.id), issuer=identity.node_id, federation=mandate.federation,
        decision=str(decision.id), reason=mandate.recall_reason, recalled=now,
    )
    signed = signing.sign(document, identity.key)
    _mark_recalled(db, mandate, signed, now)
    from federation.outbox import publish

    publish(db, app, "mandate.recalled", {"recall": signed, "mandate": mandates.credential_of(mandate)},
            audience=[mandate.federation])
    return signed


def accept_recall(db: Session, app: Flask, value: Any, credential: Any) -> str:
    """Apply a recall heard from the network: it must be signed by the node that issued the
    mandate and name the decision that backs it. Returns what it did."""
    doc = documents.parse(RecallDoc, value, "recall")
    mandate = mandates.accept_credential(db, app, credential)
    if str(mandate.id) != doc.mandate:
        raise Refused("wrong-mandate", "the recall names another mandate than the one sent with it", "recall")
    if doc.issuer != mandate.issuer or doc.federation != mandate.federation:
        raise Refused(
            "not-issuer", f"only {mandate.issuer}, which issued the mandate, can recall it", "recall"
        )
    trust.verify_by(db, app, value, doc.issuer, "recall")
    if mandate.status is MandateStatus.RECALLED:
        return "ignored: already recalled"
    _mark_recalled(db, mandate, value, utcnow())
    return "applied"


def _mark_recalled(
    db: Session, mandate: Mandate, recall: dict[str, Any], moment: datetime
) -> list[uuid.UUID]:
    mandate.status, mandate.recalled_at, mandate.recall = MandateStatus.RECALLED, moment, json.dumps(recall)
    mandate.recall_reason = str(recall.get("reason", ""))[:500]
    changed = council.void_acts(db, mandate, "the mandate was recalled", moment)
    _close_petitions(db, mandate)
    db.flush()
    return changed


def _close_petitions(db: Session, mandate: Mandate) -> None:
    for petition in db.scalars(select(RecallPetition).where(
        RecallPetition.mandate_id == mandate.id, RecallPetition.status == PetitionStatus.OPEN,
    )):
        petition.status = PetitionStatus.CLOSED
