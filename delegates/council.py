"""Federation councils: proposals, delegates' acts checked against live mandates, the tally,
and the federation's signed decision.

Every node that hears the council's traffic (the federation and each member node) runs the
same checks on the same signed documents, so each keeps the same count: an act is accepted
only if its mandate is live (signed by a member node, not run out, not recalled), the act is
signed with the key the mandate binds, and it stays within the mandate's scope and positions.
A recall voids the recalled delegate's votes on open proposals wherever it arrives, before or
after the votes themselves, so the count does not depend on the order messages travel in. The
federation closes a proposal and publishes the result as a decision it signs.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import Flask
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from delegates import documents, trust
from delegates import mandate as mandates
from delegates.documents import ActDoc, DecisionDoc, ProposalDoc
from delegates.errors import Refused
from delegates.models import Act, CouncilProposal, CouncilStatus, Mandate
from federation import signing
from federation.envelope import CLOCK_SKEW
from federation.identity import local_identity
from federation.models import Peer, PeerStatus, Relation
from node.assemblies.methods import Method, Rules, Stance, Tally, required_quorum, stance_problem, tally
from node.db import utcnow
from node.errors import FieldError, NotFound, ValidationFailed


@dataclass(frozen=True)
class Submitted:
    """What a delegate's act travels with: the act, its mandate and, for votes and statements,
    the proposal (each signed by its own author, so any node can check all three)."""

    act: dict[str, Any]
    mandate: dict[str, Any]
    proposal: dict[str, Any] | None = None

    def body(self) -> dict[str, Any]:
        """The envelope body that carries the three documents."""
        value = {"act": self.act, "mandate": self.mandate}
        if self.proposal is not None:
            value["proposal"] = self.proposal
        return value


ENVELOPE_TYPE = {"vote": "vote.cast", "statement": "statement.made", "proposal": "proposal.submitted"}


# --- proposals ---------------------------------------------------------------------------

def open_proposal(
    db: Session, app: Flask, *, title: str, text: str, topic: str, method: Method,
    quorum_count: int = 1, quorum_percent: int = 50, supermajority: tuple[int, int] = (2, 3),
    closes_at: datetime | None = None, proposed_by: dict[str, str] | None = None,
) -> CouncilProposal:
    """At a federation: put a question to the council, sign it and announce it to the members."""
    from federation.outbox import publish

    if not trust.is_federation(app):
        raise ValidationFailed(
            "not a federation", [FieldError("role", "only a federation node has a council")]
        )
    identity = local_identity(app, db)
    now = utcnow()
    if closes_at is not None and closes_at <= now:
        raise ValidationFailed("closes in the past", [FieldError("closes_at", "must be in the future")])
    members = len(member_nodes(db))
    document: dict[str, Any] = {
        "v": documents.VERSION, "kind": "council.proposal", "id": documents.new_uuid(),
        "federation": identity.node_id, "title": title, "text": text, "topic": topic,
        "method": method.value, "quorum": required_quorum(quorum_count, quorum_percent, members),
        "supermajority": list(supermajority), "opened": documents.stamp(now),
    }
    if closes_at is not None:
        document["closes"] = documents.stamp(closes_at)
    if proposed_by is not None:
        document["proposed_by"] = proposed_by
    signed = signing.sign(document, identity.key)
    proposal = _store_proposal(db, documents.parse(ProposalDoc, signed, "proposal"), signed)
    publish(db, app, "proposal.opened", {"proposal": signed}, audience=[identity.node_id])
    return proposal


def member_nodes(db: Session) -> list[str]:
    """At a federation: its member nodes now."""
    stmt = select(Peer.id).where(Peer.relation == Relation.MEMBER, Peer.status == PeerStatus.ALLOWED)
    return list(db.scalars(stmt))


def accept_proposal(db: Session, app: Flask, value: Any) -> CouncilProposal:
    """Check a proposal signed by a federation this node belongs to, and record it once."""
    doc = documents.parse(ProposalDoc, value, "proposal")
    known = db.get(CouncilProposal, uuid.UUID(doc.id))
    if known is not None:
        if json.loads(known.document).get("sig") != doc.sig:
            raise Refused("proposal-conflict", f"another proposal with id {doc.id} is known", "proposal")
        return known
    trust.check_known_federation(db, app, doc.federation)
    trust.verify_by(db, app, value, doc.federation, "proposal")
    try:
        with db.begin_nested():
            return _store_proposal(db, doc, value)
    except IntegrityError:
        # Another transaction recorded it a moment ago (it came by two paths at once).
        return accept_proposal(db, app, value)


def _store_proposal(db: Session, doc: ProposalDoc, value: dict[str, Any]) -> CouncilProposal:
    proposal = CouncilProposal(
        id=uuid.UUID(doc.id), federation=doc.federation, title=doc.title, text=doc.text, topic=doc.topic,
        method=doc.method, quorum=doc.quorum, supermajority_num=doc.supermajority[0],
        supermajority_den=doc.supermajority[1], opened_at=documents.at(doc.opened),
        closes_at=documents.at(doc.closes) if doc.closes else None,
        proposed_by_node=doc.proposed_by.node if doc.proposed_by else None, document=json.dumps(value),
    )
    db.add(proposal)
    db.flush()
    return proposal


def get_proposal(db: Session, proposal_id: uuid.UUID) -> CouncilProposal:
    """A council proposal this node knows, or a 404 problem."""
    proposal = db.get(CouncilProposal, proposal_id)
    if proposal is None:
        raise NotFound("no such council proposal")
    return proposal


def _lock(db: Session, proposal_id: uuid.UUID) -> CouncilProposal | None:
    # Votes, recalls and closing of one proposal take turns on its row.
    stmt = (select(CouncilProposal).where(CouncilProposal.id == proposal_id).with_for_update()
            .execution_options(populate_existing=True))
    return db.scalars(stmt).one_or_none()


# --- acts --------------------------------------------------------------------------------

def receive_act(db: Session, app: Flask, submitted: Submitted, moment: datetime | None = None) -> Act:
    """Check a delegate's act with its mandate and proposal and record it, or Refused(reason).

    At the federation, a delegate's new proposal is opened as a council proposal."""
    moment = moment or utcnow()
    doc = documents.parse(ActDoc, submitted.act, "act")
    if db.get(Act, uuid.UUID(doc.id)) is not None:
        raise Refused("replayed-act", f"act {doc.id} was received before")
    mandate = _mandate_for(db, app, doc, submitted.mandate)
    _check_signed_by_delegate(submitted.act, mandate)
    mandates.check_live(mandate, moment)
    if documents.at(doc.created) > moment + CLOCK_SKEW:
        raise Refused("act-from-future", f"the act is dated {doc.created}, ahead of this node's clock")
    proposal = None
    if doc.act == "proposal":
        _check_topic(mandate, doc.topic or "")
    else:
        proposal = _proposal_for(db, app, doc, submitted.proposal, moment)
        check_within_mandate(mandate, proposal, doc)
    counted_key = f"{proposal.id}:{mandate.issuer}" if proposal and doc.act == "vote" else None
    if counted_key and db.scalar(select(Act.id).where(Act.counted_key == counted_key)) is not None:
        raise _already_voted(mandate)
    act = Act(
        id=uuid.UUID(doc.id), kind=doc.act, mandate_id=mandate.id, node=mandate.issuer,
        federation=doc.federation, proposal_id=proposal.id if proposal else None, stance=doc.stance,
        text=doc.text if doc.act != "proposal" else f"{doc.title}: {doc.text}",
        document=json.dumps(submitted.act), created=documents.at(doc.created), received_at=moment,
        counted_key=counted_key,
    )
    try:
        with db.begin_nested():
            db.add(act)
    except IntegrityError:
        raise _already_voted(mandate) if act.counted_key else Refused(
            "replayed-act", f"act {doc.id} was received before") from None
    if doc.act == "proposal" and trust.is_federation(app) and doc.federation == trust.local_id(app, db):
        _open_from_act(db, app, doc, mandate)
    return act


def _mandate_for(db: Session, app: Flask, doc: ActDoc, credential: Any) -> Mandate:
    accepted = mandates.accept_credential(db, app, credential)
    # Locked, so that a recall committing meanwhile is seen (see `void_acts`).
    mandate = db.get(Mandate, accepted.id, with_for_update=True, populate_existing=True) or accepted
    if str(mandate.id) != doc.mandate:
        raise Refused("wrong-mandate", f"the act names mandate {doc.mandate}, not the one sent with it")
    if doc.federation != mandate.federation:
        raise Refused(
            "wrong-federation", f"the mandate is for {mandate.federation}, the act for {doc.federation}"
        )
    return mandate


def _check_signed_by_delegate(act: dict[str, Any], mandate: Mandate) -> None:
    if mandate.public_key is None:
        raise Refused("mandate-not-issued", "the mandate binds no key yet", "mandate")
    try:
        signing.verify(act, mandate.public_key)
    except signing.SignatureError:
        raise Refused("wrong-key", "the act is not signed with the key its mandate binds") from None


def _proposal_for(db: Session, app: Flask, doc: ActDoc, value: Any, moment: datetime) -> CouncilProposal:
    if value is not None:
        accept_proposal(db, app, value)
    proposal = _lock(db, uuid.UUID(doc.proposal or ""))
    if proposal is None:
        raise Refused("unknown-proposal", f"proposal {doc.proposal} is not known here")
    if proposal.federation != doc.federation:
        raise Refused("wrong-federation", "the proposal is before another federation's council")
    if proposal.status is not CouncilStatus.OPEN or (proposal.closes_at and proposal.closes_at <= moment):
        raise Refused("proposal-closed", f"proposal {proposal.id} is no longer open")
    return proposal


def position_for(mandate: Mandate, proposal: CouncilProposal) -> dict[str, Any] | None:
    """The position the assembly gave on this proposal: one naming it, else one on its topic."""
    by_proposal = [p for p in mandate.positions if p.get("proposal") == str(proposal.id)]
    by_topic = [p for p in mandate.positions if p.get("topic") == proposal.topic]
    found = by_proposal or by_topic
    return found[0] if found else None


def check_within_mandate(mandate: Mandate, proposal: CouncilProposal, doc: ActDoc) -> None:
    """Refuse an act outside the mandate's scope, or a vote against the positions it carries."""
    position = position_for(mandate, proposal)
    if position is None and proposal.topic not in mandate.scope:
        raise Refused("out-of-scope", f"the mandate covers {', '.join(mandate.scope)}, not {proposal.topic}")
    if doc.act != "vote" or doc.stance is None:
        return
    problem = stance_problem(proposal.method, doc.stance, doc.text)
    if problem:
        raise Refused("stance-not-allowed", problem)
    if position is None:
        return  # within scope, no stated position: the delegate's judgement
    if position["stance"] == "free":
        allowed = position.get("allowed") or []
        if allowed and doc.stance.value not in allowed:
            raise Refused("against-mandate", f"the mandate leaves a free choice among {', '.join(allowed)}")
    elif doc.stance.value != position["stance"]:
        raise Refused("against-mandate", f"the mandate says {position['stance']} on this proposal")


def _check_topic(mandate: Mandate, topic: str) -> None:
    if topic not in mandate.scope:
        raise Refused("out-of-scope", f"the mandate covers {', '.join(mandate.scope)}, not {topic}")


def _already_voted(mandate: Mandate) -> Refused:
    return Refused("already-voted", f"a delegate of {mandate.issuer} has already voted on this proposal")


def _open_from_act(db: Session, app: Flask, doc: ActDoc, mandate: Mandate) -> None:
    settings = app.config["MUTUALAID"]
    open_proposal(
        db, app, title=doc.title or "", text=doc.text, topic=doc.topic or "",
        method=Method(settings.council_method), quorum_percent=settings.council_quorum_percent,
        proposed_by={"node": mandate.issuer, "mandate": str(mandate.id), "act": doc.id},
    )


def void_acts(db: Session, mandate: Mandate, reason: str, moment: datetime) -> list[uuid.UUID]:
    """Void the mandate's acts on proposals still open; returns the proposals whose count changed.

    The caller has changed the mandate's row already; flushing it first makes a vote racing
    the recall wait on that row, so the vote is either refused or seen here and voided."""
    db.flush()
    candidates = set(db.scalars(select(Act.proposal_id).where(
        Act.mandate_id == mandate.id, Act.voided_at.is_(None), Act.proposal_id.is_not(None),
    )))
    still_open = []
    for proposal_id in sorted(candidates, key=str):  # one lock order: no deadlocks between recalls
        locked = _lock(db, proposal_id) if proposal_id else None
        if locked is not None and locked.status is CouncilStatus.OPEN:
            still_open.append(locked.id)
    acts = list(db.scalars(select(Act).where(
        Act.mandate_id == mandate.id, Act.voided_at.is_(None), Act.proposal_id.in_(still_open),
    )))
    for act in acts:
        act.voided_at, act.void_reason, act.counted_key = moment, reason, None
    db.flush()
    return sorted({a.proposal_id for a in acts if a.proposal_id and a.kind == "vote"}, key=str)


# --- counting and deciding ---------------------------------------------------------------

def rules_of(proposal: CouncilProposal) -> Rules:
    """The proposal's decision rules, as the federation signed them."""
    return Rules(method=proposal.method, quorum=proposal.quorum,
                 supermajority=(proposal.supermajority_num, proposal.supermajority_den))


def counted_votes(db: Session, proposal: CouncilProposal) -> list[Act]:
    """The votes that count now: one per member node, none of a recalled mandate."""
    stmt = select(Act).where(
        Act.proposal_id == proposal.id, Act.kind == "vote", Act.voided_at.is_(None),
    ).order_by(Act.received_at, Act.id)
    return list(db.scalars(stmt))


def current_tally(db: Session, proposal: CouncilProposal) -> Tally:
    """The count of the counted votes under the proposal's rules."""
    return tally(rules_of(proposal), [Stance(a.stance) for a in counted_votes(db, proposal) if a.stance])


def close(db: Session, app: Flask, proposal: CouncilProposal) -> dict[str, Any]:
    """At the federation: count, sign the decision and publish it to every member node."""
    from federation.outbox import publish

    identity = local_identity(app, db)
    if proposal.federation != identity.node_id:
        raise ValidationFailed("not ours", [FieldError("proposal", "only its federation closes a proposal")])
    locked = _lock(db, proposal.id)
    if locked is None or locked.status is not CouncilStatus.OPEN:
        raise Refused("proposal-closed", f"proposal {proposal.id} is already decided", "proposal")
    result = current_tally(db, proposal)
    voided = db.scalars(select(Act.id).where(
        Act.proposal_id == proposal.id, Act.kind == "vote", Act.voided_at.is_not(None)))
    now = utcnow()
    document = {
        "v": documents.VERSION, "kind": "council.decision", "id": documents.new_uuid(),
        "federation": identity.node_id, "proposal": str(proposal.id), "outcome": result.outcome.value,
        "counts": result.counts, "participants": result.participants, "quorum": result.quorum,
        "explanation": result.explanation, "counted": sorted(str(a.id) for a in counted_votes(db, proposal)),
        "voided": sorted(str(i) for i in voided), "decided": documents.stamp(now),
    }
    signed = signing.sign(document, identity.key)
    _record_decision(proposal, documents.parse(DecisionDoc, signed, "decision"), signed)
    db.flush()
    publish(db, app, "decision.published", {"decision": signed, "proposal": json.loads(proposal.document)},
            audience=[identity.node_id])
    return signed


def accept_decision(db: Session, app: Flask, value: Any, proposal_value: Any) -> CouncilProposal:
    """At a member node: record the federation's signed decision, noting if our count differs."""
    doc = documents.parse(DecisionDoc, value, "decision")
    proposal = accept_proposal(db, app, proposal_value)
    if str(proposal.id) != doc.proposal or proposal.federation != doc.federation:
        raise Refused("wrong-proposal", "the decision is about another proposal", "decision")
    trust.verify_by(db, app, value, doc.federation, "decision")
    locked = _lock(db, proposal.id)
    assert locked is not None
    if locked.status is CouncilStatus.DECIDED:
        return locked
    ours = current_tally(db, locked)
    mine = sorted(str(a.id) for a in counted_votes(db, locked))
    if ours.outcome.value != doc.outcome or mine != sorted(doc.counted):
        locked.disagreement = (f"this node counted {ours.outcome.value} with {len(mine)} vote(s); "
                               f"the federation counted {doc.outcome} with {len(doc.counted)}")[:300]
    _record_decision(locked, doc, value)
    db.flush()
    return locked


def _record_decision(proposal: CouncilProposal, doc: DecisionDoc, value: dict[str, Any]) -> None:
    proposal.status, proposal.outcome = CouncilStatus.DECIDED, doc.outcome
    proposal.counts, proposal.decided_at = dict(doc.counts), documents.at(doc.decided)
    proposal.decision = json.dumps(value)


def close_due(db: Session, app: Flask) -> int:
    """At a federation: close every proposal whose time is over; returns how many."""
    if not trust.is_federation(app):
        return 0
    now = utcnow()
    due = db.scalars(select(CouncilProposal).where(
        CouncilProposal.status == CouncilStatus.OPEN, CouncilProposal.closes_at <= now,
        CouncilProposal.federation == trust.local_id(app, db),
    )).all()
    for proposal in due:
        close(db, app, proposal)
    return len(due)


# --- a delegate acting through their own node --------------------------------------------

def submit(db: Session, app: Flask, mandate: Mandate, value: Any) -> Act:
    """Check the act of one of this node's delegates here first, then send it to the
    federation with its credential (and proposal) in one envelope."""
    from federation.outbox import publish

    doc = documents.parse(ActDoc, value, "act")
    proposal_doc = None
    if doc.proposal is not None:
        known = db.get(CouncilProposal, uuid.UUID(doc.proposal))
        if known is None:
            raise Refused("unknown-proposal", f"proposal {doc.proposal} is not known here")
        proposal_doc = json.loads(known.document)
    submitted = Submitted(value, mandates.credential_of(mandate), proposal_doc)
    act = receive_act(db, app, submitted)
    publish(db, app, ENVELOPE_TYPE[doc.act], submitted.body(), audience=[mandate.federation])
    return act
