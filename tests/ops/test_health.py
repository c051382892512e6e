"""/healthz checks the database and the broker and names what failed."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

from node import create_app
from node.errors import PROBLEM_JSON
from tests.conftest import REDIS_URL, TEST_SECRET


def dead_port() -> int:
    """A loopback port nothing listens on (bound then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_healthy_on_embedded_defaults(app_factory: Any) -> None:
    app = app_factory(broker_url=None)
    r = app.test_client().get("/healthz")
    assert r.status_code == 200, r.get_data(as_text=True)
    assert r.json == {"status": "ok", "checks": {"database": "ok", "broker": "ok"}}


def test_healthy_with_redis_broker(app_factory: Any) -> None:
    app = app_factory(broker_url=REDIS_URL or "redis://127.0.0.1:6379/15")
    r = app.test_client().get("/healthz")
    assert r.status_code == 200, r.get_data(as_text=True)


def test_broker_down(app_factory: Any) -> None:
    app = app_factory(broker_url=f"redis://127.0.0.1:{dead_port()}/0")
    r = app.test_client().get("/healthz")
    assert r.status_code == 503
    assert r.mimetype == PROBLEM_JSON
    assert r.json["type"] == "/problems/unavailable"
    assert r.json["checks"]["database"] == "ok"
    assert r.json["checks"]["broker"].startswith("unavailable")
    assert r.json["detail"].startswith("broker: unavailable")


def test_sqlalchemy_broker_down(app_factory: Any) -> None:
    app = app_factory(broker_url=f"sqla+postgresql+psycopg://postgres@127.0.0.1:{dead_port()}/broker")
    r = app.test_client().get("/healthz")
    assert r.status_code == 503
    assert "broker" in r.json["detail"]


def test_database_down(tmp_path: Path) -> None:
    # Built directly: the fixture's app would set the node up in the database first.
    app = create_app(
        {
            "env": "testing",
            "instance_path": tmp_path,
            "secret_key": TEST_SECRET,
            "database_url": f"postgresql+psycopg://postgres@127.0.0.1:{dead_port()}/mutualaid",
        }
    )
    r = app.test_client().get("/healthz")
    app.extensions["db"].dispose()
    assert r.status_code == 503
    assert r.json["checks"]["broker"] == "ok"
    assert r.json["checks"]["database"].startswith("unavailable")
    assert r.json["detail"].startswith("database: unavailable")
