"""Every API operation fed examples generated from the OpenAPI document: no 5xx, and every 4xx
is problem+json with a detail that says why.

EXAMPLES per operation is what keeps the run affordable: 6 examples for each of the document's
operations take about a minute on the project's two shared cores."""

from __future__ import annotations

import json
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, Phase, given, settings

from tests.federation.network import row_counts

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


def test_every_operation_answers_generated_requests_without_a_5xx(
    app: Flask, make_member: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    token = make_member("ana", steward=True).token
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert operations
    failures: list[str] = []
    answers: dict[str, list[int]] = {}
    unchanged = 0
    for operation in operations:
        before = row_counts(app)

        @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                  phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
        @given(operation.as_strategy())
        def call(case: Any) -> None:
            response = case.call(headers={"Authorization": f"Bearer {token}"})
            label = f"{case.method} {case.formatted_path}"
            answers.setdefault(case.operation.label, []).append(response.status_code)
            if response.status_code >= 500:
                failures.append(f"{label}: {response.status_code}")
            elif response.status_code >= 400 and "problem+json" not in content_type(response):
                failures.append(f"{label}: {response.status_code} {content_type(response)}")
            elif response.status_code >= 400 and not problem_detail(response):
                failures.append(f"{label}: {response.status_code} without a detail")

        call()
        statuses = answers.get(operation.label, [])
        if statuses and all(400 <= status < 500 for status in statuses):
            # Every example refused: nothing may have been written.
            changed = {name for name, rows in row_counts(app).items() if before.get(name) != rows}
            if changed:
                failures.append(f"{operation.label}: refused every example but changed {sorted(changed)}")
            unchanged += 1
    assert sorted(set(failures)) == []
    # Every operation was really driven, not skipped by a strategy that could not generate.
    assert sorted(answers) == sorted(operation.label for operation in operations)
    total = sum(len(statuses) for statuses in answers.values())
    assert total >= len(operations) * 2, (len(operations), total)
    assert unchanged >= len(operations) // 4, unchanged
    with capsys.disabled():  # the volume, in the run's output
        print(f"\nAPI fuzz: {len(operations)} operations, {total} requests; {unchanged} operations refused "
              "every example and were checked to have written nothing")
