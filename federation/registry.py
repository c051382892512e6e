"""The envelope types a node understands: each type's body model and what applying it does.

Other packages add their types at import time of their `init_app`:

    from federation.registry import register
    register("mandate.issued", MandateIssued, apply_mandate_issued)

A handler gets an `ApplyContext` and the validated body model. It returns the outcome to
record ("applied", or "ignored: <why>"), and raises `EnvelopeError` (e.g. reason "not-owner")
to refuse the envelope, in which case nothing it wrote is kept.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from federation.envelope import EnvelopeError

if TYPE_CHECKING:
    from flask import Flask
    from sqlalchemy.orm import Session

    from federation.envelope import Parsed
    from federation.models import EnvelopeOrigin

APPLIED = "applied"
# Keys per `IN (...)` of a batch lookup: a whole feed page in one query, well within SQLite's
# and PostgreSQL's limits on bound parameters.
IN_CHUNK = 2000


@dataclass(frozen=True)
class ApplyContext:
    """What a handler may use: the session (inside the envelope's savepoint), the app, the
    envelope, this node's id, and how the envelope arrived."""

    db: Session
    app: Flask
    envelope: Parsed
    local_id: str
    origin: EnvelopeOrigin
    verified_key: str
    # Shared by the envelopes applied together in one batch (what `prefetch` loaded).
    batch: dict[str, Any] = field(default_factory=dict)


ApplyHandler = Callable[[ApplyContext, Any], str]
# Loads, in a few queries, what the handlers of a batch will look up one by one.
Prefetch = Callable[["Session", dict[str, Any], list[tuple["Parsed", Any]]], None]


@dataclass(frozen=True)
class EnvelopeType:
    """A registered type: its name, body model, handler and defaults for publishing."""

    name: str
    model: type[BaseModel]
    apply: ApplyHandler
    ttl: timedelta | None = None
    priority: int = 0
    description: str = ""
    prefetch: Prefetch | None = None


_TYPES: dict[str, EnvelopeType] = {}


def register(
    type_name: str,
    body_model: type[BaseModel],
    apply_handler: ApplyHandler,
    *,
    ttl: timedelta | None = None,
    priority: int = 0,
    description: str = "",
    prefetch: Prefetch | None = None,
) -> EnvelopeType:
    """Make a type known; registering the same type again with the same model replaces its
    handler and defaults (harmless when a module is imported twice)."""
    from federation.envelope import TYPE_NAME

    if not TYPE_NAME.match(type_name):
        raise ValueError(f"{type_name!r} is not a valid envelope type name")
    entry = EnvelopeType(type_name, body_model, apply_handler, ttl, priority,
                         description or (body_model.__doc__ or "").strip(), prefetch)
    existing = _TYPES.get(type_name)
    if existing is not None and existing.model is not body_model:
        raise ValueError(f"envelope type {type_name!r} is already registered with another body model")
    _TYPES[type_name] = entry
    return entry


def get(type_name: str) -> EnvelopeType:
    """The registered type, or EnvelopeError('unknown-type')."""
    _load_builtin()
    entry = _TYPES.get(type_name)
    if entry is None:
        raise EnvelopeError("unknown-type", f"this node does not know the type {type_name!r}")
    return entry


def all_types() -> list[EnvelopeType]:
    """Every registered type, by name."""
    _load_builtin()
    return [_TYPES[name] for name in sorted(_TYPES)]


def prefetch(db: Session, batch: dict[str, Any], items: list[tuple[Parsed, Any]]) -> None:
    """Run each type's prefetch once over the envelopes of a batch that have it."""
    by_function: dict[Prefetch, list[tuple[Parsed, Any]]] = {}
    for parsed, model in items:
        function = get(parsed.type).prefetch
        if function is not None:
            by_function.setdefault(function, []).append((parsed, model))
    for function, selected in by_function.items():
        function(db, batch, selected)


PENDING = "pending_writes"
Write = Callable[["Session", dict[str, Any]], None]


def pending_write(batch: dict[str, Any], write: Write, group: Prefetch) -> None:
    """Have `write(db, batch)` run once, before a handler of a type outside `group` (the types
    sharing that prefetch) runs in the batch, or at the batch's end: handlers may leave rows
    to be written in one statement, and no other handler misses them."""
    batch.setdefault(PENDING, {})[write] = group


def write_pending(db: Session, batch: dict[str, Any], type_name: str | None = None) -> None:
    """Run a batch's pending writes: those a handler of `type_name` could need to see, or all."""
    pending: dict[Write, Prefetch] | None = batch.get(PENDING)
    if not pending:
        return
    group = get(type_name).prefetch if type_name is not None else None
    for write, owner in list(pending.items()):
        if type_name is None or owner is not group:
            del pending[write]
            write(db, batch)


def validate_body(type_name: str, body: dict[str, Any]) -> BaseModel:
    """The body as its type's model; EnvelopeError('invalid-body') naming each fault."""
    import json

    model = get(type_name).model
    try:
        # JSON mode, strict: what another implementation sends is judged as JSON, not as Python.
        return model.model_validate_json(json.dumps(body), strict=True)
    except ValidationError as exc:
        raise EnvelopeError("invalid-body", describe(exc)) from None


def dump_body(type_name: str, body: dict[str, Any] | BaseModel) -> dict[str, Any]:
    """A body ready for the wire, checked against its type's model first."""
    model = get(type_name).model
    if not isinstance(body, model):
        if isinstance(body, BaseModel):
            raise TypeError(f"{type_name} takes a {model.__name__}, not a {type(body).__name__}")
        body = validate_body(type_name, body)
    dumped: dict[str, Any] = body.model_dump(mode="json", exclude_none=True)
    return dumped


def describe(exc: ValidationError) -> str:
    """pydantic's errors as one line: 'field: reason; field: reason'."""
    parts = []
    for err in exc.errors(include_url=False, include_input=False)[:10]:
        where = ".".join(str(part) for part in err["loc"]) or "body"
        parts.append(f"{where}: {err['msg'].removeprefix('Value error, ')}")
    return "; ".join(parts)[:480]


def _load_builtin() -> None:
    # The built-in types register themselves when their handlers are imported.
    if "need.published" not in _TYPES:
        import federation.apply  # noqa: F401
