"""Rate limits, kept in Redis when the node has it so that every worker process shares them."""

from __future__ import annotations

import contextlib

from flask import Flask
from flask_limiter import Limiter, RequestLimit
from flask_limiter.util import get_remote_address

from node.errors import RateLimited, problem_response

limiter = Limiter(key_func=get_remote_address, default_limits=[], headers_enabled=True)


def init_app(app: Flask) -> None:
    """Configure the limiter's storage from the settings and answer 429 as a problem."""
    settings = app.config["MUTUALAID"]
    app.config.setdefault("RATELIMIT_STORAGE_URI", settings.redis_url or "memory://")
    app.config.setdefault("RATELIMIT_KEY_PREFIX", "mutualaid")
    app.config["RATELIMIT_ON_BREACH_CALLBACK"] = _breach
    limiter.init_app(app)
    # No limit applies to every request: each limited view checks its own limit when it is
    # called. The per-request check would find nothing, at a cost on every API call.
    with contextlib.suppress(KeyError, ValueError):
        app.before_request_funcs[None].remove(limiter._check_request_limit)


def _breach(limit: RequestLimit) -> object:
    return problem_response(RateLimited(f"rate limit exceeded: {limit.limit}"))
