"""Who is asking: password hashing, login sessions and bearer tokens."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import Flask, Request, g, request, session
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from node.db import get_session, utcnow
from node.errors import Unauthenticated
from node.members.models import ApiToken, Member

_hasher = PasswordHasher()
TOKEN_PREFIX = "ma_"  # noqa: S105  (a marker, not a secret)
# Touching last_used_at on every request would turn every read into a write.
TOKEN_TOUCH_INTERVAL = timedelta(hours=1)
# Verified against when the account does not exist, so both paths cost the same time.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    """An argon2id hash of the password."""
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether the password matches; constant work whether or not the account exists."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


def new_secret_token() -> tuple[str, str]:
    """A fresh bearer token and the hash that is stored for it."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    return token, token_digest(token)


def token_digest(token: str) -> str:
    """The stored form of a token or invitation secret."""
    return hashlib.sha256(token.encode()).hexdigest()


class CookieSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie login sessions, without building the signer when no cookie came.

    Scripts send a bearer token and no cookie; for them the session is always empty."""

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if not request.cookies.get(self.get_cookie_name(app)):
            return self.session_class()
        return super().open_session(app, request)


def install_sessions(app: Flask) -> None:
    """Use CookieSessions for the app's login sessions."""
    app.session_interface = CookieSessions()


def log_in(member: Member) -> None:
    """Start a login session for the member."""
    session.clear()
    session["member_id"] = str(member.id)
    session["v"] = member.session_version
    session.permanent = True


def log_out() -> None:
    session.clear()


def current_member() -> Member | None:
    """The member making this request, by bearer token or login session, or None."""
    if "member" not in g:
        if not _bearer():
            g.member = _from_session()
        elif "member_id" in g:  # the token was checked already (require_member_id)
            g.member = get_session().get(Member, g.member_id) if g.member_id is not None else None
        else:
            g.member = _from_token()
    member: Member | None = g.member
    return member


def require_member_id() -> uuid.UUID:
    """The id of the member making this request, or a 401 problem.

    A bearer token is checked with one small query that loads no member: what most API reads
    need. The member itself is loaded if the request later asks for it."""
    if "member" in g or not _bearer():
        return require_member().id
    if "member_id" not in g:
        g.member_id = _token_member_id()
    if g.member_id is None:
        raise Unauthenticated("the bearer token is not valid")
    member_id: uuid.UUID = g.member_id
    return member_id


def require_member() -> Member:
    """The member making this request, or a 401 problem."""
    member = current_member()
    if member is None:
        if _bearer():
            raise Unauthenticated("the bearer token is not valid")
        raise Unauthenticated("log in or send a bearer token")
    return member


def _bearer() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def _from_token() -> Member | None:
    token = _bearer()
    if token is None or not token.startswith(TOKEN_PREFIX):
        return None
    db = get_session()
    found = db.execute(_TOKEN_LOOKUP, {"digest": token_digest(token)}).first()
    if found is None:
        return None
    member, token_id, last_used_at = found
    _touch(db, token_id, last_used_at)
    return member


def _token_member_id() -> uuid.UUID | None:
    token = _bearer()
    if token is None or not token.startswith(TOKEN_PREFIX):
        return None
    db = get_session()
    # Core on the session's connection: the same transaction, none of the ORM's work.
    found = db.connection().execute(_TOKEN_MEMBER_ID, {"digest": token_digest(token)}).first()
    if found is None:
        return None
    member_id, token_id, last_used_at = found
    _touch(db, token_id, last_used_at)
    found_id: uuid.UUID = member_id
    return found_id


def _touch(db: Session, token_id: uuid.UUID, last_used_at: datetime | None) -> None:
    now = utcnow()
    if last_used_at is None or now - last_used_at > TOKEN_TOUCH_INTERVAL:
        # The write opens a transaction of its own, which waits for the writer lock: also right
        # in a request that only reads (node.db.read_only_request).
        db.commit()
        db.execute(update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=now))
        db.commit()


# Every API request runs one of these: one statement, built once, finds the token and its member.
_TOKEN_LOOKUP = (
    select(Member, ApiToken.id, ApiToken.last_used_at)
    .join(ApiToken, ApiToken.member_id == Member.id)
    .where(ApiToken.token_hash == bindparam("digest"), ApiToken.revoked_at.is_(None))
)
_TOKEN_MEMBER_ID = (
    select(Member.id, ApiToken.id, ApiToken.last_used_at)
    .join(ApiToken, ApiToken.member_id == Member.id)
    .where(ApiToken.token_hash == bindparam("digest"), ApiToken.revoked_at.is_(None))
)


def _from_session() -> Member | None:
    raw = session.get("member_id")
    if not raw:
        return None
    try:
        member = get_session().get(Member, uuid.UUID(raw))
    except ValueError:
        return None
    if member is None or member.session_version != session.get("v"):
        return None
    return member
