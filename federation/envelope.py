"""The signed envelope every federation message travels in: building, shape-checking, time.

An envelope is a JSON object (docs/protocol.md, "Envelope"):

    {"v": 1, "id": "<uuid4>", "type": "need.published", "sender": "<node id>", "seq": 42,
     "created": "<RFC 3339>", "expires": "<RFC 3339>", "audience": ["<id>" | "*"],
     "priority": 0, "body": {...}, "sig": "<base64url Ed25519>"}

The signature covers the RFC 8785 canonical JSON of every member but `sig`, so an envelope can
be re-serialised or relayed through any number of nodes and still verify.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import rfc8785
from pydantic import BaseModel

from federation import signing

if TYPE_CHECKING:  # only a type here: envelope must not pull in the models on import
    from federation.identity import LocalIdentity

VERSION = 1
MAX_SAFE_INTEGER = 2**53 - 1  # integers beyond this lose precision in JavaScript and I-JSON
MAX_ENVELOPE_BYTES = 64 * 1024  # canonical JSON of one envelope, signature included
MAX_AUDIENCE = 64
MAX_TTL = timedelta(days=400)
DEFAULT_TTL = timedelta(days=90)
CLOCK_SKEW = timedelta(minutes=5)  # how far in the future `created` may lie
EVERYONE = "*"

FIELDS = ("v", "id", "type", "sender", "seq", "created", "expires", "audience", "priority", "body", "sig")
REQUIRED = frozenset(FIELDS) - {"priority"}
NODE_ID = re.compile(r"^ma1[a-z2-7]{32}$")
TYPE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,19}\.[a-z][a-z0-9_]{0,19}$")
UUID_TEXT = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$"
)


class EnvelopeError(Exception):
    """An envelope is refused; `reason` is a stable slug, `detail` says exactly what is wrong."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class Parsed:
    """A received envelope whose shape is right (its signature is checked separately)."""

    id: uuid.UUID
    type: str
    sender: str
    seq: int
    created: datetime
    expires: datetime
    audience: tuple[str, ...]
    priority: int
    body: dict[str, Any]
    document: dict[str, Any]

    @property
    def text(self) -> str:
        """The envelope as canonical JSON text, signature included (what is stored and relayed)."""
        return envelope_text(self.document)


# --- time -------------------------------------------------------------------------------

def format_time(moment: datetime) -> str:
    """RFC 3339 text in UTC with a `Z`, microseconds only when there are any."""
    if moment.tzinfo is None:
        raise ValueError("naive datetimes have no place on the wire; use an aware UTC datetime")
    moment = moment.astimezone(UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += f".{moment.microsecond:06d}".rstrip("0")
    return text + "Z"


def parse_time(text: Any) -> datetime:
    """An aware UTC datetime from RFC 3339 text (offset required); ValueError otherwise."""
    if not isinstance(text, str):
        raise ValueError("must be an RFC 3339 timestamp string")
    match = RFC3339.match(text)
    if match is None:
        raise ValueError("must be an RFC 3339 timestamp with a zone, e.g. 2026-05-01T12:00:00Z")
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    micro = int((fraction or ".0")[1:7].ljust(6, "0"))
    offset = timedelta(0)
    if zone not in ("Z", "z"):
        sign = 1 if zone[0] == "+" else -1
        hours, minutes = int(zone[1:3]), int(zone[4:6])
        if hours > 23 or minutes > 59:
            raise ValueError("has an impossible zone offset")
        offset = sign * timedelta(hours=hours, minutes=minutes)
    try:
        local = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), micro, UTC)
    except ValueError as exc:
        raise ValueError(f"is not a real date and time ({exc})") from None
    return local - offset


def now() -> datetime:
    """The current time, aware UTC."""
    return datetime.now(UTC)


# --- building ---------------------------------------------------------------------------

def make_envelope(
    identity: LocalIdentity,
    type: str,
    body: dict[str, Any] | BaseModel,
    seq: int,
    audience: list[str] | tuple[str, ...] | None = None,
    priority: int | None = None,
    ttl: timedelta | None = None,
    *,
    created: datetime | None = None,
    envelope_id: uuid.UUID | None = None,
) -> dict[str, Any]:
    """A signed envelope of this node; the body is checked against its type's model first.

    `priority` and `ttl` default to the type's registered values (ttl: 90 days); a type
    registered with priority 1 (key rotations) is always sent in the priority lane.
    """
    from federation.registry import dump_body, get

    entry = get(type)
    if not 1 <= seq <= MAX_SAFE_INTEGER:
        raise ValueError(f"seq must be between 1 and {MAX_SAFE_INTEGER}")
    if priority not in (None, 0, 1):
        raise ValueError("priority is 0 (normal) or 1 (incident lane)")
    priority = max(priority or 0, entry.priority)
    created = (created or now()).astimezone(UTC)
    lifetime = ttl or entry.ttl or DEFAULT_TTL
    if not timedelta(0) < lifetime <= MAX_TTL:
        raise ValueError(f"ttl must be positive and at most {MAX_TTL.days} days")
    document: dict[str, Any] = {
        "v": VERSION,
        "id": str(envelope_id or uuid.uuid4()),
        "type": type,
        "sender": identity.node_id,
        "seq": seq,
        "created": format_time(created),
        "expires": format_time(created + lifetime),
        "audience": list(audience or [EVERYONE]),
        "priority": priority,
        "body": dump_body(type, body),
    }
    check_shape(document | {"sig": "x"})
    return signing.sign(document, identity.key)


def envelope_text(document: dict[str, Any]) -> str:
    """The canonical JSON text of a whole envelope; what is stored, served and relayed."""
    return rfc8785.dumps(document).decode("utf-8")


# --- checking what arrives --------------------------------------------------------------

def parse(value: Any) -> Parsed:
    """Check a received object's shape and return it parsed; EnvelopeError('malformed') if not."""
    created, expires = _checked_shape(value)
    return Parsed(
        id=uuid.UUID(value["id"]),
        type=value["type"],
        sender=value["sender"],
        seq=value["seq"],
        created=created,
        expires=expires,
        audience=tuple(value["audience"]),
        priority=value.get("priority", 0),
        body=value["body"],
        document=value,
    )


def parse_text(text: str | bytes) -> Parsed:
    """Parse an envelope from JSON text (a stored row, a feed line)."""
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise EnvelopeError("malformed", f"not JSON: {exc}") from None
    return parse(value)


def check_shape(value: Any) -> None:
    """Raise EnvelopeError('malformed', <what is wrong>) unless `value` has an envelope's shape."""
    _checked_shape(value)


def _checked_shape(value: Any) -> tuple[datetime, datetime]:
    # Each check in its turn, the first fault named; the times are parsed once and returned.
    if not isinstance(value, dict):
        raise _malformed("an envelope is a JSON object")
    missing = sorted(REQUIRED - value.keys())
    if missing:
        raise _malformed(f"missing fields: {', '.join(missing)}")
    unknown = sorted(set(value) - set(FIELDS))
    if unknown:
        raise _malformed(f"unknown fields: {', '.join(map(str, unknown))}")
    times: dict[str, datetime] = {}
    for name, check in _CHECKS:
        if check is None:  # a time: parsed here, kept for the caller
            try:
                times[name] = parse_time(value[name])
            except ValueError as exc:
                raise _malformed(f"{name}: {exc}") from None
            continue
        if name in value:
            problem = check(value[name])
            if problem:
                raise _malformed(f"{name}: {problem}")
    created, expires = times["created"], times["expires"]
    if expires <= created:
        raise _malformed("expires: must be later than created")
    if expires - created > MAX_TTL:
        raise _malformed(f"expires: at most {MAX_TTL.days} days after created")
    return created, expires


def check_size(document: dict[str, Any]) -> None:
    """Raise EnvelopeError('too-large') for an envelope over the size limit."""
    size = len(envelope_text(document).encode("utf-8"))
    if size > MAX_ENVELOPE_BYTES:
        raise EnvelopeError("too-large", f"the envelope is {size} bytes; at most {MAX_ENVELOPE_BYTES}")


def check_time(parsed: Parsed, moment: datetime | None = None) -> None:
    """Raise EnvelopeError when the envelope has expired or claims to come from the future."""
    moment = moment or now()
    if parsed.expires <= moment:
        raise EnvelopeError("expired", f"expired at {format_time(parsed.expires)}")
    if parsed.created > moment + CLOCK_SKEW:
        raise EnvelopeError(
            "not-yet-valid",
            f"created {format_time(parsed.created)} lies more than {CLOCK_SKEW} ahead of this node's clock",
        )


def addressed_to(parsed: Parsed, ids: set[str]) -> bool:
    """Whether the audience is everyone (empty or "*") or names one of `ids` (this node, its
    federations)."""
    return not parsed.audience or EVERYONE in parsed.audience or not ids.isdisjoint(parsed.audience)


def _malformed(detail: str) -> EnvelopeError:
    return EnvelopeError("malformed", detail)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _version(value: Any) -> str | None:
    return None if _is_int(value) and value == VERSION else f"must be {VERSION}"


def _uuid(value: Any) -> str | None:
    return None if isinstance(value, str) and UUID_TEXT.match(value) else "must be a lowercase UUID v4"


def _type(value: Any) -> str | None:
    return None if isinstance(value, str) and TYPE_NAME.match(value) else "must look like 'need.published'"


def _node(value: Any) -> str | None:
    return None if isinstance(value, str) and NODE_ID.match(value) else "must be a node id (ma1...)"


def _seq(value: Any) -> str | None:
    ok = _is_int(value) and 1 <= value <= MAX_SAFE_INTEGER
    return None if ok else f"must be an integer from 1 to {MAX_SAFE_INTEGER}"


def _audience(value: Any) -> str | None:
    if not isinstance(value, list) or len(value) > MAX_AUDIENCE:
        return f"must be a list of at most {MAX_AUDIENCE} node ids or '*'"
    for item in value:
        if item != EVERYONE and _node(item):
            return f"{item!r} is neither a node id nor '*'"
    return None


def _priority(value: Any) -> str | None:
    return None if _is_int(value) and value in (0, 1) else "must be 0 or 1"


def _body(value: Any) -> str | None:
    return None if isinstance(value, dict) else "must be a JSON object"


def _sig(value: Any) -> str | None:
    return None if isinstance(value, str) and 0 < len(value) <= 200 else "must be base64url text"


_Check = Callable[[Any], "str | None"] | None
_CHECKS: tuple[tuple[str, _Check], ...] = (
    ("v", _version), ("id", _uuid), ("type", _type), ("sender", _node), ("seq", _seq),
    ("created", None), ("expires", None), ("audience", _audience), ("priority", _priority),
    ("body", _body), ("sig", _sig),
)
