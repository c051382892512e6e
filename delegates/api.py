"""The delegates part of the JSON API: electing, keys, acts, reports, recall, the council."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

from flask import Flask, current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from delegates import council, documents, recall, schemas
from delegates import mandate as mandates
from delegates.models import Act, CouncilProposal, Mandate, MandateStatus, PetitionSignature
from node.api.operations import ApiBlueprint
from node.api.paging import Page, page_of, paginate
from node.assemblies import schemas as assembly_schemas
from node.assemblies import service as assemblies
from node.assemblies.api import proposal_out
from node.db import get_session, utcnow
from node.errors import FieldError, Forbidden, NotFound
from node.members.auth import require_member
from node.members.models import Member
from node.members.service import require_steward

bp = ApiBlueprint("delegates_api", __name__, tag="Delegates")


def _app() -> Flask:
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    return app


def mandate_out(mandate: Mandate, viewer: Member | None) -> schemas.MandateOut:
    """A mandate as members see it: the delegate by handle, the credential once issued."""
    return schemas.MandateOut(
        id=mandate.id, issuer=mandate.issuer, federation=mandate.federation,
        delegate=mandate.delegate_handle, public_key=mandate.public_key, scope=mandate.scope,
        positions=mandate.positions, status=mandate.status,
        live=mandate.status is MandateStatus.LIVE and mandate.expires_at > utcnow(),
        issued_at=mandate.issued_at, expires_at=mandate.expires_at, recalled_at=mandate.recalled_at,
        recall_reason=mandate.recall_reason, assembly_id=mandate.assembly_id, decision_id=mandate.decision_id,
        credential=json.loads(mandate.credential) if mandate.credential else None,
        mine=viewer is not None and mandate.member_id == viewer.id,
    )


# --- electing ----------------------------------------------------------------------------

@bp.operation("/assemblies/<uuid:assembly_id>/mandate-proposals", "POST",
              "Propose to elect a delegate with a mandate", body=schemas.MandateProposalIn,
              response=assembly_schemas.ProposalOut, status=201, problems=(404, 409, 422))
def propose_mandate(assembly_id: uuid.UUID, body: schemas.MandateProposalIn) -> Any:
    db, member = get_session(), require_member()
    assembly = assemblies.get_assembly(db, assembly_id)
    delegate = db.scalar(select(Member).where(Member.handle == body.delegate))
    if delegate is None:
        raise NotFound("no member with that handle", [FieldError("delegate", "unknown member")])
    text = body.text or f"Elect {delegate.handle} as delegate to {body.federation} for {body.term_days} days."
    proposal = mandates.propose_mandate(
        db, assembly, member, delegate, body.federation, scope=list(body.scope),
        positions=[documents.position_data(p) for p in body.positions],
        term_days=body.term_days, public_key=body.public_key,
        title=f"Delegate to the federation: {delegate.handle}"[:120], text=text, closes_at=body.closes_at,
    )
    db.commit()
    return proposal_out(db, proposal, member)


@bp.operation("/assemblies/<uuid:assembly_id>/delegate-candidates", "GET",
              "Members and whether term limits let them be elected now, fewest terms first",
              query=schemas.CandidateQuery, response=schemas.CandidatesOut, problems=(404,))
def candidates(assembly_id: uuid.UUID, query: schemas.CandidateQuery) -> Any:
    db = get_session()
    require_member()
    assembly = assemblies.get_assembly(db, assembly_id)
    items = []
    for member in db.scalars(select(Member).order_by(Member.handle)):
        why = mandates.eligibility(db, assembly, member, query.federation)
        since = utcnow() - timedelta(days=assembly.delegate_rotation_days)
        items.append(schemas.CandidateOut(
            handle=member.handle, terms_in_window=mandates.terms_served(db, assembly, member.id, since),
            eligible=why is None, why_not=why,
        ))
    items.sort(key=lambda c: (not c.eligible, c.terms_in_window, c.handle))
    db.commit()
    return schemas.CandidatesOut(items=items)


# --- mandates ----------------------------------------------------------------------------

@bp.operation("/mandates", "GET", "Mandates this node issued or heard of", query=schemas.MandateQuery,
              response=Page[schemas.MandateOut])
def list_mandates(query: schemas.MandateQuery) -> Any:
    db, member = get_session(), require_member()
    stmt = select(Mandate)
    if query.status:
        stmt = stmt.where(Mandate.status == query.status)
    if query.federation:
        stmt = stmt.where(Mandate.federation == query.federation)
    if query.mine:
        stmt = stmt.where(Mandate.member_id == member.id)
    rows, total = paginate(db, stmt.order_by(Mandate.received_at.desc(), Mandate.id), query)
    return page_of([mandate_out(r, member).model_dump(mode="json") for r in rows], total, query)


@bp.operation("/mandates/<uuid:mandate_id>", "GET", "One mandate", response=schemas.MandateOut,
              problems=(404,))
def get_mandate(mandate_id: uuid.UUID) -> Any:
    db, member = get_session(), require_member()
    return mandate_out(mandates.get_mandate(db, mandate_id), member)


@bp.operation("/mandates/<uuid:mandate_id>/key", "POST",
              "Register your key as the elected delegate, and receive the signed credential",
              body=schemas.KeyIn, response=schemas.KeyIssued, status=201, problems=(404, 409, 422))
def register_key(mandate_id: uuid.UUID, body: schemas.KeyIn) -> Any:
    db, member = get_session(), require_member()
    mandate, private_key = mandates.register_key(
        db, _app(), mandates.get_mandate(db, mandate_id), member, body.public_key)
    db.commit()
    return schemas.KeyIssued(mandate=mandate_out(mandate, member), private_key=private_key)


def _own_delegate(db: Session, mandate_id: uuid.UUID, member: Member) -> Mandate:
    mandate = mandates.get_mandate(db, mandate_id)
    if mandate.member_id != member.id:
        raise Forbidden("only the delegate holding this mandate may do this")
    return mandate


def act_out(act: Act, handles: dict[uuid.UUID, str]) -> schemas.ActOut:
    """An act as the council record shows it."""
    return schemas.ActOut(
        id=act.id, kind=act.kind, mandate_id=act.mandate_id, node=act.node,
        delegate=handles.get(act.mandate_id, ""), proposal_id=act.proposal_id, stance=act.stance,
        text=act.text, created=act.created, received_at=act.received_at,
        counted=act.kind == "vote" and act.voided_at is None, voided_at=act.voided_at,
        void_reason=act.void_reason,
    )


@bp.operation("/mandates/<uuid:mandate_id>/acts", "POST",
              "Send your signed vote, statement or proposal to the federation",
              body=schemas.ActIn, response=schemas.ActOut, status=201, problems=(403, 404, 422))
def submit_act(mandate_id: uuid.UUID, body: schemas.ActIn) -> Any:
    db, member = get_session(), require_member()
    mandate = _own_delegate(db, mandate_id, member)
    act = council.submit(db, _app(), mandate, body.act)
    if mandate.assembly_id is not None:
        assembly = mandates.assembly_of(db, mandate)
        what = f"{act.kind} {act.stance.value if act.stance else ''}".strip()
        said = f"{member.handle} as delegate: {what}. {act.text}".strip()
        assemblies.add_minute(db, assembly, "delegate", said, member)
    db.commit()
    return act_out(act, {mandate.id: mandate.delegate_handle})


@bp.operation("/mandates/<uuid:mandate_id>/reports", "POST", "Report back to the assembly as its delegate",
              body=schemas.ReportIn, response=assembly_schemas.MinuteOut, status=201, problems=(403, 404))
def report(mandate_id: uuid.UUID, body: schemas.ReportIn) -> Any:
    db, member = get_session(), require_member()
    mandate = _own_delegate(db, mandate_id, member)
    minute = assemblies.add_minute(db, mandates.assembly_of(db, mandate), "report", body.text, member)
    db.commit()
    return assembly_schemas.MinuteOut.model_validate(minute)


# --- recall ------------------------------------------------------------------------------

@bp.operation("/mandates/<uuid:mandate_id>/recall-proposals", "POST",
              "Propose to recall a delegate; the assembly decides by its own method",
              body=schemas.RecallIn, response=assembly_schemas.ProposalOut, status=201, problems=(404, 409))
def propose_recall(mandate_id: uuid.UUID, body: schemas.RecallIn) -> Any:
    db, member = get_session(), require_member()
    proposal = recall.propose_recall(db, _app(), mandates.get_mandate(db, mandate_id), member, body.reason,
                                     body.closes_at)
    db.commit()
    return proposal_out(db, proposal, member)


def petition_out(db: Session, petition: Any, viewer: Member) -> schemas.PetitionOut:
    """A petition with its count of signatures and whether the viewer signed it."""
    signed = db.scalar(select(PetitionSignature.id).where(
        PetitionSignature.petition_id == petition.id, PetitionSignature.member_id == viewer.id))
    return schemas.PetitionOut(
        id=petition.id, mandate_id=petition.mandate_id, reason=petition.reason, status=petition.status,
        signatures=recall.signatures(db, petition), threshold=petition.threshold,
        signed_by_me=signed is not None, proposal_id=petition.proposal_id, created_at=petition.created_at,
    )


@bp.operation("/mandates/<uuid:mandate_id>/petitions", "POST",
              "Open a petition for a recall vote (you sign it first)", body=schemas.PetitionIn,
              response=schemas.PetitionOut, status=201, problems=(404, 409))
def open_petition(mandate_id: uuid.UUID, body: schemas.PetitionIn) -> Any:
    db, member = get_session(), require_member()
    petition = recall.open_petition(db, _app(), mandates.get_mandate(db, mandate_id), member, body.reason)
    db.commit()
    return petition_out(db, petition, member)


@bp.operation("/petitions/<uuid:petition_id>", "GET", "One recall petition", response=schemas.PetitionOut,
              problems=(404,))
def get_petition(petition_id: uuid.UUID) -> Any:
    db, member = get_session(), require_member()
    return petition_out(db, recall.get_petition(db, petition_id), member)


@bp.operation("/petitions/<uuid:petition_id>/sign", "POST",
              "Sign a recall petition; at the threshold the recall vote opens",
              response=schemas.PetitionOut, problems=(404, 409))
def sign_petition(petition_id: uuid.UUID) -> Any:
    db, member = get_session(), require_member()
    petition = recall.sign_petition(db, _app(), recall.get_petition(db, petition_id), member)
    db.commit()
    return petition_out(db, petition, member)


# --- the council -------------------------------------------------------------------------

def council_out(db: Session, proposal: CouncilProposal) -> schemas.CouncilProposalOut:
    """A council proposal with the live count, its acts, and the decision once made."""
    stmt = select(Act).where(Act.proposal_id == proposal.id).order_by(Act.received_at, Act.id)
    acts = list(db.scalars(stmt))
    handles = dict(db.execute(select(Mandate.id, Mandate.delegate_handle).where(
        Mandate.id.in_({a.mandate_id for a in acts}))).all()) if acts else {}
    return schemas.CouncilProposalOut(
        id=proposal.id, federation=proposal.federation, title=proposal.title, text=proposal.text,
        topic=proposal.topic, method=proposal.method, quorum=proposal.quorum, status=proposal.status,
        opened_at=proposal.opened_at, closes_at=proposal.closes_at,
        proposed_by_node=proposal.proposed_by_node,
        tally=schemas.CouncilTally.model_validate(council.current_tally(db, proposal).as_dict()),
        outcome=proposal.outcome, decided_at=proposal.decided_at,
        decision=json.loads(proposal.decision) if proposal.decision else None,
        disagreement=proposal.disagreement, document=json.loads(proposal.document),
        acts=[act_out(a, handles) for a in acts],
    )


@bp.operation("/council/proposals", "GET", "Proposals before the councils of this node's federations",
              query=schemas.CouncilQuery, response=Page[schemas.CouncilProposalOut])
def list_council(query: schemas.CouncilQuery) -> Any:
    db = get_session()
    require_member()
    stmt = select(CouncilProposal)
    if query.status:
        stmt = stmt.where(CouncilProposal.status == query.status)
    rows, total = paginate(db, stmt.order_by(CouncilProposal.opened_at.desc(), CouncilProposal.id), query)
    return page_of([council_out(db, r).model_dump(mode="json") for r in rows], total, query)


@bp.operation("/council/proposals/<uuid:proposal_id>", "GET", "One council proposal with its acts and count",
              response=schemas.CouncilProposalOut, problems=(404,))
def get_council_proposal(proposal_id: uuid.UUID) -> Any:
    db = get_session()
    require_member()
    return council_out(db, council.get_proposal(db, proposal_id))


@bp.operation("/council/proposals", "POST", "Put a question to this federation's council (stewards)",
              body=schemas.CouncilProposalIn, response=schemas.CouncilProposalOut, status=201,
              problems=(403, 422))
def open_council_proposal(body: schemas.CouncilProposalIn) -> Any:
    db = get_session()
    require_steward(db, require_member())
    proposal = council.open_proposal(
        db, _app(), title=body.title, text=body.text, topic=body.topic, method=body.method,
        quorum_count=body.quorum_count, quorum_percent=body.quorum_percent,
        supermajority=(body.supermajority_num, body.supermajority_den), closes_at=body.closes_at,
    )
    db.commit()
    return council_out(db, proposal)


@bp.operation("/council/proposals/<uuid:proposal_id>/close", "POST",
              "Count and publish this federation's signed decision (stewards)",
              response=schemas.CouncilProposalOut, problems=(403, 404, 422))
def close_council_proposal(proposal_id: uuid.UUID) -> Any:
    db = get_session()
    require_steward(db, require_member())
    proposal = council.get_proposal(db, proposal_id)
    council.close(db, _app(), proposal)
    db.commit()
    return council_out(db, proposal)
