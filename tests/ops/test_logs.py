"""Structured logs: one JSON object per line, with request ids, never a secret or a key."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from flask import Flask

from node.observability import REDACTED, Redactor

SECRET = "s3cret-" + "q" * 40
DB_PASSWORD = "hunter2-database-pw"
PEM = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIDdd0Jq1Y1YHcLqH0Ww\n-----END PRIVATE KEY-----"


def lines(err: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in err.splitlines() if line.startswith("{")]


def test_log_lines_are_json_with_request_id(app_factory: Any, capsys: pytest.CaptureFixture[str]) -> None:
    app: Flask = app_factory()

    @app.get("/_log")
    def _log() -> str:
        logging.getLogger("mutualaid.test").warning("hello from %s", "a request")
        return "ok"

    capsys.readouterr()
    response = app.test_client().get("/_log", headers={"X-Request-ID": "req-1234"})
    assert response.headers["X-Request-ID"] == "req-1234"
    entries = [e for e in lines(capsys.readouterr().err) if e["logger"] == "mutualaid.test"]
    assert entries == [
        {
            "time": entries[0]["time"],
            "level": "WARNING",
            "logger": "mutualaid.test",
            "message": "hello from a request",
            "request_id": "req-1234",
        }
    ]
    assert entries[0]["time"].endswith("+00:00")


def test_request_id_is_made_when_missing_or_unsafe(app: Flask) -> None:
    client = app.test_client()
    made = client.get("/healthz").headers["X-Request-ID"]
    assert len(made) == 32
    unsafe = client.get("/healthz", headers={"X-Request-ID": "bad id <script>"}).headers["X-Request-ID"]
    assert unsafe != "bad id <script>" and len(unsafe) == 32


def test_secrets_keys_and_tokens_are_redacted(app_factory: Any, capsys: pytest.CaptureFixture[str]) -> None:
    app_factory(
        secret_key=SECRET,
        smtp_password="mail-password-123",
        broker_url=f"redis://user:{DB_PASSWORD}@127.0.0.1:6379/0",
    )
    log = logging.getLogger("mutualaid.test")
    capsys.readouterr()
    log.error("secret is %s", SECRET)
    log.error("connecting to redis://user:%s@127.0.0.1:6379/0", DB_PASSWORD)
    log.error("postgresql://node:other-password@db/mutualaid failed")
    log.error("header was Authorization: Bearer abcdefghijklmnop.qrstuv")
    log.error("smtp login with mail-password-123")
    log.error("key file:\n%s", PEM)
    try:
        raise ValueError(f"bad key {PEM}")
    except ValueError:
        log.exception("while loading with %s", SECRET)
    out = capsys.readouterr().err
    for leaked in (
        SECRET,
        DB_PASSWORD,
        "other-password",
        "abcdefghijklmnop",
        "mail-password-123",
        "MC4CAQAwBQYDK2VwBCIEIDdd0Jq1Y1YHcLqH0Ww",
    ):
        assert leaked not in out
    entries = [e for e in lines(out) if e["logger"] == "mutualaid.test"]
    assert len(entries) == 7
    assert entries[0]["message"] == f"secret is {REDACTED}"
    assert entries[1]["message"] == f"connecting to redis://user:{REDACTED}@127.0.0.1:6379/0"
    assert entries[3]["message"] == f"header was Authorization: Bearer {REDACTED}"
    assert "ValueError: bad key" in entries[6]["exception"]


def test_redactor_leaves_ordinary_text_alone() -> None:
    redact = Redactor()
    redact.add("short", None, "a-long-enough-secret")
    text = "token expired for member alice; short words stay; listing 42 published"
    assert redact(text) == text
    assert redact("x a-long-enough-secret y") == f"x {REDACTED} y"
