"""Bad input on every assemblies and delegates endpoint, generated from their declarations: each
gets a 4xx problem with a stable type, never a 500, and leaves every table as it was."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask

from delegates import api as delegates_api
from node.api.operations import Operation
from node.assemblies import api as assemblies_api
from tests.conftest import Api
from tests.node.factories import PROBLEM_JSON, row_counts

OPS: list[Operation] = [*assemblies_api.bp.operations, *delegates_api.bp.operations]
FAKE_ID = "0b5e4c5e-1d1e-4c3a-9d3a-5a8f3c2b1a00"


def _path(op: Operation, value: str = FAKE_ID) -> str:
    return re.sub(r"<uuid:[a-z_]+>", value, op.rule)


def _check(response: Any, status: int | tuple[int, ...], slug: str | None = None) -> dict[str, Any]:
    wanted = (status,) if isinstance(status, int) else status
    assert response.status_code in wanted, (response.status_code, response.get_data(as_text=True))
    assert response.mimetype == PROBLEM_JSON
    body: dict[str, Any] = response.get_json(force=True)
    if slug:
        assert body["type"] == f"/problems/{slug}", body
    return body


@pytest.fixture
def steward(make_member: Any) -> Api:
    api: Api = make_member("alice", steward=True)
    return api


@pytest.mark.parametrize("op", OPS, ids=lambda op: f"{op.method} {op.rule}")
def test_bad_input_is_refused_and_changes_nothing(
    app: Flask, client: Any, steward: Api, op: Operation
) -> None:
    before = row_counts(app)
    anonymous = Api(client, None, "nobody")
    _check(anonymous.client.open("/api/v1" + _path(op), method=op.method, json={}), 401, "unauthenticated")
    if "<uuid:" in op.rule:
        _check(steward.client.open("/api/v1" + _path(op, "not-a-uuid"), method=op.method,
                                   headers=steward._headers(None)), (404, 405))
        body = {} if op.body is not None else None
        _check(steward.client.open("/api/v1" + _path(op), method=op.method, json=body,
                                   headers=steward._headers(None)), (404, 422))
    if op.body is not None:
        url = "/api/v1" + _path(op)
        headers = steward._headers(None)
        _check(steward.client.open(url, method=op.method, data="{", content_type="application/json",
                                   headers=headers), (400, 404), None)
        _check(steward.client.open(url, method=op.method, data="x=1", headers=headers), (415, 404), None)
        unexpected = steward.client.open(url, method=op.method, json={"unexpected": 1}, headers=headers)
        _check(unexpected, (404, 422))
        _check(steward.client.open(url, method=op.method, json=[], headers=headers), (404, 422))
    if op.query is not None:
        _check(steward.client.open("/api/v1" + _path(op) + "?per_page=0&bogus=1", method=op.method,
                                   headers=steward._headers(None)), (404, 422))
    assert row_counts(app) == before


def test_every_operation_is_covered() -> None:
    assert len(OPS) >= 30
