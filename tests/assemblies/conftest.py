"""Helpers for assembly tests: an assembly convened by a steward, and its proposals."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api


class Assemblies:
    """Convene assemblies and put proposals through the API, checking each step worked."""

    def __init__(self, steward: Api) -> None:
        self.steward = steward

    def convene(self, **fields: Any) -> dict[str, Any]:
        body = {"title": "Neighbourhood assembly", "method": "majority"}
        body.update(fields)
        response = self.steward.post("/assemblies", json=body)
        assert response.status_code == 201, response.get_json()
        result: dict[str, Any] = response.get_json()
        return result

    @staticmethod
    def propose(member: Api, assembly_id: str, **fields: Any) -> dict[str, Any]:
        body = {"title": "Open a tool library", "text": "We open a tool library in the hall."}
        body.update(fields)
        response = member.post(f"/assemblies/{assembly_id}/proposals", json=body)
        assert response.status_code == 201, response.get_json()
        result: dict[str, Any] = response.get_json()
        return result

    @staticmethod
    def take(member: Api, proposal_id: str, stance: str, reason: str = "") -> Any:
        return member.post(f"/proposals/{proposal_id}/positions", json={"stance": stance, "reason": reason})


@pytest.fixture
def steward(make_member: Any) -> Api:
    api: Api = make_member("facilitator", steward=True)
    return api


@pytest.fixture
def assemblies(steward: Api) -> Assemblies:
    return Assemblies(steward)
