"""One real node process for the browser tests: `mutualaid init`, then `mutualaid run` on a free port.

On PostgreSQL (MUTUALAID_TEST_DATABASE_URL set) the node gets a database of its own, so that it
never shares tables with the tests that truncate theirs.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

MUTUALAID = Path(sys.executable).parent / "mutualaid"
PG_URL = os.environ.get("MUTUALAID_TEST_DATABASE_URL")
REDIS_URL = os.environ.get("MUTUALAID_TEST_REDIS_URL")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class NodeServer:
    """A node's web process on loopback, with its instance folder and (maybe) its own database."""

    def __init__(self, root: Path, name: str = "Riverside", **settings: Any) -> None:
        self.instance = root / "instance"
        self.instance.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.database: str | None = None
        values: dict[str, Any] = {
            "node_name": name,
            "public_url": self.url,
            "join_policy": "open",
            "log_level": "WARNING",
            "log_format": "text",
            "login_rate_limit": "10000 per minute",
            **settings,
        }
        if PG_URL:
            values["database_url"] = self._fresh_database()
        if REDIS_URL:
            values["redis_url"] = REDIS_URL
        lines = [f"{key} = {json.dumps(value)}" for key, value in values.items()]
        (self.instance / "mutualaid.toml").write_text("\n".join(lines) + "\n")
        self.process: subprocess.Popen[bytes] | None = None

    def _env(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if not key.startswith("MUTUALAID_")}
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def _fresh_database(self) -> str:
        assert PG_URL
        prefix = os.environ.get("MUTUALAID_TEST_DB_PREFIX", "mutualaid")
        self.database = f"{prefix}_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}_browser"
        url = make_url(PG_URL)
        admin = create_engine(url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{self.database}"'))
        admin.dispose()
        return url.set(database=self.database).render_as_string(hide_password=False)

    def command(self, *args: str) -> list[str]:
        return [str(MUTUALAID), "--instance", str(self.instance), *args]

    def run(self, *args: str) -> str:
        """Run a `mutualaid` command against this node and return what it printed."""
        done = subprocess.run(
            self.command(*args), capture_output=True, text=True, env=self._env(), timeout=300
        )
        if done.returncode:
            raise AssertionError(f"mutualaid {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def python(self, module: str, *args: str) -> str:
        """Run `python -m module INSTANCE args...` from the repository, for seeding data."""
        repo = Path(__file__).resolve().parents[2]
        done = subprocess.run(
            [sys.executable, "-m", module, str(self.instance), *args],
            capture_output=True,
            text=True,
            env=self._env(),
            cwd=repo,
            timeout=300,
        )
        if done.returncode:
            raise AssertionError(f"{module} failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout.strip().splitlines()[-1]

    def start(self, timeout: float = 60) -> None:
        """Initialise the instance, start the web process and wait until /healthz answers."""
        self.run("init")
        with (self.instance / "web.log").open("ab") as log:
            self.process = subprocess.Popen(
                self.command("run", "--port", str(self.port)),
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self._env(),
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"the node exited:\n{self.log_tail()}")
            with contextlib.suppress(requests.RequestException):
                if requests.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return
            time.sleep(0.1)
        raise AssertionError(f"the node did not answer /healthz in {timeout:.0f}s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        path = self.instance / "web.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def stop(self) -> None:
        """Stop the web process (its whole process group) and drop its database."""
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
            self.process = None
        if PG_URL and self.database:
            admin = create_engine(make_url(PG_URL), isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)'))
            admin.dispose()
