"""Backup and restore: every row, the node key, the secret and uploads come back, on either database."""

from __future__ import annotations

import json
import os
import stat
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from node import backup, create_app
from node.cli import cli
from node.db import Database, session_scope
from node.members.models import Member
from node.migrate import all_metadata
from tests.conftest import PG_URL, TEST_SECRET

CELL = "881f1d4815fffff"


def populate(app: Flask, make_member: Any) -> None:
    """A node with members, a steward, needs and offers, a peer and an uploaded file."""
    alice = make_member("alice", steward=True)
    bob = make_member("bob")
    for who, kind, title in (
        (alice, "needs", "Rice for 4"),
        (bob, "offers", "Spare blankets"),
        (bob, "needs", "Ride to the clinic"),
    ):
        r = who.post(
            f"/{kind}",
            json={
                "category": "food",
                "title": title,
                "quantity": 2,
                "unit": "kg",
                "urgency": "soon",
                "h3_cell": CELL,
                "description": "Ünïcode ✓",
            },
        )
        assert r.status_code == 201, r.json
    uploads = Path(app.instance_path) / "uploads" / "stories"
    uploads.mkdir(parents=True)
    (uploads / "photo.jpg").write_bytes(bytes(range(256)) * 10)


def snapshot(url: str) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table, as portable JSON, for comparing two databases."""
    database = Database(url)
    try:
        with database.engine.connect() as conn:
            return {
                table.name: sorted(
                    (
                        json.dumps({k: backup.encode(v) for k, v in row.items()}, sort_keys=True)
                        for row in conn.execute(select(table)).mappings()
                    ),
                )
                for table in all_metadata().sorted_tables
            }
    finally:
        database.dispose()


def run(instance: Any, url: str, *args: str) -> Any:
    """Run a `mutualaid` command for the node in `instance` whose database is at `url`."""
    env = {"MUTUALAID_DATABASE_URL": url, "MUTUALAID_SECRET_KEY": None, "MUTUALAID_ENV": "development"}
    return CliRunner().invoke(cli, ["--instance", str(instance), *args], env=env, catch_exceptions=False)


def url_of(app: Flask) -> str:
    return str(app.config["MUTUALAID"].sqlalchemy_url)


@pytest.fixture
def empty_database(tmp_path: Path) -> Iterator[str]:
    """A database of the same kind as the tests', holding nothing, as on a new machine."""
    if not PG_URL:
        yield f"sqlite:///{tmp_path / 'restored.sqlite3'}"
        return
    prefix = os.environ.get("MUTUALAID_TEST_DB_PREFIX", "mutualaid")
    name = f"{prefix}_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}_restore"
    admin = create_engine(make_url(PG_URL), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_round_trip_restores_every_row_and_the_key(
    app: Flask, make_member: Any, empty_database: str, tmp_path: Path
) -> None:
    populate(app, make_member)
    before = snapshot(url_of(app))
    assert sum(len(rows) for rows in before.values()) > 10
    key_before = (Path(app.instance_path) / "node_key.pem").read_bytes()

    archive = tmp_path / "node.backup.zip"
    result = run(app.instance_path, url_of(app), "backup", str(archive))
    assert result.exit_code == 0, result.output
    assert "rows from" in result.output and "files" in result.output
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600
    names = zipfile.ZipFile(archive).namelist()
    assert "manifest.json" in names and "instance/node_key.pem" in names
    assert "instance/uploads/stories/photo.jpg" in names

    # A new machine: installed and initialised (with a key of its own), then restored.
    target = tmp_path / "new-machine"
    assert run(target, empty_database, "init").exit_code == 0
    result = run(target, empty_database, "restore", str(archive))
    assert result.exit_code == 0, result.output
    assert "Restored from" in result.output

    assert snapshot(empty_database) == before
    restored_key = target / "node_key.pem"
    assert restored_key.read_bytes() == key_before
    assert stat.S_IMODE(restored_key.stat().st_mode) == 0o600
    photo = target / "uploads" / "stories" / "photo.jpg"
    assert photo.read_bytes() == bytes(range(256)) * 10
    assert list(target.glob("node_key.pem.replaced-*")), "the new machine's own key is kept aside"

    # The restored node works: its members are there, it answers, it can add rows.
    again = create_app({"instance_path": target, "database_url": empty_database})
    try:
        with session_scope(again) as db:
            assert db.scalar(select(func.count()).select_from(Member)) == 2
        assert again.test_client().get("/healthz").status_code == 200
    finally:
        again.extensions["db"].dispose()
    assert (
        run(
            target,
            empty_database,
            "add-member",
            "carol",
            "carol@example.org",
            "--password",
            "correct horse battery staple",
        ).exit_code
        == 0
    )


def test_restore_refuses_a_database_with_data(app: Flask, make_member: Any, tmp_path: Path) -> None:
    populate(app, make_member)
    archive = tmp_path / "b.zip"
    assert run(app.instance_path, url_of(app), "backup", str(archive)).exit_code == 0
    result = run(app.instance_path, url_of(app), "restore", str(archive))
    assert result.exit_code == 1
    assert "already holds data" in result.output and "--force" in result.output
    before = snapshot(url_of(app))
    result = run(app.instance_path, url_of(app), "restore", "--force", str(archive))
    assert result.exit_code == 0, result.output
    assert snapshot(url_of(app)) == before


def test_restore_verifies_the_archive(
    app: Flask, make_member: Any, empty_database: str, tmp_path: Path
) -> None:
    populate(app, make_member)
    archive = tmp_path / "b.zip"
    assert run(app.instance_path, url_of(app), "backup", str(archive)).exit_code == 0
    damaged = tmp_path / "damaged.zip"
    with zipfile.ZipFile(archive) as src, zipfile.ZipFile(damaged, "w") as out:
        for item in src.infolist():
            data = src.read(item)
            if item.filename.endswith("_members.jsonl"):
                data = data.replace(b"alice", b"mallory")
            out.writestr(item, data)
    target = tmp_path / "target"
    result = run(target, empty_database, "restore", str(damaged))
    assert result.exit_code == 1
    assert "damaged" in result.output
    assert not (target / "node_key.pem").exists(), "nothing is written from a damaged archive"
    not_backup = tmp_path / "notes.txt"
    not_backup.write_text("hello")
    result = run(target, empty_database, "restore", str(not_backup))
    assert result.exit_code == 1 and "not a mutualaid backup" in result.output


def test_backup_does_not_overwrite(app: Flask, tmp_path: Path) -> None:
    archive = tmp_path / "exists.zip"
    archive.write_text("keep me")
    result = run(app.instance_path, url_of(app), "backup", str(archive))
    assert result.exit_code == 1 and archive.read_text() == "keep me"


def test_restores_into_a_new_database_of_another_kind(app: Flask, make_member: Any, tmp_path: Path) -> None:
    """A backup restores into a database that was never set up; taken on PostgreSQL, into SQLite."""
    populate(app, make_member)
    settings = app.config["MUTUALAID"]
    before = snapshot(settings.sqlalchemy_url)
    archive = tmp_path / "b.zip"
    assert backup.backup(settings, archive).rows > 10
    other_instance = tmp_path / "other"
    other_url = f"sqlite:///{tmp_path / 'other.sqlite3'}"
    other = settings.model_copy(
        update={"instance_path": other_instance, "database_url": other_url, "secret_key": TEST_SECRET}
    )
    summary = backup.restore(other, archive)
    assert summary.rows == sum(len(rows) for rows in before.values())
    assert snapshot(other_url) == before
