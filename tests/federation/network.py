"""Several node apps in one process, joined by an in-process HTTP transport.

Each node is a full app with its own database (its own SQLite file, or its own PostgreSQL
database). The transport hands a request for `http://<name>.test/...` to that node's test
client, so every byte crosses the real views, signatures and checks; only the socket is left
out. `pump` drains every outbox with the outbox's own drain until nothing is queued.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from flask import Flask
from sqlalchemy import func, inspect, select, table

from federation import keys
from federation.http import TRANSPORT, HttpResponse
from federation.identity import local_identity
from federation.models import Delivery, Peer, Relation
from federation.outbox import drain_peer
from federation.peers import add_peer
from node.db import session_scope
from node.members import service as members
from tests.conftest import Api


class Network:
    """Nodes by name, the transport between them, and helpers to join and pump them."""

    def __init__(self, make_app: Callable[..., Flask]) -> None:
        self._make_app = make_app
        self.nodes: dict[str, Flask] = {}
        self.down: set[str] = set()
        self.sent: dict[str, list[str]] = {}  # request bodies by the node id that sent them

    def node(self, name: str, **settings: Any) -> Flask:
        """A new node reachable at http://<name>.test."""
        settings.setdefault("node_name", name)
        app = self._make_app(name=name, public_url=f"http://{name}.test", **settings)
        app.extensions[TRANSPORT] = self.transport
        self.nodes[name] = app
        return app

    def transport(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | None, timeout: float
    ) -> HttpResponse:
        import requests

        parts = urlsplit(url)
        name = parts.netloc.removesuffix(".test")
        if name not in self.nodes or name in self.down:
            raise requests.ConnectionError(f"{parts.netloc} is not reachable")
        sender = headers.get("Mutualaid-Node", "")
        self.sent.setdefault(sender, []).append((body or b"").decode("utf-8"))
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        response = self.nodes[name].test_client().open(path, method=method, headers=dict(headers), data=body)
        return HttpResponse(response.status_code, response.get_data(), dict(response.headers))

    def id(self, name: str) -> str:
        return local_identity(self.nodes[name]).node_id

    def name_of(self, node_id: str) -> str:
        return next(name for name in self.nodes if self.id(name) == node_id)

    def fingerprint(self, name: str) -> str:
        return keys.fingerprint(local_identity(self.nodes[name]).public_key)

    def add(self, who: str, whom: str, relation: Relation = Relation.PEER) -> None:
        """`who` adds `whom` by URL with the right fingerprint, as an operator would."""
        app = self.nodes[who]
        with app.app_context(), session_scope(app) as db:
            add_peer(db, app, f"http://{whom}.test", self.fingerprint(whom), relation)

    def peer(self, a: str, b: str) -> None:
        """Two neighbourhood nodes that peer directly, both ways."""
        self.add(a, b)
        self.add(b, a)

    def join(self, member: str, federation: str) -> None:
        """A node joins a federation: each adds the other."""
        self.add(member, federation, Relation.FEDERATION)
        self.add(federation, member, Relation.MEMBER)

    def queued(self, name: str) -> int:
        app = self.nodes[name]
        with session_scope(app) as db:
            return int(db.scalar(select(func.count()).select_from(Delivery)) or 0)

    def pump(self, rounds: int = 20) -> int:
        """Drain every node's outbox to its peers until nothing moves; returns envelopes sent."""
        sent = 0
        for _ in range(rounds):
            moved = 0
            for name, app in self.nodes.items():
                if name in self.down:
                    continue
                with session_scope(app) as db:
                    peer_ids = list(db.scalars(select(Delivery.peer_id).distinct()))
                for peer_id in peer_ids:
                    result = drain_peer(app, peer_id, budget=30, force=True)
                    moved += result.sent
            sent += moved
            if moved == 0:
                return sent
        raise AssertionError("the network did not settle")


def post_batch(app: Flask, envelopes: list[Any], hop: str | None = None) -> Any:
    """POST a batch to a node's inbox; returns the test response."""
    headers = {"Mutualaid-Node": hop} if hop else {}
    return app.test_client().post(
        "/federation/inbox",
        data=json.dumps({"envelopes": envelopes}),
        content_type="application/json",
        headers=headers,
    )


def row_counts(app: Flask) -> dict[str, int]:
    """How many rows each table of the node's database holds."""
    engine = app.extensions["db"].engine
    names = [name for name in inspect(engine).get_table_names() if name != "alembic_version"]
    with engine.connect() as conn:
        return {name: int(conn.scalar(select(func.count()).select_from(table(name))) or 0) for name in names}


def member(app: Flask, handle: str) -> Api:
    with session_scope(app) as db:
        person = members.create_member(
            db, handle, "Ana Secret-Surname", f"{handle}@private.example", "correct horse battery staple"
        )
        person.phone = "+49 30 1234567"
        _, token = members.create_token(db, person, "tests")
    return Api(app.test_client(), token, handle)


def known(app: Flask, node_id: str) -> Peer | None:
    with session_scope(app) as db:
        peer = db.get(Peer, node_id)
        if peer is not None:
            db.expunge(peer)
        return peer
