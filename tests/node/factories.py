"""Request bodies and small helpers shared by the node tests."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from flask import Flask
from sqlalchemy import func, select, update

from node.db import Base, session_scope, utcnow

CELL = "881f1d4815fffff"  # resolution 8, in Berlin
FINE_CELL = "8b1f1d481400fff"  # resolution 11, the centre child of CELL
PROBLEM_JSON = "application/problem+json"


def need(**kw: Any) -> dict[str, Any]:
    """A valid need body; keyword arguments replace fields."""
    body: dict[str, Any] = {
        "category": "food",
        "title": "Rice for 4",
        "quantity": 2,
        "unit": "kg",
        "urgency": "urgent",
        "h3_cell": CELL,
    }
    body.update(kw)
    return body


def offer(**kw: Any) -> dict[str, Any]:
    """A valid offer body; keyword arguments replace fields."""
    body: dict[str, Any] = {
        "category": "food",
        "title": "Spare rice",
        "quantity": 5,
        "unit": "kg",
        "urgency": "routine",
        "h3_cell": CELL,
    }
    body.update(kw)
    return body


def iso(moment: datetime) -> str:
    return moment.isoformat()


def later(**kw: float) -> str:
    """An ISO time this far from now."""
    return iso(utcnow() + timedelta(**kw))


def set_columns(app: Flask, model: type[Base], row_id: Any, **values: Any) -> None:
    """Change stored columns directly, as time passing or another process would."""
    key = uuid.UUID(row_id) if isinstance(row_id, str) else row_id
    with session_scope(app) as db:
        db.execute(update(model).where(model.id == key).values(**values))  # type: ignore[attr-defined]


def row_counts(app: Flask) -> dict[str, int]:
    """How many rows each table holds."""
    with session_scope(app) as db:
        return {
            table.name: db.scalar(select(func.count()).select_from(table)) or 0
            for table in Base.metadata.sorted_tables
        }


def assert_problem(response: Any, status: int, slug: str, field: str | None = None) -> dict[str, Any]:
    """Check a problem+json answer: status, stable type and, if given, the field at fault."""
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True))
    assert response.mimetype == PROBLEM_JSON, response.mimetype
    body: dict[str, Any] = response.get_json(force=True)
    assert body["type"] == f"/problems/{slug}", body
    assert body["status"] == status
    if field is not None:
        fields = [error["field"] for error in body.get("errors", [])]
        assert field in fields, body
    return body


def poll(condition: Callable[[], Any], timeout: float = 10.0) -> Any:
    """Wait for a condition to become true, with a deadline instead of a fixed sleep."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)
