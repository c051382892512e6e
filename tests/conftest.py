"""Fixtures shared by every test: a fresh node app per test on SQLite or PostgreSQL.

Set MUTUALAID_TEST_DATABASE_URL to run on PostgreSQL (each xdist worker gets its own database)
and MUTUALAID_TEST_REDIS_URL to keep rate limits in Redis. When they are set and the service is
down, tests fail: they never skip.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from node import create_app
from node.db import Base, Database, session_scope
from node.members import service as members
from node.migrate import upgrade
from node.resources.categories import ensure_builtin
from node.signals import node_initialised

TEST_SECRET = "test-secret-" + "x" * 40
PG_URL = os.environ.get("MUTUALAID_TEST_DATABASE_URL")
REDIS_URL = os.environ.get("MUTUALAID_TEST_REDIS_URL")
PASSWORD = "correct horse battery staple"


def _worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated database for this test process: a template SQLite file, or a PG database."""
    if PG_URL:
        prefix = os.environ.get("MUTUALAID_TEST_DB_PREFIX", "mutualaid")
        url = _fresh_pg_database(PG_URL, f"{prefix}_{_worker()}")
        database = Database(url)
        with database.engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        upgrade(database)
        database.dispose()
        yield url
        return
    template = tmp_path_factory.mktemp("template") / "template.sqlite3"
    database = Database(f"sqlite:///{template}")
    upgrade(database)
    database.dispose()
    yield f"sqlite:///{template}"


def _fresh_pg_database(base_url: str, name: str) -> str:
    url = make_url(base_url)
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
        if not exists:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


@pytest.fixture
def app_factory(database_url: str, tmp_path: Path) -> Iterator[Any]:
    """Build node apps for this test; each gets a clean database."""
    apps: list[Flask] = []

    def make(**overrides: Any) -> Flask:
        instance = tmp_path / f"instance{len(apps)}"
        instance.mkdir()
        url = database_url
        if not PG_URL:
            shutil.copy(database_url.removeprefix("sqlite:///"), instance / "mutualaid.sqlite3")
            url = f"sqlite:///{instance / 'mutualaid.sqlite3'}"
        config: dict[str, Any] = {
            "env": "testing",
            "instance_path": instance,
            "database_url": url,
            "secret_key": TEST_SECRET,
            "public_url": "http://node.test",
            "join_policy": "open",
            "redis_url": REDIS_URL,
        }
        config.update(overrides)
        app = create_app(config)
        app.config["RATELIMIT_KEY_PREFIX"] = f"test-{uuid.uuid4().hex}"
        if PG_URL:
            _clean_pg(app)
        node_initialised.send(app)
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.extensions["db"].dispose()


def _clean_pg(app: Flask) -> None:
    # DELETE, children first, rather than TRUNCATE: a test leaves a handful of rows, and
    # TRUNCATE makes new files for every table (seconds per test for all of them).
    with app.extensions["db"].engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())
    with session_scope(app) as db:
        ensure_builtin(db)


@pytest.fixture
def app(app_factory: Any) -> Flask:
    return app_factory()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> Any:
    return app.test_cli_runner()


class Api:
    """A test client that speaks JSON with one member's bearer token."""

    def __init__(self, client: FlaskClient, token: str | None, handle: str) -> None:
        self.client = client
        self.token = token
        self.handle = handle

    def _headers(self, extra: dict[str, str] | None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        headers.update(extra or {})
        return headers

    def get(self, path: str, **kw: Any) -> Any:
        return self.client.get("/api/v1" + path, headers=self._headers(kw.pop("headers", None)), **kw)

    def post(self, path: str, json: Any = None, **kw: Any) -> Any:
        headers = self._headers(kw.pop("headers", None))
        if json is None and "data" not in kw:
            json = {}
        return self.client.post("/api/v1" + path, json=json, headers=headers, **kw)

    def patch(self, path: str, json: Any = None, **kw: Any) -> Any:
        headers = self._headers(kw.pop("headers", None))
        return self.client.patch("/api/v1" + path, json=json, headers=headers, **kw)

    def delete(self, path: str, **kw: Any) -> Any:
        return self.client.delete("/api/v1" + path, headers=self._headers(kw.pop("headers", None)), **kw)


@pytest.fixture
def make_member(app: Flask) -> Any:
    """Create a member with an API token; returns an Api client acting as them."""
    counter = iter(range(1, 10_000))

    def make(handle: str | None = None, steward: bool = False, target: Flask | None = None) -> Api:
        target = target or app
        n = next(counter)
        handle = handle or f"member{n}"
        with session_scope(target) as db:
            member = members.create_member(db, handle, handle.title(), f"{handle}@example.org", PASSWORD)
            if steward:
                members.grant_steward(db, target.config["MUTUALAID"], None, handle, 30, "test")
            _, token = members.create_token(db, member, "tests")
        return Api(target.test_client(), token, handle)

    return make
