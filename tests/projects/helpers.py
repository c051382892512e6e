"""Shared steps for the projects tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask
from sqlalchemy import func, select

from node.db import session_scope

CELL = "881f1d4815fffff"


def soon(days: int = 1, hour: int = 18) -> datetime:
    """A time some days from now, at a round hour (UTC)."""
    base = datetime.now(UTC).replace(minute=0, second=0, microsecond=0, hour=hour)
    return base + timedelta(days=days)


def make_project(api: Any, slug: str = "kitchen", template: str | None = None, **kw: Any) -> dict[str, Any]:
    body = {"name": slug.title(), "slug": slug, "create_shifts": False, **kw}
    if template:
        body["template"] = template
    r = api.post("/projects", json=body)
    assert r.status_code == 201, r.json
    return dict(r.json)


def join(api: Any, project: dict[str, Any], **kw: Any) -> None:
    r = api.client.put(
        f"/api/v1/projects/{project['id']}/membership",
        json=kw,
        headers={"Authorization": f"Bearer {api.token}"},
    )
    assert r.status_code == 200, r.json


def add_role(api: Any, project: dict[str, Any], name: str, **kw: Any) -> dict[str, Any]:
    r = api.post(f"/projects/{project['id']}/roles", json={"name": name, **kw})
    assert r.status_code == 201, r.json
    return dict(r.json)


def add_shift(
    api: Any, project: dict[str, Any], role: dict[str, Any], start: datetime, hours: int = 2, slots: int = 1
) -> dict[str, Any]:
    body = {
        "role_id": role["id"],
        "starts_at": start.isoformat(),
        "ends_at": (start + timedelta(hours=hours)).isoformat(),
        "slots": slots,
    }
    r = api.post(f"/projects/{project['id']}/shifts", json=body)
    assert r.status_code == 201, r.json
    return dict(r.json)


def count(app: Flask, model: Any) -> int:
    """Rows of a table, to prove a refused request wrote nothing."""
    with session_scope(app) as db:
        return int(db.scalar(select(func.count()).select_from(model)) or 0)


def problem(r: Any, status: int, field: str | None = None, contains: str = "") -> dict[str, Any]:
    """Assert a problem+json response, naming the field and reason."""
    assert r.status_code == status, (r.status_code, r.json)
    assert r.mimetype == "application/problem+json"
    body = dict(r.json)
    if field is not None:
        reasons = [e["reason"] for e in body.get("errors", []) if e["field"] == field]
        assert reasons, body
        assert any(contains in reason for reason in reasons), body
    return body
