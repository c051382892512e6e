"""`mutualaid demo`: a federation node and three neighbourhood nodes on this machine, in one command.

Every node is a real node on embedded defaults (SQLite, kombu's SQL broker): its own instance
folder, a web process and a worker process, on loopback ports. The nodes federate through the
same HTTP API an operator uses, and the seed goes in through the API too, so what the demo shows
is what a real region does. Ctrl-C (or SIGTERM) stops every process it started.

`node` does not import `federation`: the demo talks to the nodes only over HTTP.
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
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import requests

from node import demo_seed
from node.demo_seed import PASSWORD, Place

T = TypeVar("T")
STATE_FILE = "region.json"
# Quick healing for a demo: short backoff, a sweep every two seconds.
NODE_SETTINGS: dict[str, Any] = {
    "env": "development",
    "join_policy": "open",
    "log_format": "json",
    "sweep_interval": 2.0,
    "outbox_backoff_base": 0.5,
    "outbox_backoff_cap": 10.0,
    "outbox_lease_seconds": 30.0,
    "worker_concurrency": 2,
    "inbox_rate_limit": "6000 per minute",
}


class DemoError(Exception):
    """The region could not be started; the message says what failed."""


@dataclass
class Node:
    """One node of the demo region and the processes that run it."""

    place: Place
    instance: Path
    port: int
    web: subprocess.Popen[bytes] | None = None
    worker: subprocess.Popen[bytes] | None = None
    tokens: dict[str, str] = field(default_factory=dict)
    node_id: str = ""
    fingerprint: str = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def steward(self) -> str:
        return next(p.handle for p in self.place.people if p.steward)

    def command(self, *args: str) -> list[str]:
        # The console script's entry point, whatever the script's path in this installation.
        return [
            sys.executable,
            "-c",
            "from node.cli import main; main()",
            "--instance",
            str(self.instance),
            *args,
        ]

    def api(
        self,
        method: str,
        path: str,
        body: Any = None,
        as_member: str | None = None,
        expect: int | None = None,
    ) -> Any:
        """Call the node's JSON API as one of its members (the steward by default)."""
        token = self.tokens[as_member or self.steward]
        response = requests.request(
            method,
            f"{self.url}/api/v1{path}",
            json=body,
            timeout=30,
            headers={"Authorization": f"Bearer {token}"},
        )
        if expect is not None and response.status_code != expect:
            raise DemoError(
                f"{method} {path} at {self.place.name}: {response.status_code} {response.text[:300]}"
            )
        return response.json() if response.content else None

    def healthy(self) -> bool:
        for name, process in (("web", self.web), ("worker", self.worker)):
            if process is not None and process.poll() is not None:
                raise DemoError(
                    f"{self.place.name}: the {name} process exited; see {self.instance / name}.log"
                )
        return requests.get(self.url + "/healthz", timeout=3).status_code == 200

    def pids(self) -> dict[str, int]:
        return {name: p.pid for name, p in (("web", self.web), ("worker", self.worker)) if p is not None}


def free_port(preferred: int = 0) -> int:
    """`preferred` when nothing listens on it, else any free loopback port."""
    for candidate in (preferred, 0) if preferred else (0,):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", candidate))
            except OSError:
                continue
            port: int = sock.getsockname()[1]
            return port
    raise DemoError("no free port on 127.0.0.1")


def port_in_use(port: int) -> bool:
    """True while something accepts connections on the loopback port."""
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def wait_until(condition: Callable[[], T], timeout: float, what: str) -> T:
    """Poll `condition` until it is truthy; fail naming `what` at the deadline."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = condition()
        except DemoError:
            raise
        except Exception as exc:  # a node still starting refuses connections: keep polling
            last = exc
        else:
            if value:
                return value
        time.sleep(0.25)
    raise DemoError(f"timed out after {timeout:.0f} s waiting for {what}" + (f" ({last})" if last else ""))


class Region:
    """The demo's nodes: made, started, federated, seeded, and stopped."""

    def __init__(
        self, root: Path, base_port: int, neighbourhoods: int, say: Callable[[str], None] = print
    ) -> None:
        self.root = root
        self.say = say
        self.delegate: dict[str, Any] = {}
        self.incident = ""
        self.nodes = [
            Node(place, root / place.key, free_port(base_port + n if base_port else 0))
            for n, place in enumerate(demo_seed.region(neighbourhoods))
        ]

    @property
    def federation(self) -> Node:
        return self.nodes[0]

    @property
    def neighbourhoods(self) -> list[Node]:
        return self.nodes[1:]

    # --- making ---------------------------------------------------------------------------------

    def create(self) -> None:
        """Write each node's settings, run `mutualaid init` for all, and add their members."""
        for node in self.nodes:
            node.instance.mkdir(parents=True, exist_ok=True)
            values = {
                **NODE_SETTINGS,
                "node_name": node.place.name,
                "public_url": node.url,
                "role": node.place.role,
                "celery_queue": f"mutualaid-{node.place.key}",
                "default_area_cell": node.place.cell,
            }
            if node.place.role == "federation":
                values["federation_area_cells"] = demo_seed.area_cells([n.place for n in self.nodes])
            lines = [f"{key} = {json.dumps(value)}" for key, value in values.items()]
            (node.instance / "mutualaid.toml").write_text("\n".join(lines) + "\n")
        self._parallel([node.command("init") for node in self.nodes], "mutualaid init")
        self._parallel(
            [
                [sys.executable, "-m", "node.demo", "members", str(node.instance), node.place.key]
                for node in self.nodes
            ],
            "adding members",
        )
        for node in self.nodes:
            node.tokens = json.loads((node.instance / "demo-tokens.json").read_text())

    def _parallel(self, commands: list[list[str]], what: str) -> None:
        running = [
            subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=child_env(None))  # noqa: S603
            for cmd in commands
        ]
        for process in running:
            out, _ = process.communicate(timeout=600)
            if process.returncode:
                raise DemoError(f"{what} failed:\n{out.decode(errors='replace')[-2000:]}")

    # --- running --------------------------------------------------------------------------------

    def start(self) -> None:
        """Start every node's web and worker processes and wait until all are healthy."""
        for node in self.nodes:
            metrics = node.instance / "metrics"
            shutil.rmtree(metrics, ignore_errors=True)
            metrics.mkdir()
            env = child_env(metrics)
            node.web = spawn(node.command("run", "--port", str(node.port)), node.instance / "web.log", env)
            node.worker = spawn(
                node.command("worker", "--loglevel", "WARNING"), node.instance / "worker.log", env
            )
        for node in self.nodes:
            wait_until(node.healthy, 180, f"{node.place.name} to answer {node.url}/healthz")
            found = node.api("GET", "/node", expect=200)
            node.node_id, node.fingerprint = found["id"], found["fingerprint"]

    def federate(self) -> None:
        """Each neighbourhood joins the federation, which takes each in as a member."""
        hub = self.federation
        for node in self.neighbourhoods:
            node.api(
                "POST",
                "/peers",
                {"url": hub.url, "fingerprint": hub.fingerprint, "relation": "federation"},
                expect=201,
            )
        for node in self.neighbourhoods:
            hub.api(
                "POST",
                "/peers",
                {"url": node.url, "fingerprint": node.fingerprint, "relation": "member"},
                expect=201,
            )

    def seed(self) -> None:
        """Needs, offers and an assembly that mandates a delegate, through the API."""
        for node in self.neighbourhoods:
            members = [p.handle for p in node.place.people]
            for n, listing in enumerate(node.place.needs):
                node.api(
                    "POST",
                    "/needs",
                    {**listing, "h3_cell": node.place.cell},
                    as_member=members[n % len(members)],
                    expect=201,
                )
            for n, listing in enumerate(node.place.offers):
                node.api(
                    "POST",
                    "/offers",
                    {**listing, "h3_cell": node.place.cell},
                    as_member=members[-1 - n % len(members)],
                    expect=201,
                )
        if self.neighbourhoods and self.neighbourhoods[0].place.key == "riverside":
            self._assembly(self.neighbourhoods[0])
        self._incident()

    def _incident(self) -> None:
        """The federation's rapid-response team declares the storm an incident under the emergency rule."""
        # Only a member of the rapid-response roster may declare under the emergency rule: the
        # steward starts the team, and so is on it.
        team = {"name": "Rapid response", "slug": "rapid-response", "template": "rapid_response",
                "create_shifts": False}
        self.federation.api("POST", "/projects", team, expect=201)
        now = datetime.now(UTC)
        cells = demo_seed.incident_cells([n.place for n in self.nodes])
        starts, ends = (now - timedelta(hours=2)).isoformat(), (now + timedelta(days=3)).isoformat()
        body = {**demo_seed.INCIDENT, "cells": cells, "starts": starts, "ends": ends}
        self.incident = self.federation.api("POST", "/incidents", body, expect=201)["id"]

    def _assembly(self, node: Node) -> None:
        """An open assembly that elects a delegate with a mandate to the federation."""
        assembly = node.api("POST", "/assemblies", demo_seed.ASSEMBLY, expect=201)
        if assembly["status"] == "scheduled":
            node.api("POST", f"/assemblies/{assembly['id']}/open", expect=200)
        body = {**demo_seed.MANDATE_PROPOSAL, "federation": self.federation.node_id}
        proposal = node.api("POST", f"/assemblies/{assembly['id']}/mandate-proposals", body, expect=201)
        for person in node.place.people:
            stance = {"stance": "for", "reason": "Bilal knows the fridges and the routes"}
            node.api("POST", f"/proposals/{proposal['id']}/positions", stance, as_member=person.handle,
                     expect=201)
        node.api("POST", f"/proposals/{proposal['id']}/close", expect=200)
        delegate = demo_seed.MANDATE_PROPOSAL["delegate"]
        mandates = node.api("GET", "/mandates", as_member=delegate, expect=200)["items"]
        mine = next(m for m in mandates if m["delegate"] == delegate)
        # The delegate takes up the mandate: the node makes their key and signs the credential.
        issued = node.api("POST", f"/mandates/{mine['id']}/key", {}, as_member=delegate, expect=201)
        self.delegate = {"node": node.place.key, "handle": delegate, "mandate": mine["id"],
                         "private_key": issued["private_key"]}

    def wait_federated(self, timeout: float = 120) -> None:
        """Wait until every neighbourhood sees the listings of every other one."""

        def everyone_sees_everyone() -> bool:
            for node in self.neighbourhoods:
                page = node.api("GET", "/network/listings?per_page=100", expect=200)
                seen = {item["node_id"] for item in page["items"]}
                others = {
                    n.node_id
                    for n in self.neighbourhoods
                    if n is not node and (n.place.needs or n.place.offers)
                }
                if not others <= seen:
                    return False
            return True

        wait_until(everyone_sees_everyone, timeout, "the neighbourhoods to see each other's listings")

    def save(self) -> Path:
        """Write what a person or a test needs to use the region: URLs, ids, tokens, pids."""
        state = {
            "root": str(self.root),
            "delegate": self.delegate,
            "incident": self.incident,
            "password": PASSWORD,
            "pid": os.getpid(),
            "nodes": [
                {
                    "key": n.place.key,
                    "name": n.place.name,
                    "role": n.place.role,
                    "url": n.url,
                    "port": n.port,
                    "node_id": n.node_id,
                    "fingerprint": n.fingerprint,
                    "instance": str(n.instance),
                    "steward": n.steward,
                    "tokens": n.tokens,
                    "pids": n.pids(),
                }
                for n in self.nodes
            ],
        }
        path = self.root / STATE_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2))
        tmp.replace(path)  # readers never see half a file
        return path

    def check(self) -> str | None:
        """Which process has died, if any."""
        for node in self.nodes:
            for name, process in (("web", node.web), ("worker", node.worker)):
                if process is not None and process.poll() is not None:
                    return f"{node.place.name}'s {name} process exited (see {node.instance / name}.log)"
        return None

    def stop(self) -> list[str]:
        """Stop every process (workers first), then check that none is left and no port taken."""
        groups = [p.pid for node in self.nodes for p in (node.worker, node.web) if p is not None]
        for attribute in ("worker", "web"):
            processes = [getattr(node, attribute) for node in self.nodes]
            for process in processes:
                signal_group(process, signal.SIGTERM)
            for process in processes:
                finish(process, 20)
            for node in self.nodes:
                setattr(node, attribute, None)
        # Killed grandchildren (Celery's beat) are reaped by init a moment later.
        deadline = time.monotonic() + 15
        while any(map(group_alive, groups)) and time.monotonic() < deadline:
            time.sleep(0.1)
        problems = [f"process group {pgid} is still alive" for pgid in groups if group_alive(pgid)]
        return problems + [f"port {n.port} is still in use" for n in self.nodes if port_in_use(n.port)]


def group_alive(pgid: int) -> bool:
    """True while any process of the group exists."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def child_env(metrics: Path | None) -> dict[str, str]:
    """The environment of a node process: the node's own settings file, not this shell's."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("MUTUALAID_")}
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    if metrics is not None:
        # The web and worker processes of one node add up their metrics in this folder.
        env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics)
    return env


def spawn(argv: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """Start a process in its own process group (Ctrl-C reaches only the demo, which stops it)."""
    with log.open("ab") as out:
        return subprocess.Popen(  # noqa: S603  (our own command line)
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
            cwd=log.parent,
        )


def signal_group(process: subprocess.Popen[bytes] | None, sig: int) -> None:
    """Send a signal to a process and every process it started."""
    if process is not None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, sig)


def finish(process: subprocess.Popen[bytes] | None, timeout: float) -> None:
    """Wait for a process to end, then kill whatever is left of its group."""
    if process is None:
        return
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout)
    signal_group(process, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(10)


@contextlib.contextmanager
def stop_requested() -> Iterator[threading.Event]:
    """An event set by Ctrl-C or SIGTERM, instead of an exception in the middle of starting up."""
    event = threading.Event()
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        signal.signal(sig, lambda *_: event.set())
    try:
        yield event
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run(
    root: Path | None, base_port: int, neighbourhoods: int, keep: bool, say: Callable[[str], None] = print
) -> int:
    """Start the region, print how to use it, and stop it all on Ctrl-C or SIGTERM."""
    made = root is None
    root = Path(tempfile.mkdtemp(prefix="mutualaid-demo-")) if root is None else root.resolve()
    if (root / STATE_FILE).exists() or (root.exists() and any(root.iterdir()) and not made):
        raise DemoError(f"{root} is not empty: give a new folder with --dir")
    root.mkdir(parents=True, exist_ok=True)
    region = Region(root, base_port, neighbourhoods, say)
    status = 0
    with stop_requested() as stop:
        try:
            status = _run(region, stop, say)
        finally:
            say("Stopping the region...")
            problems = region.stop()
            for problem in problems:
                say(f"warning: {problem}")
            if made and not keep:
                shutil.rmtree(root, ignore_errors=True)
            say("Stopped: no demo process is left running." if not problems else "Stopped, with warnings.")
    return status


def _run(region: Region, stop: threading.Event, say: Callable[[str], None]) -> int:
    started = time.monotonic()
    steps: list[tuple[str, Callable[[], None]]] = [
        ("Creating the nodes", region.create),
        ("Starting web and worker processes", region.start),
        ("Federating the neighbourhoods", region.federate),
        ("Adding needs, offers, an assembly electing a delegate, and the storm incident", region.seed),
        ("Waiting for the listings to travel through the federation", region.wait_federated),
    ]
    for label, step in steps:
        if stop.is_set():
            return 130
        say(f"{label}...")
        step()
    state = region.save()
    say(instructions(region, state, time.monotonic() - started))
    while not stop.wait(1.0):
        died = region.check()
        if died:
            say(f"error: {died}")
            return 1
    return 0


def instructions(region: Region, state: Path, seconds: float) -> str:
    """What the region is and what to try, printed once it is up."""
    lines = [f"\nThe region is running ({seconds:.0f} s to start). Data: {region.root}\n"]
    for node in region.nodes:
        lines.append(f"  {node.place.name:<32} {node.url}   ({node.place.role}, {node.node_id})")
    first = region.neighbourhoods[0] if region.neighbourhoods else region.federation
    other = region.neighbourhoods[1] if len(region.neighbourhoods) > 1 else region.federation
    member = (
        next(p.handle for p in first.place.people if not p.steward)
        if len(first.place.people) > 1
        else first.steward
    )
    lines += [
        "",
        f"Members log in with their handle and the password '{PASSWORD}'",
        f"  (at {first.place.name}: {', '.join(p.handle for p in first.place.people)}).",
        "",
        "Things to try:",
        f"  - Open {first.url}/ and log in as {member}; post a need.",
        f"  - See it arrive at {other.place.name}: {other.url}/api/v1/network/listings",
        f"    curl -H 'Authorization: Bearer {other.tokens[other.steward]}' \\",
        f"         {other.url}/api/v1/network/listings",
        f"  - Peer health and lag at the federation: {region.federation.url}/api/v1/peers (as its steward)",
        f"  - The assembly that elected a delegate: {first.url}/api/v1/assemblies, and the mandate",
        f"    (signed credential) at {first.url}/api/v1/mandates",
        "  - The live incident (the storm), its situation and map, at any node:",
        f"    {first.url}/api/v1/incidents",
        f"    {region.federation.url}/api/v1/incidents/{region.incident}/map.svg",
        f"  - Metrics: {first.url}/metrics   Health: {first.url}/healthz",
        f"  - Stop one node's worker (see the pids in {state}), post, and watch the outbox wait and drain.",
        "",
        f"Tokens, ids and pids: {state}",
        "Press Ctrl-C to stop every node.",
    ]
    return "\n".join(lines)


def _make_members(instance: str, key: str) -> None:
    """Add a place's people with API tokens (run inside a node's own process, once per node)."""
    from node import create_app
    from node.db import session_scope
    from node.members import service

    place = next(p for p in demo_seed.region(len(demo_seed.NEIGHBOURHOODS) + 10) if p.key == key)
    app = create_app({"instance_path": Path(instance)})
    tokens = {}
    with session_scope(app) as db:
        for person in place.people:
            member = service.create_member(
                db, person.handle, person.name, f"{person.handle}@{key}.example.org", PASSWORD
            )
            if person.steward:
                service.grant_steward(db, app.config["MUTUALAID"], None, person.handle, 90, "demo region")
            _, tokens[person.handle] = service.create_token(db, member, "demo")
    (Path(instance) / "demo-tokens.json").write_text(json.dumps(tokens))
    app.extensions["db"].dispose()


if __name__ == "__main__":
    if sys.argv[1:2] == ["members"]:
        _make_members(sys.argv[2], sys.argv[3])
