"""What members can do, as plain functions over a session. Callers commit."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from node.db import utcnow
from node.errors import Conflict, FieldError, Forbidden, InvalidState, NotFound, ValidationFailed
from node.members import schemas
from node.members.auth import hash_password, new_secret_token, token_digest, verify_password
from node.members.models import ApiToken, Invitation, Member, StewardTerm
from node.settings import Settings
from node.signals import member_erasing, member_exporting


def join(db: Session, settings: Settings, data: schemas.JoinIn) -> Member:
    """Create a member, by open join or by a valid unused invitation."""
    invitation = None
    if data.invitation:
        invitation = _usable_invitation(db, data.invitation)
    elif settings.join_policy != "open":
        raise Forbidden(
            "this node is invite-only: ask a member for an invitation link",
            [FieldError("invitation", "required on this node")],
        )
    _check_unique(db, handle=data.handle, email=data.email)
    member = Member(
        handle=data.handle,
        display_name=data.display_name,
        email=data.email.lower(),
        phone=data.phone,
        password_hash=hash_password(data.password),
    )
    db.add(member)
    db.flush()
    if invitation is not None:
        invitation.used_at = utcnow()
        invitation.used_by_id = member.id
    return member


def create_member(
    db: Session, handle: str, display_name: str, email: str, password: str
) -> Member:
    """Add a member directly (from the command line), checking the same rules as joining."""
    data = schemas.JoinIn(
        handle=handle, display_name=display_name, email=email, password=password
    )
    _check_unique(db, handle=data.handle, email=data.email)
    member = Member(
        handle=data.handle,
        display_name=data.display_name,
        email=data.email.lower(),
        password_hash=hash_password(data.password),
    )
    db.add(member)
    db.flush()
    return member


def _usable_invitation(db: Session, token: str) -> Invitation:
    invitation = db.scalar(select(Invitation).where(Invitation.token_hash == token_digest(token)))
    reason = None
    if invitation is None:
        reason = "unknown invitation"
    elif invitation.used_at is not None:
        reason = "this invitation was already used"
    elif invitation.expires_at < utcnow():
        reason = "this invitation has expired"
    if reason or invitation is None:
        raise ValidationFailed("the invitation cannot be used", [FieldError("invitation", reason or "")])
    return invitation


def _check_unique(
    db: Session, handle: str | None = None, email: str | None = None, exclude: Member | None = None
) -> None:
    errors = []
    if handle and _taken(db, Member.handle == handle, exclude):
        errors.append(FieldError("handle", "already taken"))
    if email and _taken(db, func.lower(Member.email) == email.lower(), exclude):
        errors.append(FieldError("email", "already registered"))
    if errors:
        raise Conflict("already in use", errors)


def _taken(db: Session, condition: Any, exclude: Member | None) -> bool:
    stmt = select(Member.id).where(condition)
    if exclude is not None:
        stmt = stmt.where(Member.id != exclude.id)
    return db.scalar(stmt.limit(1)) is not None


def authenticate(db: Session, email: str, password: str) -> Member | None:
    """The member with this email and password, or None."""
    member = db.scalar(select(Member).where(func.lower(Member.email) == email.lower()))
    ok = verify_password(member.password_hash if member else None, password)
    return member if ok else None


def update_member(db: Session, member: Member, data: schemas.MemberUpdate) -> Member:
    """Change the member's own profile fields that were sent."""
    changes = data.model_dump(exclude_unset=True)
    if "email" in changes and changes["email"] is not None:
        changes["email"] = changes["email"].lower()
        _check_unique(db, email=changes["email"], exclude=member)
    for name in ("display_name", "email", "bio", "languages"):
        if changes.get(name, None) is None and name in changes:
            raise ValidationFailed("field cannot be null", [FieldError(name, "cannot be null")])
    for name, value in changes.items():
        setattr(member, name, value)
    db.flush()
    return member


def change_password(db: Session, member: Member, current: str, new: str) -> None:
    """Set a new password after checking the current one; other sessions end."""
    if not verify_password(member.password_hash, current):
        raise Forbidden("the current password is wrong", [FieldError("current_password", "wrong")])
    member.password_hash = hash_password(new)
    member.session_version += 1
    db.flush()


def export_member(db: Session, member: Member) -> dict[str, Any]:
    """Everything this node holds about the member, as JSON-ready data."""
    profile = schemas.MemberPrivate.model_validate(member).model_dump(mode="json")
    tokens = db.scalars(select(ApiToken).where(ApiToken.member_id == member.id))
    terms = db.scalars(select(StewardTerm).where(StewardTerm.member_id == member.id))
    sections: dict[str, Any] = {
        "profile": profile,
        "api_tokens": [schemas.TokenOut.model_validate(t).model_dump(mode="json") for t in tokens],
        "steward_terms": [
            {"starts_at": t.starts_at.isoformat(), "ends_at": t.ends_at.isoformat(),
             "reason": t.reason}
            for t in terms
        ],
    }
    member_exporting.send(db, member=member, sections=sections)
    header = {"format": "mutualaid-member-export", "version": 1, "exported_at": utcnow().isoformat()}
    return {**header, **sections}


def erase_member(db: Session, member: Member, password: str) -> None:
    """Delete the member and everything that is theirs, after withdrawing what was shared."""
    if not verify_password(member.password_hash, password):
        raise Forbidden("the password is wrong", [FieldError("password", "wrong")])
    member_erasing.send(db, member=member)
    # Unused invitations they made carry their note and would let someone in on their word.
    db.execute(delete(Invitation).where(
        Invitation.created_by_id == member.id, Invitation.used_at.is_(None)
    ))
    db.delete(member)
    db.flush()


def create_token(db: Session, member: Member, name: str) -> tuple[ApiToken, str]:
    """A new API token for the member; the secret is returned once and never stored."""
    token, digest = new_secret_token()
    row = ApiToken(member_id=member.id, name=name, token_hash=digest, prefix=token[:10])
    db.add(row)
    db.flush()
    return row, token


def revoke_token(db: Session, member: Member, token_id: Any) -> ApiToken:
    """Revoke one of the member's own tokens."""
    row = db.get(ApiToken, token_id)
    if row is None or row.member_id != member.id:
        raise NotFound("no such token")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
    db.flush()
    return row


def create_invitation(
    db: Session, settings: Settings, member: Member | None, note: str = ""
) -> tuple[Invitation, str]:
    """A single-use invitation; the secret is returned once and only its hash kept."""
    token = secrets.token_urlsafe(24)
    invitation = Invitation(
        token_hash=token_digest(token),
        note=note,
        created_by_id=member.id if member else None,
        expires_at=utcnow() + timedelta(days=settings.invitation_days),
    )
    db.add(invitation)
    db.flush()
    return invitation, token


def active_terms(db: Session) -> list[StewardTerm]:
    """Steward terms in force now."""
    now = utcnow()
    stmt = select(StewardTerm).where(
        StewardTerm.starts_at <= now, StewardTerm.ends_at > now, StewardTerm.ended_early_at.is_(None)
    )
    return list(db.scalars(stmt.order_by(StewardTerm.ends_at)))


def is_steward(db: Session, member: Member) -> bool:
    """Whether the member holds a steward term now."""
    return any(term.member_id == member.id for term in active_terms(db))


def require_steward(db: Session, member: Member) -> None:
    """Refuse unless the member is a steward now."""
    if not is_steward(db, member):
        raise Forbidden("only a member with a current steward term may do this")


def grant_steward(
    db: Session, settings: Settings, granted_by: Member | None, handle: str, days: int, reason: str
) -> StewardTerm:
    """Grant a steward term; terms are bounded by the node's maximum."""
    if days > settings.steward_max_term_days:
        raise ValidationFailed(
            "term too long",
            [FieldError("days", f"at most {settings.steward_max_term_days} days on this node")],
        )
    member = db.scalar(select(Member).where(Member.handle == handle))
    if member is None:
        raise NotFound("no member with that handle", [FieldError("handle", "unknown member")])
    now = utcnow()
    term = StewardTerm(
        member_id=member.id,
        granted_by_id=granted_by.id if granted_by else None,
        reason=reason,
        starts_at=now,
        ends_at=now + timedelta(days=days),
    )
    db.add(term)
    db.flush()
    return term


def end_term(db: Session, actor: Member, term_id: Any) -> StewardTerm:
    """End a term early: the steward themselves or another steward may."""
    term = db.get(StewardTerm, term_id)
    if term is None:
        raise NotFound("no such steward term")
    if term.member_id != actor.id:
        require_steward(db, actor)
    if term.ended_early_at is not None or term.ends_at <= utcnow():
        raise InvalidState("this term has already ended")
    term.ended_early_at = utcnow()
    db.flush()
    return term
