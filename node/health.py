"""Liveness and the problem-type pages that problem documents point to."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, json
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from node.db import get_session
from node.errors import PROBLEM_JSON, NotFound, Unavailable, all_problem_types

bp = Blueprint("health", __name__)
# A health check must answer quickly even when a service hangs rather than refuses.
CHECK_TIMEOUT = 3.0


@bp.get("/healthz")
def healthz() -> Any:
    """200 when the database and the broker answer; 503 problem+json naming what failed."""
    checks = {"database": _check(_database), "broker": _check(_broker)}
    failed = {name: result for name, result in checks.items() if result != "ok"}
    if not failed:
        return {"status": "ok", "checks": checks}
    detail = "; ".join(f"{name}: {result}" for name, result in failed.items())
    body = Unavailable(detail).as_dict()
    body["checks"] = checks
    response = Response(json.dumps(body), status=503)
    response.mimetype = PROBLEM_JSON
    return response


def _check(probe: Any) -> str:
    try:
        probe()
    except Exception as exc:  # any failure of a dependency means unhealthy, which is the answer
        return f"unavailable ({type(exc).__name__})"
    return "ok"


def _database() -> None:
    session = get_session()
    try:
        session.execute(text("SELECT 1"))
    finally:
        session.rollback()


def _broker() -> None:
    url: str = current_app.config["MUTUALAID"].celery_broker_url
    if url.startswith(("redis://", "rediss://", "unix://")):
        import redis

        client = redis.Redis.from_url(url, socket_connect_timeout=CHECK_TIMEOUT, socket_timeout=CHECK_TIMEOUT)
        try:
            client.ping()
        finally:
            client.close()
    elif url.startswith("sqla+"):
        _select_one(url.removeprefix("sqla+"))
    else:
        from kombu import Connection

        with Connection(url, connect_timeout=CHECK_TIMEOUT) as conn:
            conn.ensure_connection(max_retries=1)


def _select_one(url: str) -> None:
    # No pool: a check every few seconds must not hold connections to the broker's database.
    args = {"timeout": CHECK_TIMEOUT} if url.startswith("sqlite") else {"connect_timeout": int(CHECK_TIMEOUT)}
    engine = create_engine(url, poolclass=NullPool, connect_args=args)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    finally:
        engine.dispose()


@bp.get("/problems/<slug>")
def problem_type(slug: str) -> Any:
    """What a problem `type` means, so that the URI in a problem document leads somewhere."""
    kind = all_problem_types().get(slug)
    if kind is None:
        raise NotFound("no such problem type")
    return {"type": f"/problems/{slug}", "title": kind.title, "status": kind.status}
