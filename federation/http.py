"""HTTP between nodes: signed requests, and the one place this node calls another.

A signed request carries three headers (docs/protocol.md, "Signed requests"):

    Mutualaid-Node: <requesting node id>
    Mutualaid-Date: <RFC 3339 time of the request>
    Mutualaid-Signature: <base64url Ed25519 signature>

The signature is over the RFC 8785 canonical JSON of
`{"method", "path", "query", "date", "node", "body"}`, where `query` is the query string exactly
as sent (without "?") and `body` the base64url SHA-256 of the request body ("" when empty).

Outgoing calls go through `send`, which uses `requests` unless the app holds another transport
under `app.extensions["federation.transport"]` (the in-process one tests use to join apps).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

from flask import Flask, Request
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from federation import signing
from federation.envelope import NODE_ID, format_time, now, parse_time
from federation.identity import LocalIdentity
from federation.models import Peer, PeerKey, PeerStatus
from node.errors import Forbidden, Unauthenticated

NODE_HEADER = "Mutualaid-Node"
DATE_HEADER = "Mutualaid-Date"
SIGNATURE_HEADER = "Mutualaid-Signature"
MAX_SKEW = timedelta(minutes=5)
TRANSPORT = "federation.transport"
TIMEOUT = 20.0


@dataclass(frozen=True)
class HttpResponse:
    """What came back from another node."""

    status: int
    content: bytes
    headers: Mapping[str, str]

    def json(self) -> Any:
        """The body as JSON (ValueError if it is not)."""
        import json

        return json.loads(self.content)


Transport = Callable[[str, str, Mapping[str, str], bytes | None, float], HttpResponse]


def _requests_transport(
    method: str, url: str, headers: Mapping[str, str], body: bytes | None, timeout: float
) -> HttpResponse:
    import requests  # loaded on the first call to another node, not with the app

    response = requests.request(method, url, headers=dict(headers), data=body, timeout=timeout,
                                allow_redirects=False)
    return HttpResponse(response.status_code, response.content, dict(response.headers))


def send(app: Flask, method: str, url: str, headers: Mapping[str, str] | None = None,
         body: bytes | None = None, timeout: float = TIMEOUT) -> HttpResponse:
    """Make one HTTP request to another node; raises requests.RequestException on failure."""
    transport: Transport = app.extensions.get(TRANSPORT) or _requests_transport
    return transport(method, url, dict(headers or {}), body, timeout)


def body_digest(body: bytes | None) -> str:
    """The base64url SHA-256 of a request body, "" for none."""
    return signing.b64encode(hashlib.sha256(body).digest()) if body else ""


def signed_headers(identity: LocalIdentity, method: str, path: str, query: str = "",
                   body: bytes | None = None) -> dict[str, str]:
    """The headers that sign a request as coming from this node."""
    date = format_time(now())
    document = {"method": method.upper(), "path": path, "query": query, "date": date,
                "node": identity.node_id, "body": body_digest(body)}
    signature = signing.sign(document, identity.key)["sig"]
    return {NODE_HEADER: identity.node_id, DATE_HEADER: date, SIGNATURE_HEADER: signature}


def signed_get(app: Flask, identity: LocalIdentity, base_url: str, path: str,
               params: Mapping[str, Any], timeout: float = TIMEOUT) -> HttpResponse:
    """A signed GET of `path` on another node, with the query string built here so the signed
    text and the sent text are the same."""
    query = urlencode(list(params.items()))
    prefix = urlsplit(base_url).path.rstrip("/")
    headers = signed_headers(identity, "GET", prefix + path, query)
    headers["Accept"] = "application/json"
    return send(app, "GET", f"{base_url.rstrip('/')}{path}?{query}", headers, None, timeout)


def verify_request(db: Session, request: Request) -> Peer:
    """The known, unblocked node that signed this request; a 401 or 403 problem otherwise."""
    node_id = request.headers.get(NODE_HEADER, "")
    date = request.headers.get(DATE_HEADER, "")
    signature = request.headers.get(SIGNATURE_HEADER, "")
    if not (node_id and date and signature):
        raise Unauthenticated(f"sign the request: {NODE_HEADER}, {DATE_HEADER} and {SIGNATURE_HEADER}")
    if not NODE_ID.match(node_id):
        raise Unauthenticated(f"{NODE_HEADER} is not a node id")
    try:
        moment = parse_time(date)
    except ValueError as exc:
        raise Unauthenticated(f"{DATE_HEADER} {exc}") from None
    if abs(now() - moment) > MAX_SKEW:
        raise Unauthenticated(f"{DATE_HEADER} is more than {MAX_SKEW} away from this node's clock")
    peer = db.get(Peer, node_id)
    if peer is None:
        raise Forbidden(f"{node_id} is not a node this node knows")
    if peer.status == PeerStatus.BLOCKED:
        raise Forbidden(f"{node_id} is blocked here")
    document = {
        "method": request.method, "path": request.path,
        "query": request.query_string.decode("latin-1"), "date": date, "node": node_id,
        "body": body_digest(request.get_data(cache=True)), "sig": signature,
    }
    keys = list(db.scalars(select(PeerKey.public_key).where(
        PeerKey.peer_id == node_id, or_(PeerKey.valid_until.is_(None), PeerKey.valid_until > now())
    )))
    try:
        signing.verify_any(document, keys)
    except signing.SignatureError:
        raise Unauthenticated("the request signature does not verify with any key of the node") from None
    return peer
