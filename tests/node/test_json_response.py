"""The API writes plain data with orjson, and must say exactly what Flask's own JSON would."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

from flask import Flask

from node.api.operations import json_response


def test_json_response_writes_what_flask_would(app: Flask) -> None:
    data = {
        "id": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "when": datetime(2026, 11, 21, 10, 30, 5, 123456, tzinfo=UTC),
        "day": date(2026, 11, 21),
        "amount": Decimal("2.50"),
        "items": [{"n": 1, "ok": True, "none": None}, "text with ñ and \u2028"],
        3: "a key that is not text",
    }
    with app.app_context():
        response = json_response(data, 201)
        assert response.status_code == 201
        assert response.mimetype == "application/json"
        assert json.loads(response.get_data()) == json.loads(app.json.dumps(data, sort_keys=False))
        assert json_response(None).status_code == 204
