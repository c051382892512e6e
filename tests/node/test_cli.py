"""The `mutualaid` command: help, init, members, tokens, invitations, stewards, settings, run."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner

from node.cli import cli
from tests.node.factories import poll

COMMANDS = [
    "add-member",
    "create-token",
    "expire",
    "grant-steward",
    "init",
    "invite",
    "migrate",
    "run",
    "settings",
]
BIN = Path(sys.executable).parent / "mutualaid"


def test_help_explains_each_command_in_a_sentence() -> None:
    result = subprocess.run([str(BIN), "--help"], capture_output=True, text=True, check=True, timeout=60)
    lines = {line.split()[0]: line for line in result.stdout.splitlines()[1:] if line.startswith("  ")}
    for command in COMMANDS:
        assert command in lines, (command, result.stdout)
        sentence = lines[command].split(None, 1)[1]
        assert sentence.endswith(".") and not sentence.endswith("..."), sentence


@pytest.fixture
def instance(tmp_path: Path) -> Path:
    return tmp_path / "node"


def invoke(instance: Path, *args: str, input: str | None = None) -> Any:
    # The instance's own SQLite database, whatever the test run's database is.
    env: dict[str, str | None] = {
        "MUTUALAID_DATABASE_URL": None,
        "MUTUALAID_SECRET_KEY": None,
        "MUTUALAID_INSTANCE_PATH": None,
    }
    result = CliRunner().invoke(cli, ["--instance", str(instance), *args], input=input, env=env)
    assert result.exit_code == 0, result.output
    return result


def test_init_add_member_token_and_invite(instance: Path) -> None:
    out = invoke(instance, "init", "--name", "Kiez", "--join-policy", "invite").output
    assert "Node ready" in out
    assert (instance / "secret_key").stat().st_mode & 0o077 == 0
    assert (instance / "mutualaid.sqlite3").exists()
    assert 'node_name = "Kiez"' in (instance / "mutualaid.toml").read_text()
    invoke(instance, "init")  # a second time changes nothing and does not fail
    out = invoke(
        instance,
        "add-member",
        "alice",
        "alice@example.org",
        "--password",
        "a long password",
        "--steward-days",
        "30",
    ).output
    assert "Added member alice, steward for 30 days" in out
    token = invoke(instance, "create-token", "alice", "--name", "laptop").output.strip()
    assert token.startswith("ma_")
    link = invoke(instance, "invite", "--note", "for bob").stdout.strip()
    assert "/join?invitation=" in link
    assert "alice is a steward until" in invoke(instance, "grant-steward", "alice", "--days", "10").output
    settings = json.loads(invoke(instance, "settings").output)
    assert settings["node_name"] == "Kiez" and settings["join_policy"] == "invite"
    assert "Database is up to date." in invoke(instance, "migrate").output


def test_init_and_migrate_make_the_task_queue_before_any_process_uses_it(instance: Path) -> None:
    # Two processes first using a queue of the embedded broker at once could both create it.
    invoke(instance, "init")
    queue = json.loads(invoke(instance, "settings").output)["celery_queue"]
    invoke(instance, "migrate")
    connection = sqlite3.connect(instance / "broker.sqlite3")
    try:
        names = [row[0] for row in connection.execute("SELECT name FROM kombu_queue")]
    finally:
        connection.close()
    assert names == [queue]


def test_cli_errors_are_sentences_not_tracebacks(instance: Path) -> None:
    invoke(instance, "init")
    env: dict[str, str | None] = {"MUTUALAID_DATABASE_URL": None, "MUTUALAID_SECRET_KEY": None}
    runner = CliRunner()
    result = runner.invoke(cli, ["--instance", str(instance), "create-token", "nobody"], env=env)
    assert result.exit_code == 1 and "no member with the handle 'nobody'" in result.output
    args = ["--instance", str(instance), "add-member", "x", "bad", "--password", "short"]
    result = runner.invoke(cli, args, env=env)
    assert result.exit_code == 1 and "Error:" in result.output and "Traceback" not in result.output
    args = ["--instance", str(instance), "grant-steward", "nobody", "--days", "3"]
    result = runner.invoke(cli, args, env=env)
    assert result.exit_code == 1 and "unknown member" in result.output


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_run_serves_the_api(instance: Path) -> None:
    invoke(instance, "init", "--join-policy", "open")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MUTUALAID_")}
    log = (instance / "run.log").open("w")
    proc = subprocess.Popen(
        [str(BIN), "--instance", str(instance), "run", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:

        def healthy() -> bool:
            try:
                return requests.get(f"{base}/healthz", timeout=10).status_code == 200
            except (requests.ConnectionError, requests.Timeout):
                return False

        # Generous: on a machine busy with other suites, starting Python and the app takes time.
        try:
            poll(healthy, timeout=180)
        except AssertionError:
            raise AssertionError((instance / "run.log").read_text()[-3000:]) from None
        r = requests.get(f"{base}/api/v1/openapi.json", timeout=60)
        assert r.json()["servers"][0]["url"].startswith("http")
        r = requests.get(f"{base}/api/v1/needs", timeout=60)
        assert r.status_code == 401 and r.headers["Content-Type"] == "application/problem+json"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
