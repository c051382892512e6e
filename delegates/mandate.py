"""Mandates: electing a delegate by an assembly decision, the signed credential that binds the
delegate's own key, and recording the credentials other nodes issue.

The credential is signed by the issuing node with its node key. It binds a key whose private
half only the delegate holds: either the delegate generated it and registered the public half,
or the node generated it, handed the private half over once, and kept only the public half.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from typing import Any

from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from delegates import documents, trust
from delegates.documents import MandateDoc
from delegates.errors import Refused
from delegates.models import Mandate, MandateStatus
from federation import signing
from federation.envelope import CLOCK_SKEW
from federation.identity import local_identity
from federation.models import Peer, PeerStatus, Relation
from node.assemblies import service as assemblies
from node.assemblies.models import Assembly, Decision, Proposal
from node.assemblies.service import add_minute
from node.db import utcnow
from node.errors import Conflict, FieldError, NotFound, ValidationFailed
from node.members.models import Member

MANDATE_KIND = "mandate"


# --- electing ----------------------------------------------------------------------------

def check_federation(db: Session, federation: str) -> None:
    """Refuse a federation this node is not a member of."""
    peer = db.get(Peer, federation)
    if peer is None or peer.relation != Relation.FEDERATION or peer.status != PeerStatus.ALLOWED:
        raise ValidationFailed(
            "not a federation of this node", [FieldError("federation", "this node is not a member of it")]
        )


def terms_served(db: Session, assembly: Assembly, member_id: uuid.UUID, since: datetime) -> int:
    """Mandates the assembly gave the member since a moment (recalled ones count too)."""
    stmt = select(func.count()).select_from(Mandate).where(
        Mandate.assembly_id == assembly.id, Mandate.member_id == member_id, Mandate.received_at >= since,
    )
    return int(db.scalar(stmt) or 0)


def eligibility(db: Session, assembly: Assembly, member: Member, federation: str) -> str | None:
    """Why the member cannot be elected delegate to the federation now, or None.

    Term limits with rotation: at most `delegate_max_terms` mandates within
    `delegate_rotation_days`, and one live mandate to a federation at a time."""
    now = utcnow()
    since = now - timedelta(days=assembly.delegate_rotation_days)
    served = terms_served(db, assembly, member.id, since)
    if served >= assembly.delegate_max_terms:
        return (f"{member.handle} has held {served} mandate(s) in the last {assembly.delegate_rotation_days} "
                f"days; this assembly allows {assembly.delegate_max_terms}: delegation rotates")
    live = db.scalar(select(Mandate.id).where(
        Mandate.member_id == member.id, Mandate.federation == federation,
        Mandate.status != MandateStatus.RECALLED, Mandate.expires_at > now,
    ).limit(1))
    if live is not None:
        return f"{member.handle} already holds a live mandate to this federation"
    return None


def propose_mandate(
    db: Session, assembly: Assembly, proposer: Member, delegate: Member, federation: str, *,
    scope: list[str], positions: list[dict[str, Any]], term_days: int, public_key: str | None,
    title: str, text: str, closes_at: datetime | None,
) -> Proposal:
    """Put the election of a delegate with a mandate to the assembly."""
    check_federation(db, federation)
    if term_days > assembly.delegate_term_days:
        raise ValidationFailed("term too long", [FieldError(
            "term_days", f"this assembly gives mandates of at most {assembly.delegate_term_days} days")])
    problem = eligibility(db, assembly, delegate, federation)
    if problem:
        raise ValidationFailed("not eligible", [FieldError("delegate", problem)])
    payload: dict[str, Any] = {
        "delegate": delegate.handle, "member_id": str(delegate.id), "federation": federation,
        "scope": scope, "positions": positions, "term_days": term_days,
    }
    if public_key:
        payload["public_key"] = public_key
    return assemblies.create_proposal(
        db, assembly, proposer, title, text, kind=MANDATE_KIND, payload=payload, closes_at=closes_at,
    )


def elect(db: Session, app: Flask, decision: Decision, assembly: Assembly) -> Mandate | None:
    """A passed mandate decision: record the mandate, and issue it if the key is known."""
    payload = decision.payload
    member = db.get(Member, uuid.UUID(payload["member_id"]))
    if member is None:
        add_minute(db, assembly, "mandate", "No mandate issued: the elected member has left the node")
        return None
    problem = eligibility(db, assembly, member, payload["federation"])
    if problem:
        add_minute(db, assembly, "mandate", f"No mandate issued: {problem}")
        return None
    mandate = Mandate(
        id=uuid.uuid4(), issuer=trust.local_id(app, db), federation=payload["federation"],
        delegate_handle=member.handle, scope=list(payload["scope"]), positions=list(payload["positions"]),
        status=MandateStatus.AWAITING_KEY,
        expires_at=decision.decided_at + timedelta(days=payload["term_days"]),
        assembly_id=assembly.id, decision_id=decision.id, member_id=member.id,
    )
    db.add(mandate)
    db.flush()
    if payload.get("public_key"):
        issue(db, app, mandate, payload["public_key"])
    add_minute(
        db, assembly, "mandate",
        f"{member.handle} elected delegate to {payload['federation']} until "
        f"{mandate.expires_at:%Y-%m-%d}" + ("" if mandate.credential else "; the mandate is issued once "
                                            "the delegate registers a key"),
    )
    return mandate


# --- the credential ----------------------------------------------------------------------

def register_key(
    db: Session, app: Flask, mandate: Mandate, member: Member, public_key: str | None
) -> tuple[Mandate, str | None]:
    """Bind the delegate's key and issue the credential. Without a public key, make a key pair
    and return its private half: the only time it exists outside the delegate's hands."""
    if mandate.member_id != member.id:
        raise NotFound("no such mandate of yours")
    if mandate.status is not MandateStatus.AWAITING_KEY:
        raise Conflict("this mandate already has its key", [FieldError("public_key", "already registered")])
    if mandate.expires_at <= utcnow():
        raise Conflict("this mandate has run out", [FieldError("public_key", "the term is over")])
    private_text = None
    if public_key is None:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        key = Ed25519PrivateKey.generate()
        public_key = signing.public_key_text(key)
        private_text = signing.b64encode(key.private_bytes_raw())
    else:
        try:
            signing.load_public_key(public_key)
        except ValueError as exc:
            raise ValidationFailed("not a key", [FieldError("public_key", str(exc))]) from None
    issue(db, app, mandate, public_key)
    return mandate, private_text


def issue(db: Session, app: Flask, mandate: Mandate, public_key: str) -> dict[str, Any]:
    """Sign the credential binding the key, record it and announce it to the federation."""
    from federation.outbox import publish

    identity = local_identity(app, db)
    now = utcnow()
    document = documents.mandate_document(
        mandate_id=str(mandate.id), issuer=identity.node_id, federation=mandate.federation,
        delegate=mandate.delegate_handle, key=public_key, scope=mandate.scope,
        positions=mandate.positions, issued=now, expires=mandate.expires_at,
        decision=str(mandate.decision_id),
    )
    signed = signing.sign(document, identity.key)
    documents.parse(MandateDoc, signed, "mandate")  # what we send must pass our own checks
    mandate.public_key, mandate.issued_at = public_key, now
    mandate.credential, mandate.status = json.dumps(signed), MandateStatus.LIVE
    db.flush()
    publish(db, app, "mandate.issued", {"mandate": signed}, audience=[mandate.federation])
    return signed


def credential_of(mandate: Mandate) -> dict[str, Any]:
    """The signed credential of a live or recalled mandate."""
    if mandate.credential is None:
        raise Refused("mandate-not-issued", "the delegate has not registered a key yet", "mandate")
    value: dict[str, Any] = json.loads(mandate.credential)
    return value


# --- credentials of other nodes ----------------------------------------------------------

def accept_credential(db: Session, app: Flask, value: Any) -> Mandate:
    """Check a credential (well formed, of a federation we belong to, signed by a member node
    of it) and record it; the same credential again is harmless."""
    doc = documents.parse(MandateDoc, value, "mandate")
    known = db.get(Mandate, uuid.UUID(doc.id))
    if known is not None and known.credential is not None:
        if json.loads(known.credential).get("sig") != doc.sig:
            raise Refused("mandate-conflict", f"another credential with id {doc.id} is known", "mandate")
        return known
    trust.check_known_federation(db, app, doc.federation)
    trust.check_member_node(db, app, doc.issuer, doc.federation)
    trust.verify_by(db, app, value, doc.issuer, "mandate")
    mandate = Mandate(
        id=uuid.UUID(doc.id), issuer=doc.issuer, federation=doc.federation, delegate_handle=doc.delegate,
        public_key=doc.key, scope=list(doc.scope),
        positions=[documents.position_data(p) for p in doc.positions],
        status=MandateStatus.LIVE, issued_at=documents.at(doc.issued), expires_at=documents.at(doc.expires),
        credential=json.dumps(value),
    )
    try:
        with db.begin_nested():
            db.add(mandate)
    except IntegrityError:
        # Another transaction recorded it a moment ago (it came by two paths at once).
        return accept_credential(db, app, value)
    return mandate


def check_live(mandate: Mandate, moment: datetime) -> None:
    """Refuse unless the mandate is live at `moment`: issued, not run out, not recalled."""
    if mandate.status is MandateStatus.RECALLED:
        when = f" at {documents.stamp(mandate.recalled_at)}" if mandate.recalled_at else ""
        raise Refused("mandate-recalled", f"mandate {mandate.id} was recalled{when}", "mandate")
    if mandate.status is MandateStatus.AWAITING_KEY or mandate.issued_at is None:
        raise Refused("mandate-not-issued", "the delegate has not registered a key yet", "mandate")
    if mandate.expires_at <= moment:
        raise Refused("mandate-expired", f"mandate {mandate.id} ran out at "
                      f"{documents.stamp(mandate.expires_at)}", "mandate")
    if mandate.issued_at > moment + CLOCK_SKEW:
        raise Refused("mandate-not-yet-valid", f"mandate {mandate.id} is issued in the future", "mandate")


def get_mandate(db: Session, mandate_id: uuid.UUID) -> Mandate:
    """A mandate this node knows, or a 404 problem."""
    mandate = db.get(Mandate, mandate_id)
    if mandate is None:
        raise NotFound("no such mandate")
    return mandate


def assembly_of(db: Session, mandate: Mandate) -> Assembly:
    """The assembly that issued one of this node's own mandates."""
    if mandate.assembly_id is None:
        raise NotFound("this mandate was not issued by an assembly of this node")
    return db.get_one(Assembly, mandate.assembly_id)
