"""Declaring a JSON API operation once: its route, input models, output model and docs.

`ApiBlueprint.operation` parses and validates the query string and body with pydantic before
the view runs, enforces authentication, serialises the returned model, and records the operation
so that the OpenAPI document is built from the same declarations that do the work.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import orjson
from flask import Blueprint, Response, current_app, request
from flask.json.provider import DefaultJSONProvider
from pydantic import BaseModel, ValidationError

from node.db import read_only_request
from node.errors import (
    FieldError,
    MalformedRequest,
    Problem,
    UnsupportedMediaType,
    ValidationFailed,
)
from node.members.auth import require_member_id

API_PREFIX = "/api/v1"
View = Callable[..., Any]
V = TypeVar("V", bound=View)
M = TypeVar("M", bound=BaseModel)


@dataclass
class Operation:
    """What the OpenAPI document says about one route and method."""

    rule: str
    method: str
    summary: str
    tag: str
    endpoint: str
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    auth: bool = True
    problems: list[int] = field(default_factory=list)
    content_type: str = "application/json"
    read_only: bool = False


class ApiBlueprint(Blueprint):
    """A blueprint under /api/v1 whose views are declared with `operation`."""

    def __init__(self, name: str, import_name: str, tag: str) -> None:
        super().__init__(name, import_name, url_prefix=API_PREFIX)
        self.tag = tag
        self.operations: list[Operation] = []

    def operation(
        self,
        rule: str,
        method: str,
        summary: str,
        *,
        body: type[BaseModel] | None = None,
        query: type[BaseModel] | None = None,
        response: type[BaseModel] | None = None,
        status: int = 200,
        auth: bool = True,
        problems: tuple[int, ...] = (),
        content_type: str = "application/json",
        read_only: bool = False,
    ) -> Callable[[V], V]:
        """Register `view` for `method rule`; it receives `body=` and `query=` models.

        `read_only` declares a view that never writes (node.db.read_only_request)."""

        def decorator(view: V) -> V:
            op = Operation(
                rule, method, summary, self.tag, f"{self.name}.{view.__name__}",
                body, query, response, status, auth, list(problems), content_type, read_only,
            )
            self.operations.append(op)
            wrapped = _wrap(view, op)
            self.add_url_rule(rule, view.__name__, wrapped, methods=[method])
            return view

        return decorator


def _wrap(view: View, op: Operation) -> View:
    @functools.wraps(view)
    def handle(**path_args: Any) -> Response:
        if op.read_only:
            read_only_request()
        if op.auth:
            require_member_id()
        kwargs: dict[str, Any] = dict(path_args)
        if op.query is not None:
            kwargs["query"] = parse_query(op.query)
        if op.body is not None:
            kwargs["body"] = parse_body(op.body)
        result = view(**kwargs)
        if isinstance(result, Response):
            return result
        return json_response(result, op.status)

    return handle


# Values orjson would write differently from the rest of the app (datetimes, dataclasses) or
# cannot write (Decimal) go to Flask's own conversion.
_ORJSON_OPTIONS = (
    orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
)


def _dumps(result: Any) -> bytes | str:
    """JSON of plain data, in the view's own key order; orjson, which is ten times faster."""
    try:
        return orjson.dumps(result, default=DefaultJSONProvider.default, option=_ORJSON_OPTIONS)
    except TypeError:
        # What only the standard library writes: integers beyond 64 bits, text that is not
        # valid UTF-8 (a lone surrogate echoed back from a peer's envelope).
        return current_app.json.dumps(result, sort_keys=False)


def json_response(result: Any, status: int = 200) -> Response:
    """Serialise a model, a list of models or plain data as a JSON response."""
    payload: str | bytes
    if isinstance(result, BaseModel):
        payload = result.model_dump_json()
    elif result is None:
        return Response(status=204)
    else:
        payload = _dumps(result)
    return Response(payload, status=status, mimetype="application/json")


def parse_body(model: type[M]) -> M:
    """Validate the JSON body against `model`, refusing other content types and bad JSON."""
    if request.mimetype != "application/json":
        raise UnsupportedMediaType(
            f"this endpoint takes application/json, not {request.mimetype or 'nothing'}"
        )
    raw = request.get_data(cache=True)
    if not raw.strip():
        raise MalformedRequest("the request body is empty")
    try:
        return model.model_validate_json(raw, strict=True)
    except ValidationError as exc:
        raise validation_problem(exc) from None


def parse_query(model: type[M]) -> M:
    """Validate the query string against `model` (values arrive as strings, so lax mode)."""
    unknown = set(request.args) - set(model.model_fields)
    if unknown:
        raise ValidationFailed(
            "unknown query parameters",
            [FieldError(name, "unknown parameter") for name in sorted(unknown)],
        )
    try:
        query = model.model_validate(request.args.to_dict())
    except ValidationError as exc:
        raise validation_problem(exc) from None
    per_page = getattr(query, "per_page", None)
    most = current_app.config["MUTUALAID"].page_size_max
    if per_page is not None and per_page > most:
        raise ValidationFailed("page too large", [FieldError("per_page", f"at most {most} on this node")])
    return query


def validation_problem(exc: ValidationError) -> Problem:
    """Turn pydantic's errors into a problem naming each field and reason."""
    errors = exc.errors(include_url=False, include_input=False)
    if any(err["type"] in ("json_invalid", "json_type") for err in errors):
        return MalformedRequest("the request body is not valid JSON")
    fields = [FieldError(_location(err["loc"]), _reason(err)) for err in errors]
    return ValidationFailed("some fields are invalid", fields)


def _location(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "body"


def _reason(err: Any) -> str:
    message: str = err["msg"]
    # pydantic says "Value error, <ours>" for our own validators; keep only ours.
    return message.removeprefix("Value error, ")
