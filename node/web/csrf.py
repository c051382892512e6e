"""Protection against cross-site request forgery for every form of the web pages.

Each login session holds one random token; every form carries it in a hidden field and every
unsafe request to a page must send it back. Logging in starts a new session and so a new token.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from typing import TypeVar

from flask import current_app, request, session
from werkzeug.exceptions import BadRequest

FIELD = "csrf_token"
HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
# Room for a photo form's other fields and multipart framing beyond the photo itself.
FORM_ROOM = 64 * 1024
_V = TypeVar("_V", bound=Callable[..., object])


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


def takes_photo(view: _V) -> _V:
    """Mark a page's form as carrying a photo: it may be as large as an upload may be.

    The node's request limit (max_request_bytes) is far below a phone's photo, and the token
    check below reads the form before the view runs, so the limit is raised here for these
    forms alone; the upload checks then refuse an oversize photo with a reason on the form."""
    setattr(view, "takes_photo", True)  # noqa: B010 - a marker read by protect()
    return view


def protect() -> None:
    """Refuse an unsafe request whose token is missing or wrong (a before_request hook)."""
    if request.method in SAFE_METHODS:
        return
    view = current_app.view_functions.get(request.endpoint or "")
    if getattr(view, "takes_photo", False):
        request.max_content_length = current_app.config["MUTUALAID"].upload_max_bytes + FORM_ROOM
    expected = session.get(FIELD)
    sent = request.form.get(FIELD) or request.headers.get(HEADER) or ""
    if not isinstance(expected, str) or not hmac.compare_digest(expected.encode(), sent.encode()):
        raise CsrfRefused()
