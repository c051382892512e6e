"""Applying the clock: the one function behind `mutualaid close-due` and the worker's timer."""

from __future__ import annotations

from flask import Flask

from delegates import council
from node.assemblies import service
from node.db import session_scope


def close_due(app: Flask) -> tuple[int, int]:
    """Open and close assemblies whose time came, decide proposals whose closing time passed
    and, at a federation, close council proposals; returns (proposals decided, council
    proposals closed). Safe to run twice: what is decided is no longer due."""
    with app.app_context(), session_scope(app) as db:
        decided = service.close_due(db)
        closed = council.close_due(db, app)
    return decided, closed
