"""`mutualaid demo` starts a whole region, federates a need, and stops leaving nothing behind."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
import requests

T = TypeVar("T")
MUTUALAID = Path(sys.executable).parent / "mutualaid"


def wait_until(condition: Callable[[], T], timeout: float, what: str) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = condition()
        except (requests.RequestException, OSError, ValueError):
            value = None  # type: ignore[assignment]
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.e2e
def test_demo_region_federates_a_need_and_stops_cleanly(tmp_path: Path) -> None:
    root = tmp_path / "region"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MUTUALAID_", "PROMETHEUS_"))}
    log = (tmp_path / "demo.out").open("wb")
    demo = subprocess.Popen(
        [str(MUTUALAID), "demo", "--dir", str(root), "--base-port", "0"],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )
    state: dict[str, Any] = {}
    try:

        def running() -> Any:
            if demo.poll() is not None:
                raise AssertionError("the demo exited:\n" + (tmp_path / "demo.out").read_text()[-3000:])
            return json.loads((root / "region.json").read_text())

        state = wait_until(running, 420, "the demo to report the region running")
        nodes = state["nodes"]
        assert [n["role"] for n in nodes] == ["federation", "neighbourhood", "neighbourhood", "neighbourhood"]
        for node in nodes:
            assert requests.get(node["url"] + "/healthz", timeout=5).status_code == 200

        first, others = nodes[1], nodes[2:]
        member = next(handle for handle in first["tokens"] if handle != first["steward"])
        posted = requests.post(
            first["url"] + "/api/v1/needs",
            timeout=30,
            headers={"Authorization": f"Bearer {first['tokens'][member]}"},
            json={
                "category": "shelter",
                "title": "Dry place for a family of three tonight",
                "quantity": 3,
                "unit": "people",
                "urgency": "emergency",
                "h3_cell": "881f1d4a13fffff",
            },
        )
        assert posted.status_code == 201, posted.text
        listing_id = posted.json()["id"]

        def seen_at(node: dict[str, Any]) -> bool:
            page = requests.get(
                node["url"] + "/api/v1/network/listings?per_page=100",
                timeout=10,
                headers={"Authorization": f"Bearer {node['tokens'][node['steward']]}"},
            ).json()
            return any(
                item["listing_id"] == listing_id
                and item["node_id"] == first["node_id"]
                and item["handle"] == member
                for item in page["items"]
            )

        for node in others:
            wait_until(lambda node=node: seen_at(node), 120, f"the need to reach {node['name']}")

        # The assembly's delegate holds a signed mandate, and the federation has heard of it.
        hub = nodes[0]
        mandate = state["delegate"]["mandate"]

        def federation_knows_mandate() -> bool:
            page = requests.get(
                hub["url"] + "/api/v1/mandates",
                timeout=10,
                headers={"Authorization": f"Bearer {hub['tokens'][hub['steward']]}"},
            ).json()
            return any(item["id"] == mandate and item["live"] for item in page["items"])

        wait_until(federation_knows_mandate, 120, "the federation to learn of the delegate's mandate")

        # The storm the federation declared is a live incident at every neighbourhood.
        def incident_everywhere() -> bool:
            for node in nodes[1:]:
                token = node["tokens"][node["steward"]]
                page = requests.get(node["url"] + "/api/v1/incidents", timeout=10,
                                    headers={"Authorization": f"Bearer {token}"}).json()
                live = [item for item in page["items"] if item["state"] != "closed"]
                if not any(item["id"] == state["incident"] for item in live):
                    return False
            return True

        wait_until(incident_everywhere, 120, "the incident to reach every neighbourhood")

        metrics = requests.get(first["url"] + "/metrics", timeout=10).text
        assert 'mutualaid_worker_tasks_total{outcome="success",task="mutualaid.drain_peer"}' in metrics
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGINT)
        demo.wait(120)
        log.close()
    output = (tmp_path / "demo.out").read_text()
    assert demo.returncode == 0, output[-3000:]
    assert "Stopped: no demo process is left running." in output
    for node in state["nodes"]:
        for pid in node["pids"].values():
            assert not group_alive(pid), f"{node['name']}: process group {pid} is still alive"
        assert not listening(node["port"]), f"port {node['port']} is still taken"
    assert not group_alive(demo.pid)
