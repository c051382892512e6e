"""Real nodes as processes on loopback, for end-to-end and fault tests and the benchmark.

Each node gets an instance folder made by `mutualaid --instance DIR init`, its own database (a
SQLite file there, or its own PostgreSQL database when MUTUALAID_TEST_DATABASE_URL is set), a
web process (`mutualaid run` on a free port) and a Celery worker process (`mutualaid worker`,
the sweep's timer embedded) on its own broker: kombu's SQL transport in the instance folder,
or a private `redis-server` started here (never the system one: tests kill and flush it).

Everything started is stopped by `Cluster.close()`: processes are started in their own
process groups and the whole group is killed, so no worker child outlives a test.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import requests
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

PYTHON = Path(sys.executable)
REPO = Path(__file__).resolve().parents[1]
MUTUALAID = PYTHON.parent / "mutualaid"
PG_URL = os.environ.get("MUTUALAID_TEST_DATABASE_URL")
DB_PREFIX = os.environ.get("MUTUALAID_TEST_DB_PREFIX", "mutualaid")
PASSWORD = "correct horse battery staple"
CELL = "881f1d4a13fffff"
T = TypeVar("T")

# Quick settings for tests: short leases and backoff, so a fault heals in seconds, not hours.
FAST = {
    "env": "development",
    "log_level": "WARNING",
    "log_format": "text",
    "join_policy": "open",
    "sweep_interval": 1.0,
    "outbox_lease_seconds": 8.0,
    "outbox_http_timeout": 5.0,
    "outbox_backoff_base": 0.2,
    "outbox_backoff_cap": 2.0,
    "worker_concurrency": 2,
    "inbox_rate_limit": "100000 per minute",
}


class HarnessError(AssertionError):
    """A node did not start, or a condition was not met in time."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until(condition: Callable[[], T], timeout: float, what: str, interval: float = 0.1) -> T:
    """Poll `condition` until it returns something truthy; fail naming `what` at the deadline."""
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            value = condition()
        except Exception as exc:  # a node still starting refuses connections: keep polling
            last = exc
        else:
            if value:
                return value
        time.sleep(interval)
    suffix = f" (last error: {last})" if last else ""
    raise HarnessError(f"timed out after {timeout:.0f}s waiting for {what}{suffix}")


def _child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("MUTUALAID_")}
    env["PYTHONUNBUFFERED"] = "1"
    # Helpers run as modules of this repository (`python -m bench.federation worker ...`).
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    env.update(extra or {})
    return env


def _stop_group(process: subprocess.Popen[bytes] | None, sig: int = signal.SIGTERM,
                timeout: float = 15) -> None:
    if process is None or process.poll() is not None:
        _kill_group(process)
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout)
    _kill_group(process)


def _kill_group(process: subprocess.Popen[bytes] | None) -> None:
    # The group outlives its leader when a child (Celery's embedded beat) is left: kill it all.
    if process is None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(10)


# --- a private Redis ----------------------------------------------------------------------

class RedisServer:
    """A redis-server of our own on a free port, without persistence (a restart flushes it)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise HarnessError("redis-server is not installed")
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / "redis.log").open("ab") as log:
            self.process = subprocess.Popen(
                [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                 "--dir", str(self.root)],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        wait_until(self.ping, 20, f"redis-server on port {self.port}")

    def ping(self) -> bool:
        import redis

        client = redis.Redis.from_url(self.url(), socket_timeout=1)
        try:
            return bool(client.ping())
        finally:
            client.close()

    def flush(self) -> None:
        import redis

        client = redis.Redis.from_url(self.url())
        try:
            client.flushall()
        finally:
            client.close()

    def stop(self) -> None:
        _stop_group(self.process, signal.SIGKILL)
        self.process = None

    def restart(self) -> None:
        """Kill it and start it again on the same port, empty."""
        self.stop()
        self.start()


# --- nodes --------------------------------------------------------------------------------

@dataclass
class NodeProcess:
    """One node: its instance folder, settings, processes and a steward's API token."""

    name: str
    instance: Path
    port: int
    settings: dict[str, Any]
    web: subprocess.Popen[bytes] | None = None
    worker: subprocess.Popen[bytes] | None = None
    token: str = ""
    node_id: str = ""
    fingerprint: str = ""
    _engine: Engine | None = None
    _http: requests.Session = field(default_factory=requests.Session)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def database_url(self) -> str:
        return str(self.settings.get("database_url") or f"sqlite:///{self.instance / 'mutualaid.sqlite3'}")

    def command(self, *args: str) -> list[str]:
        return [str(MUTUALAID), "--instance", str(self.instance), *args]

    def _spawn(self, args: list[str], log_name: str) -> subprocess.Popen[bytes]:
        with (self.instance / log_name).open("ab") as log:  # the child keeps its own descriptor
            return subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=_child_env(),
                                    start_new_session=True, cwd=self.instance)

    def start_web(self) -> None:
        """Start the web process and wait until /healthz answers."""
        if self.web is not None and self.web.poll() is None:
            return
        self.web = self._spawn(self.command("run", "--port", str(self.port)), "web.log")
        wait_until(self.healthy, 60, f"{self.name} to answer /healthz", interval=0.2)

    def healthy(self) -> bool:
        if self.web is not None and self.web.poll() is not None:
            raise HarnessError(f"{self.name}'s web process exited:\n{self.log_tail('web.log')}")
        return requests.get(self.url + "/healthz", timeout=2).status_code == 200

    def start_worker(self, beat: bool = True, command: list[str] | None = None) -> None:
        """Start the Celery worker, with the sweep's timer embedded unless `beat` is False."""
        if self.worker is not None and self.worker.poll() is None:
            return
        args = command or self.command("worker", "--loglevel", "WARNING", "--beat" if beat else "--no-beat")
        self.worker = self._spawn(args, "worker.log")

    def stop_web(self, sig: int = signal.SIGTERM) -> None:
        _stop_group(self.web, sig)
        self.web = None

    def stop_worker(self, sig: int = signal.SIGTERM) -> None:
        _stop_group(self.worker, sig)
        self.worker = None

    def kill_worker(self) -> None:
        """SIGKILL the worker and everything it started, as a crash would."""
        _kill_group(self.worker)
        self.worker = None

    def stop(self) -> None:
        self.stop_worker()
        self.stop_web()

    def log_tail(self, name: str, lines: int = 40) -> str:
        path = self.instance / name
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    # --- talking to it ----------------------------------------------------------------------

    def api(self, method: str, path: str, body: Any = None, expect: int | None = None) -> Any:
        """Call the JSON API as the node's steward; returns the decoded body."""
        response = self._http.request(method, f"{self.url}/api/v1{path}", json=body, timeout=30,
                                      headers={"Authorization": f"Bearer {self.token}"})
        if expect is not None and response.status_code != expect:
            raise HarnessError(f"{method} {path} on {self.name}: {response.status_code} "
                               f"{response.text[:500]}")
        return response.json() if response.content else None

    def post_need(self, title: str, **fields: Any) -> str:
        """Post a need through the API; returns its id."""
        body = {"category": "food", "title": title, "quantity": 1, "unit": "kg", "h3_cell": CELL, **fields}
        created = self.api("POST", "/needs", body, expect=201)
        return str(created["id"])

    def engine(self) -> Engine:
        """An engine on the node's database, for reading what it holds."""
        if self._engine is None:
            self._engine = create_engine(self.database_url)
        return self._engine

    def scalar(self, sql: str, **params: Any) -> Any:
        with self.engine().connect() as conn:
            return conn.execute(text(sql), params).scalar()

    def rows(self, sql: str, **params: Any) -> list[Any]:
        with self.engine().connect() as conn:
            return list(conn.execute(text(sql), params))

    def dispose(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
        self._http.close()


class Cluster:
    """The nodes of one test, and the links between them."""

    def __init__(self, root: Path, *, redis: RedisServer | None = None, **defaults: Any) -> None:
        self.root = root
        self.redis = redis
        self.defaults = {**FAST, **defaults}
        self.nodes: dict[str, NodeProcess] = {}
        self._databases: list[str] = []

    # --- making nodes -----------------------------------------------------------------------

    def add(self, name: str, role: str = "neighbourhood", **settings: Any) -> NodeProcess:
        """Describe a node (nothing runs yet: see `setup`)."""
        port = free_port()
        instance = self.root / name
        instance.mkdir(parents=True)
        values: dict[str, Any] = {
            **self.defaults, "node_name": name, "public_url": f"http://127.0.0.1:{port}", "role": role,
            "celery_queue": f"mutualaid-{name}", **settings,
        }
        if PG_URL and "database_url" not in values:
            values["database_url"] = self._fresh_database(name)
        if self.redis is not None and "broker_url" not in values:
            values["broker_url"] = self.redis.url(len(self.nodes) % 16)
        lines = [f"{key} = {json.dumps(value)}" for key, value in values.items() if value is not None]
        (instance / "mutualaid.toml").write_text("\n".join(lines) + "\n")
        node = NodeProcess(name, instance, port, values)
        self.nodes[name] = node
        return node

    def setup(self, *nodes: NodeProcess) -> None:
        """Run `mutualaid init` for the nodes (in parallel), then make a steward with a token."""
        self._parallel([node.command("init") for node in nodes], "init")
        for node in nodes:
            node.token, node.node_id, node.fingerprint = make_steward(node.instance)

    def _parallel(self, commands: list[list[str]], what: str, at_once: int = 4) -> None:
        # A few at a time: twenty Python processes starting together on two cores only queue.
        for first in range(0, len(commands), at_once):
            chunk = commands[first:first + at_once]
            running = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        env=_child_env(), cwd=REPO) for cmd in chunk]
            for cmd, process in zip(chunk, running, strict=True):
                out, _ = process.communicate(timeout=900)
                if process.returncode:
                    tail = out.decode(errors="replace")[-3000:]
                    raise HarnessError(f"{what} failed: {' '.join(cmd)}\n{tail}")

    def start(self, *nodes: NodeProcess, worker: bool = True, beat: bool = True) -> None:
        """Start the web (and worker) processes of the nodes."""
        for node in nodes:
            node.web = node._spawn(node.command("run", "--port", str(node.port)), "web.log")
            if worker:
                node.start_worker(beat)
        for node in nodes:
            wait_until(node.healthy, 240, f"{node.name} to answer /healthz", interval=0.2)

    def _fresh_database(self, name: str) -> str:
        assert PG_URL
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        database = f"{DB_PREFIX}_{worker}_e2e_{name}"
        url = make_url(PG_URL)
        admin = create_engine(url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{database}"'))
        admin.dispose()
        self._databases.append(database)
        return url.set(database=database).render_as_string(hide_password=False)

    # --- linking ----------------------------------------------------------------------------

    def link(self, node: NodeProcess, other: NodeProcess, relation: str = "peer") -> None:
        """`node` adds `other` by URL and fingerprint (checked as an operator would)."""
        node.api("POST", "/peers", {"url": other.url, "fingerprint": other.fingerprint, "relation": relation},
                 expect=201)

    def peer_both_ways(self, one: NodeProcess, other: NodeProcess) -> None:
        self.link(one, other)
        self.link(other, one)

    def federate(self, federation: NodeProcess, members: Iterable[NodeProcess]) -> None:
        """Members join the federation: each adds it first, then it adds each of them (and
        introduces them to one another)."""
        members = list(members)
        for member in members:
            self.link(member, federation, "federation")
        for member in members:
            self.link(federation, member, "member")

    # --- the end ----------------------------------------------------------------------------

    def close(self) -> None:
        """Stop every process and drop the databases made for the nodes."""
        for node in self.nodes.values():
            node.stop_worker(signal.SIGKILL)
        for node in self.nodes.values():
            node.stop_web()
            node.dispose()
        if PG_URL and self._databases:
            admin = create_engine(make_url(PG_URL), isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                for database in self._databases:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
            admin.dispose()

    def logs(self) -> str:
        """The tails of every node's logs, for a failing test's report."""
        parts = []
        for node in self.nodes.values():
            for name in ("web.log", "worker.log"):
                tail = node.log_tail(name, 25)
                if tail:
                    parts.append(f"--- {node.name} {name}\n{tail}")
        return "\n".join(parts)


def make_steward(instance: Path) -> tuple[str, str, str]:
    """Make a steward with an API token in a node's instance; returns (token, node id,
    fingerprint). Done in this process: its imports are loaded already."""
    from federation.identity import local_identity
    from federation.keys import fingerprint
    from node import create_app
    from node.db import session_scope
    from node.members import service

    app = create_app({"instance_path": instance})
    try:
        with session_scope(app) as db:
            member = service.create_member(db, "steward", "Steward", "steward@example.org", PASSWORD)
            service.grant_steward(db, app.config["MUTUALAID"], None, "steward", 30, "test harness")
            _, token = service.create_token(db, member, "harness")
        identity = local_identity(app)
        return token, identity.node_id, fingerprint(identity.public_key)
    finally:
        app.extensions["db"].dispose()
