"""The endpoints other nodes call: the inbox, the feed and the node document.

Failures of a request as a whole are problem+json documents (malformed batch 400, unsigned
feed request 401, unknown or blocked node 403, oversize 413, rate limited 429); the inbox
answers 200 with one result per envelope otherwise, each rejection with its own reason.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, current_app, request

from federation import document
from federation.envelope import NODE_ID
from federation.feed import FEED_PATH, FeedQuery, read_page
from federation.http import NODE_HEADER, verify_request
from federation.inbox import REJECTED, Receiver
from federation.metrics import count_rejection
from federation.models import EnvelopeOrigin
from federation.wake import pull_after_commit
from node.api.operations import json_response, parse_query
from node.db import get_session
from node.errors import MalformedRequest, TooLarge, UnsupportedMediaType
from node.limits import limiter
from node.settings import Settings

bp = Blueprint("federation", __name__)


def _settings() -> Settings:
    value: Settings = current_app.config["MUTUALAID"]
    return value


def _hop() -> str | None:
    """The node the request says it comes from (used to key limits and to skip it on relay)."""
    value = request.headers.get(NODE_HEADER, "")
    return value if NODE_ID.match(value) else None


def _inbox_key() -> str:
    return _hop() or request.remote_addr or "unknown"


def _inbox_limit() -> str:
    return _settings().inbox_rate_limit


@bp.post(document.INBOX_PATH)
@limiter.limit(_inbox_limit, key_func=_inbox_key)
def inbox() -> Any:
    """Receive a batch {"envelopes": [...]} and answer one result per envelope."""
    settings = _settings()
    if request.content_length is not None and request.content_length > settings.inbox_max_bytes:
        raise TooLarge(f"a batch is at most {settings.inbox_max_bytes} bytes")
    request.max_content_length = settings.inbox_max_bytes
    if request.mimetype != "application/json":
        raise UnsupportedMediaType("the inbox takes application/json")
    envelopes = _batch(request.get_data(cache=False), settings.inbox_max_envelopes)
    db = get_session()
    receiver = Receiver(db, current_app._get_current_object(), EnvelopeOrigin.INBOX, via=_hop())  # type: ignore[attr-defined]
    results = receiver.receive_batch(envelopes)
    pull_after_commit(db, receiver.app, receiver.gaps)
    db.commit()
    for result in results:
        # Refusals only: a duplicate is settled, not refused (a retry or a second relay path).
        if result.status == REJECTED and result.reason:
            count_rejection(result.reason)
    return json_response({"results": [result.as_dict() for result in results]})


def _batch(raw: bytes, max_envelopes: int) -> list[Any]:
    try:
        value = json.loads(raw.decode("utf-8"))  # RFC 8259: UTF-8 only, not UTF-16/32 guessed from BOMs
    except (ValueError, RecursionError):
        raise MalformedRequest("the batch is not valid JSON") from None
    if not isinstance(value, dict) or set(value) != {"envelopes"} or not isinstance(value["envelopes"], list):
        raise MalformedRequest('a batch is {"envelopes": [<envelope>, ...]} and nothing else')
    envelopes: list[Any] = value["envelopes"]
    if len(envelopes) > max_envelopes:
        raise TooLarge(f"a batch holds at most {max_envelopes} envelopes, not {len(envelopes)}")
    return envelopes


@bp.get(FEED_PATH)
def feed() -> Any:
    """A page of one sender's envelopes, for a known node's signed request."""
    db = get_session()
    verify_request(db, request)
    page = read_page(db, parse_query(FeedQuery))
    return Response(page.json_text(), mimetype="application/json")


@bp.get(document.PATH)
def node_document() -> Any:
    """Who this node is: id, name, role, keys, endpoints, federations."""
    response = json_response(document.build(get_session(), current_app._get_current_object()))  # type: ignore[attr-defined]
    response.headers["Cache-Control"] = "public, max-age=300"
    return response
