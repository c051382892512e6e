"""Protection against cross-site request forgery for every form of the web pages.

Each login session holds one random token; every form carries it in a hidden field and every
unsafe request to a page must send it back. Logging in starts a new session and so a new token.
"""

from __future__ import annotations

import hmac
import secrets

from flask import request, session
from werkzeug.exceptions import BadRequest

FIELD = "csrf_token"
HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


class CsrfRefused(BadRequest):
    """The form did not carry this session's token."""

    description = "csrf"


def token() -> str:
    """This session's token, created on first use."""
    value = session.get(FIELD)
    if not isinstance(value, str):
        value = secrets.token_urlsafe(32)
        session[FIELD] = value
    return value


def protect() -> None:
    """Refuse an unsafe request whose token is missing or wrong (a before_request hook)."""
    if request.method in SAFE_METHODS:
        return
    expected = session.get(FIELD)
    sent = request.form.get(FIELD) or request.headers.get(HEADER) or ""
    if not isinstance(expected, str) or not hmac.compare_digest(expected.encode(), sent.encode()):
        raise CsrfRefused()
