"""Every API operation fed examples generated from the OpenAPI document: no 5xx, and every 4xx
is problem+json with a detail that says why.

EXAMPLES per operation is what keeps the run affordable: 6 examples for each of the document's
operations take about a minute on the project's two shared cores."""

from __future__ import annotations

import json
from typing import Any

import schemathesis
from flask import Flask
from hypothesis import HealthCheck, Phase, given, settings

EXAMPLES = 6


def content_type(response: Any) -> str:
    headers = {key.lower(): value for key, value in response.headers.items()}
    value = headers.get("content-type", "")
    return str(value[0] if isinstance(value, list) and value else value)


def problem_detail(response: Any) -> str:
    try:
        body = json.loads(response.content or b"{}")
    except ValueError:
        return ""
    return str(body.get("detail") or body.get("title") or "") if isinstance(body, dict) else ""


def test_every_operation_answers_generated_requests_without_a_5xx(app: Flask, make_member: Any) -> None:
    token = make_member("ana", steward=True).token
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert operations
    failures: list[str] = []
    calls: dict[str, int] = {}
    for operation in operations:

        @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                  phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
        @given(operation.as_strategy())
        def call(case: Any) -> None:
            response = case.call(headers={"Authorization": f"Bearer {token}"})
            label = f"{case.method} {case.formatted_path}"
            calls[case.operation.label] = calls.get(case.operation.label, 0) + 1
            if response.status_code >= 500:
                failures.append(f"{label}: {response.status_code}")
            elif response.status_code >= 400 and "problem+json" not in content_type(response):
                failures.append(f"{label}: {response.status_code} {content_type(response)}")
            elif response.status_code >= 400 and not problem_detail(response):
                failures.append(f"{label}: {response.status_code} without a detail")

        call()
    assert sorted(set(failures)) == []
    # Every operation was really driven, not skipped by a strategy that could not generate.
    assert sorted(calls) == sorted(operation.label for operation in operations)
    assert sum(calls.values()) >= len(operations) * 2, (len(operations), sum(calls.values()))
