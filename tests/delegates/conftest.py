"""A small region in one process: two neighbourhood nodes and a federation, each a full app
with its own database, joined through their real inboxes (tests/federation/network.py)."""

from __future__ import annotations

import itertools
import uuid
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from delegates import client
from delegates.models import Act, CouncilProposal, Mandate
from federation.catchup import pull
from federation.identity import local_identity
from node.db import Base, session_scope
from node.members import service as members
from tests.conftest import PASSWORD, Api
from tests.delegates.single_node import assembly, federation, ok, steward  # noqa: F401  (fixtures)
from tests.federation.conftest import network, node_database  # noqa: F401  (fixtures)
from tests.federation.network import Network

_handles = itertools.count(1)


def member(app: Flask, handle: str, is_steward: bool = False) -> Api:
    """A member of `app` with an API token."""
    with session_scope(app) as db:
        row = members.create_member(
            db, handle, handle.title(), f"{handle}.{next(_handles)}@example.org", PASSWORD
        )
        if is_steward:
            members.grant_steward(db, app.config["MUTUALAID"], None, handle, 30, "test")
        _, token = members.create_token(db, row, "tests")
    return Api(app.test_client(), token, handle)


class Delegate:
    """An elected delegate: their node's API as them, their mandate, and their private key."""

    def __init__(self, api: Api, credential: dict[str, Any], private_key: str) -> None:
        self.api = api
        self.credential = credential
        self.private_key = private_key

    @property
    def mandate_id(self) -> str:
        return str(self.credential["id"])

    def act(self, act: str, **fields: Any) -> dict[str, Any]:
        """A signed act of this delegate (not yet sent)."""
        return client.sign_act(self.private_key, self.credential, act, **fields)

    def vote(self, proposal: str, stance: str, reason: str = "") -> dict[str, Any]:
        return client.vote(self.private_key, self.credential, proposal, stance, reason)

    def send(self, act: dict[str, Any]) -> Any:
        """Submit a signed act through the delegate's own node."""
        return self.api.post(f"/mandates/{self.mandate_id}/acts", json={"act": act})


class Region:
    """Nodes north and south, members of the federation city."""

    def __init__(self, net: Network) -> None:
        self.net = net
        self.north = net.node("north")
        self.south = net.node("south")
        self.city = net.node("city", role="federation")
        net.join("north", "city")
        net.join("south", "city")
        net.pump()
        # South joined after the city introduced north: it catches up from the city's feed.
        pull(self.south, self.id("city"))
        self.stewards = {
            name: member(self.app(name), f"{name}_steward", is_steward=True)
            for name in ("north", "south", "city")
        }
        self.assemblies = {name: self._assembly(name) for name in ("north", "south")}

    def app(self, name: str) -> Flask:
        return self.net.nodes[name]

    def id(self, name: str) -> str:
        return local_identity(self.app(name)).node_id

    @property
    def federation(self) -> str:
        return self.id("city")

    def _assembly(self, name: str) -> dict[str, Any]:
        body = {"title": f"{name.title()} assembly", "method": "majority", "quorum_count": 1}
        return dict(ok(self.stewards[name].post("/assemblies", json=body), 201))

    def pump(self) -> int:
        return self.net.pump()

    def decide(self, name: str, proposal: dict[str, Any], voters: list[Api], stance: str = "for") -> Any:
        """Have the voters take a position and the steward close the proposal."""
        for voter in voters:
            ok(voter.post(f"/proposals/{proposal['id']}/positions", json={"stance": stance}), 201)
        return ok(self.stewards[name].post(f"/proposals/{proposal['id']}/close"))

    def elect(
        self,
        name: str,
        handle: str,
        scope: list[str] | None = None,
        positions: list[Any] | None = None,
        term_days: int = 30,
        own_key: bool = False,
    ) -> Delegate:
        """The node's assembly elects a member as delegate to the city; they take their key."""
        delegate = member(self.app(name), handle)
        body: dict[str, Any] = {
            "delegate": handle,
            "federation": self.federation,
            "scope": scope or ["relief"],
            "positions": positions or [],
            "term_days": term_days,
        }
        private_key = None
        if own_key:
            private_key, body["public_key"] = client.make_key()
        path = f"/assemblies/{self.assemblies[name]['id']}/mandate-proposals"
        proposal = ok(self.stewards[name].post(path, json=body), 201)
        decision = self.decide(name, proposal, [self.stewards[name], delegate])
        assert decision["outcome"] == "passed"
        mandates = ok(delegate.get("/mandates?mine=true"))["items"]
        assert len(mandates) == 1
        if own_key:
            assert mandates[0]["status"] == "live"
            credential = mandates[0]["credential"]
        else:
            issued = ok(delegate.post(f"/mandates/{mandates[0]['id']}/key", json={}), 201)
            private_key, credential = issued["private_key"], issued["mandate"]["credential"]
        assert private_key is not None
        return Delegate(delegate, credential, private_key)

    def open_proposal(self, topic: str = "relief", **fields: Any) -> dict[str, Any]:
        """The city's steward puts a question to the council."""
        body = {
            "title": "Share the generators",
            "text": "Pool the generators for the flood.",
            "topic": topic,
            "method": "majority",
            "quorum_count": 1,
            "quorum_percent": 0,
        }
        body.update(fields)
        return dict(ok(self.stewards["city"].post("/council/proposals", json=body), 201))

    def council(self, name: str, proposal_id: str) -> dict[str, Any]:
        """How a node sees a council proposal."""
        return dict(ok(self.stewards[name].get(f"/council/proposals/{proposal_id}")))


@pytest.fixture
def region(network: Network) -> Region:  # noqa: F811
    return Region(network)


def count(app: Flask, model: type[Base], *where: Any) -> int:
    """Rows of a model on a node."""
    with session_scope(app) as db:
        return int(db.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def counts(app: Flask) -> dict[str, int]:
    """The delegation rows a node holds: what an attack must leave unchanged."""
    return {
        "mandates": count(app, Mandate),
        "acts": count(app, Act),
        "proposals": count(app, CouncilProposal),
    }


def act_row(app: Flask, act_id: str) -> Act | None:
    with session_scope(app) as db:
        row = db.get(Act, uuid.UUID(act_id))
        if row is not None:
            db.expunge(row)
        return row
