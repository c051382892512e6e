"""One error type per failure kind, and the one handler that turns them into RFC 9457 problems.

Every problem carries a stable `type` (`/problems/<slug>`), so clients can branch on it, and,
where a field is at fault, an `errors` list naming each field and the reason.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, ClassVar

from flask import Flask, Response, json, request
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)
PROBLEM_JSON = "application/problem+json"


@dataclass(frozen=True)
class FieldError:
    """One field at fault and why, e.g. ("quantity", "must be greater than 0")."""

    field: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "reason": self.reason}


class Problem(Exception):
    """Base of every failure a client can be told about."""

    status: ClassVar[int] = 400
    slug: ClassVar[str] = "bad-request"
    title: ClassVar[str] = "Bad request"

    def __init__(self, detail: str | None = None, errors: list[FieldError] | None = None) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.errors = errors or []

    @property
    def type_uri(self) -> str:
        return f"/problems/{self.slug}"

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": self.type_uri,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if self.errors:
            body["errors"] = [error.as_dict() for error in self.errors]
        return body


class MalformedRequest(Problem):
    status, slug, title = 400, "malformed", "The request body is not valid JSON"


class ValidationFailed(Problem):
    status, slug, title = 422, "validation", "The request has invalid fields"


class Unauthenticated(Problem):
    status, slug, title = 401, "unauthenticated", "You need to log in"


class Forbidden(Problem):
    status, slug, title = 403, "forbidden", "You may not do this"


class NotFound(Problem):
    status, slug, title = 404, "not-found", "No such resource"


class MethodNotAllowed(Problem):
    status, slug, title = 405, "method-not-allowed", "This method is not allowed here"


class Conflict(Problem):
    status, slug, title = 409, "conflict", "This conflicts with the current state"


class InvalidState(Problem):
    status, slug, title = 409, "invalid-state", "Not possible in the resource's current state"


class TooLarge(Problem):
    status, slug, title = 413, "too-large", "The request is too large"


class UnsupportedMediaType(Problem):
    status, slug, title = 415, "unsupported-media-type", "Send application/json"


class RateLimited(Problem):
    status, slug, title = 429, "rate-limited", "Too many requests; try again later"


class InternalError(Problem):
    status, slug, title = 500, "internal", "Something went wrong on this node"


class Unavailable(Problem):
    status, slug, title = 503, "unavailable", "A service this node needs is not available"


_BY_STATUS: dict[int, type[Problem]] = {
    400: MalformedRequest,
    401: Unauthenticated,
    403: Forbidden,
    404: NotFound,
    405: MethodNotAllowed,
    413: TooLarge,
    415: UnsupportedMediaType,
    429: RateLimited,
}


def all_problem_types() -> dict[str, type[Problem]]:
    """Every problem kind known to the running code, by slug (for the docs and /problems)."""
    found: dict[str, type[Problem]] = {}
    pending: list[type[Problem]] = [Problem]
    while pending:
        cls = pending.pop()
        found.setdefault(cls.slug, cls)
        pending.extend(cls.__subclasses__())
    return found


def problem_response(problem: Problem) -> Response:
    """Serialise a problem as application/problem+json."""
    response = Response(json.dumps(problem.as_dict()), status=problem.status)
    response.mimetype = PROBLEM_JSON
    return response


def wants_problem_json() -> bool:
    """True where the client is a program: the API, the federation endpoints, JSON clients."""
    path = request.path
    if path.startswith(("/api/", "/federation/", "/.well-known/", "/problems/")):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json", PROBLEM_JSON])
    return best in ("application/json", PROBLEM_JSON)


def init_app(app: Flask) -> None:
    """Register the handlers that make every failure a problem document."""

    @app.errorhandler(Problem)
    def _problem(problem: Problem) -> Response:
        return problem_response(problem)

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Any:
        if not wants_problem_json():
            return exc
        code = exc.code or 500
        kind = _BY_STATUS.get(code, InternalError if code >= 500 else Problem)
        body = kind(exc.description).as_dict()
        body["status"] = code
        response = Response(json.dumps(body), status=code)
        response.mimetype = PROBLEM_JSON
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Any:
        # The client learns only that it failed; the details stay in this node's log.
        log.exception("unhandled error on %s %s", request.method, request.path)
        if app.config.get("PROPAGATE_EXCEPTIONS"):
            raise exc
        return problem_response(InternalError())
