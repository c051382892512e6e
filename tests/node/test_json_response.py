"""The API writes plain data with orjson, and must say exactly what Flask's own JSON would."""

from __future__ import annotations

import dataclasses
import json
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask

from node.api.operations import json_response


@dataclasses.dataclass
class Shown:
    name: str
    _kept_too: int


CASES: dict[str, Any] = {
    "common types": {
        "id": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "when": datetime(2026, 11, 21, 10, 30, 5, 123456, tzinfo=UTC),
        "day": date(2026, 11, 21),
        "amount": Decimal("2.50"),
        "items": [{"n": 1, "ok": True, "none": None, "x": 0.1}, "text with ñ and \u2028"],
        3: "a key that is not text",
    },
    "a dataclass": {"shown": Shown("drill", 2)},
    # Only the standard library writes these two: they must not become a 500.
    "an integer beyond 64 bits": {"answer": 10**29},
    "a lone surrogate": {"refused": [{"id": "\ud800x", "reason": "bad id"}]},
}


@pytest.mark.parametrize("data", CASES.values(), ids=CASES.keys())
def test_json_response_writes_what_flask_would(app: Flask, data: Any) -> None:
    with app.app_context():
        response = json_response(data, 201)
        assert response.status_code == 201
        assert response.mimetype == "application/json"
        assert json.loads(response.get_data()) == json.loads(app.json.dumps(data, sort_keys=False))


def test_no_content(app: Flask) -> None:
    with app.app_context():
        assert json_response(None).status_code == 204
