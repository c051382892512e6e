"""Every API operation fed examples generated from the OpenAPI document: no 5xx, and every 4xx
is problem+json."""

from __future__ import annotations

from typing import Any

import schemathesis
from flask import Flask
from hypothesis import HealthCheck, Phase, given, settings

EXAMPLES = 2


def content_type(response: Any) -> str:
    headers = {key.lower(): value for key, value in response.headers.items()}
    value = headers.get("content-type", "")
    return str(value[0] if isinstance(value, list) and value else value)


def test_every_operation_answers_generated_requests_without_a_5xx(app: Flask, make_member: Any) -> None:
    token = make_member("ana", steward=True).token
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert operations
    failures: list[str] = []
    for operation in operations:

        @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                  phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
        @given(operation.as_strategy())
        def call(case: Any) -> None:
            response = case.call(headers={"Authorization": f"Bearer {token}"})
            label = f"{case.method} {case.formatted_path}"
            if response.status_code >= 500:
                failures.append(f"{label}: {response.status_code}")
            elif response.status_code >= 400 and "problem+json" not in content_type(response):
                failures.append(f"{label}: {response.status_code} {content_type(response)}")

        call()
    assert sorted(set(failures)) == []
