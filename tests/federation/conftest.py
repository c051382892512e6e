"""Fixtures for protocol tests: several nodes, each with its own database, joined in-process."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import text

from node.db import Database
from node.migrate import upgrade
from tests.conftest import PG_URL, _fresh_pg_database, _worker
from tests.federation.network import Network


@pytest.fixture(scope="session")
def node_database(database_url: str) -> Callable[[int], str | None]:
    """The database URL of the n-th node of a test on PostgreSQL (None on SQLite: each app
    already gets its own copy of the template file)."""
    urls: dict[int, str] = {0: database_url}

    def get(index: int) -> str | None:
        if not PG_URL:
            return None
        if index not in urls:
            prefix = os.environ.get("MUTUALAID_TEST_DB_PREFIX", "mutualaid")
            url = _fresh_pg_database(PG_URL, f"{prefix}_{_worker()}_n{index}")
            database = Database(url)
            with database.engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
            upgrade(database)
            database.dispose()
            urls[index] = url
        return urls[index]

    return get


@pytest.fixture
def network(app_factory: Any, node_database: Callable[[int], str | None]) -> Network:
    """Nodes made with `network.node(name, **settings)`, reachable as http://<name>.test."""
    counter = itertools.count()

    def make(name: str, **settings: Any) -> Flask:
        url = node_database(next(counter))
        if url:
            settings["database_url"] = url
        app: Flask = app_factory(**settings)
        return app

    return Network(make)
