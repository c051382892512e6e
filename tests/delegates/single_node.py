"""One node with a federation it belongs to (never reached): fixtures and helpers for the
tests of electing and recalling delegates on the issuing node."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from federation.models import Envelope, Peer, Relation
from node.db import session_scope
from tests.conftest import Api
from tests.federation.outbox_support import new_node_id


def ok(response: Any, status: int = 200) -> Any:
    """The JSON of a response that must have the given status."""
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True))
    return response.get_json()


@pytest.fixture
def federation(app: Flask) -> str:
    """A federation this node is a member of (never reached: no URL)."""
    node_id = new_node_id()
    with session_scope(app) as db:
        db.add(Peer(id=node_id, name="city", url=None, relation=Relation.FEDERATION, fingerprint="x"))
    return node_id


@pytest.fixture
def steward(make_member: Any) -> Api:
    api: Api = make_member("facilitator", steward=True)
    return api


@pytest.fixture
def assembly(steward: Api) -> dict[str, Any]:
    body = {"title": "Assembly", "method": "majority", "delegate_max_terms": 2, "delegate_term_days": 60}
    return dict(ok(steward.post("/assemblies", json=body), 201))


def propose(api: Api, assembly: dict[str, Any], federation: str, **fields: Any) -> Any:
    body = {"delegate": "nadia", "federation": federation, "scope": ["relief"], "term_days": 30}
    body.update(fields)
    return api.post(f"/assemblies/{assembly['id']}/mandate-proposals", json=body)


def decide(steward: Api, proposal: dict[str, Any], stance: str = "for") -> dict[str, Any]:
    ok(steward.post(f"/proposals/{proposal['id']}/positions", json={"stance": stance}), 201)
    return dict(ok(steward.post(f"/proposals/{proposal['id']}/close")))


def envelopes(app: Flask, type: str) -> list[dict[str, Any]]:
    with session_scope(app) as db:
        return [json.loads(r) for r in db.scalars(select(Envelope.raw).where(Envelope.type == type))]
