"""Shared bits of the format tests."""

from __future__ import annotations

from typing import Any

import h3

CELL = h3.latlng_to_cell(50.9375, 6.9603, 8)  # Cologne, resolution 8
OTHER = h3.grid_ring(CELL, 2)[0]


def listing(**kw: Any) -> dict[str, Any]:
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


def post(api: Any, plural: str, **kw: Any) -> dict[str, Any]:
    r = api.post(f"/{plural}", json=listing(**kw))
    assert r.status_code == 201, r.json
    result: dict[str, Any] = r.json
    return result
