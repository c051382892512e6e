"""Resident memory of one node and its worker on embedded defaults, after the demo's traffic.

Starts `mutualaid demo` (a federation and three neighbourhood nodes, each with a web and a worker
process), adds traffic on top of the demo's own seed (needs and offers posted at every
neighbourhood, delivered to every other through the federation, and reads of the lists), then
measures one neighbourhood node: its web process plus its worker's process group (Celery's
worker, whose sweep timer is a thread). Prints the figures; the LAST line is one JSON object.

    python -m bench.memory [--posts 40] [--node riverside]

RSS counts every page a process maps, so pages two processes share are counted twice in a sum
of RSS; PSS divides shared pages among the processes sharing them. Both are printed; the floor
is checked on the sum of RSS, the stricter of the two.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

FLOOR_MB = 300
MUTUALAID = Path(sys.executable).parent / "mutualaid"


def group_pids(pgid: int) -> list[int]:
    """Every live process of a process group."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.getpgid(int(entry.name)) == pgid:
                    found.append(int(entry.name))
            except (ProcessLookupError, PermissionError):
                continue
    return sorted(found)


def memory(pid: int) -> dict[str, float]:
    """RSS, PSS and private memory of one process, in MiB (from /proc/PID/smaps_rollup)."""
    values: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        key, amount, *_ = line.split()
        values[key.rstrip(":")] = int(amount) / 1024
    return {"rss": values["Rss"], "pss": values["Pss"],
            "private": values["Private_Clean"] + values["Private_Dirty"]}


def traffic(state: dict[str, Any], posts: int) -> dict[str, int]:
    """Post needs and offers at every neighbourhood and read lists; returns how many each posted."""
    neighbourhoods = [n for n in state["nodes"] if n["role"] == "neighbourhood"]
    posted = {n["key"]: 0 for n in neighbourhoods}
    for n in range(posts):
        node = neighbourhoods[n % len(neighbourhoods)]
        handles = list(node["tokens"])
        token = node["tokens"][handles[n % len(handles)]]
        kind = "needs" if n % 2 else "offers"
        body = {"category": "food", "title": f"Bench {kind[:-1]} {n}", "quantity": 1 + n % 5, "unit": "kg",
                "urgency": "soon", "h3_cell": "881f1d4a13fffff", "description": "memory benchmark traffic"}
        response = requests.post(f"{node['url']}/api/v1/{kind}", json=body, timeout=30,
                                 headers={"Authorization": f"Bearer {token}"})
        response.raise_for_status()
        posted[node["key"]] += 1
        requests.get(f"{node['url']}/api/v1/network/listings?per_page=50", timeout=30,
                     headers={"Authorization": f"Bearer {token}"}).raise_for_status()
    return posted


def remote_count(node: dict[str, Any]) -> int:
    """How many other nodes' listings a node holds."""
    token = node["tokens"][node["steward"]]
    page = requests.get(f"{node['url']}/api/v1/network/listings?per_page=1", timeout=30,
                        headers={"Authorization": f"Bearer {token}"})
    page.raise_for_status()
    return int(page.json()["total"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--posts", type=int, default=40, help="needs and offers to post on top of the seed")
    parser.add_argument("--node", default="riverside", help="the neighbourhood node to measure")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="mutualaid-bench-")) / "region"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MUTUALAID_", "PROMETHEUS_"))}
    log = (root.parent / "demo.out").open("wb")
    started = time.monotonic()
    demo = subprocess.Popen([str(MUTUALAID), "demo", "--dir", str(root), "--base-port", "0"],
                            stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        state_file = root / "region.json"
        while not state_file.exists():
            if demo.poll() is not None:
                raise SystemExit("the demo exited:\n" + (root.parent / "demo.out").read_text()[-2000:])
            time.sleep(0.5)
        state = json.loads(state_file.read_text())
        startup = time.monotonic() - started
        print(f"region up in {startup:.0f} s: {', '.join(n['name'] for n in state['nodes'])}")

        neighbourhoods = [n for n in state["nodes"] if n["role"] == "neighbourhood"]
        seeded = {n["key"]: remote_count(n) for n in neighbourhoods}
        posted = traffic(state, args.posts)
        # Each neighbourhood receives what every other one posted.
        expected = {key: count + sum(posted.values()) - posted[key] for key, count in seeded.items()}
        deadline = time.monotonic() + 300
        while any(remote_count(n) < expected[n["key"]] for n in neighbourhoods):
            if time.monotonic() > deadline:
                raise SystemExit("the traffic was not delivered within 300 s")
            time.sleep(1)
        print(f"traffic: {sum(posted.values())} needs and offers posted and delivered to every neighbourhood")
        time.sleep(3)  # let the sweep and the last drains settle

        node = next(n for n in state["nodes"] if n["key"] == args.node)
        figures: dict[str, Any] = {"node": node["name"], "posts": sum(posted.values()),
                                   "startup_seconds": round(startup, 1)}
        total = {"rss": 0.0, "pss": 0.0, "private": 0.0}
        for role, leader in node["pids"].items():
            for pid in group_pids(leader):
                mem = memory(pid)
                print(f"{role:<6} pid {pid:<7} rss {mem['rss']:6.1f} MiB  pss {mem['pss']:6.1f} MiB  "
                      f"private {mem['private']:6.1f} MiB")
                for key in total:
                    total[key] += mem[key]
                figures[f"{role}_pss_mib"] = round(figures.get(f"{role}_pss_mib", 0.0) + mem["pss"], 1)
                figures[f"{role}_rss_mib"] = round(figures.get(f"{role}_rss_mib", 0.0) + mem["rss"], 1)
        figures.update({f"total_{k}_mib": round(v, 1) for k, v in total.items()})
        figures["floor_mib"] = FLOOR_MB
        figures["floor_met"] = total["rss"] < FLOOR_MB
        print(f"node + worker together: rss sum {total['rss']:.1f} MiB (floor < {FLOOR_MB} MiB: "
              f"{'met' if figures['floor_met'] else 'NOT met'}), pss {total['pss']:.1f} MiB, "
              f"private {total['private']:.1f} MiB")
    finally:
        os.killpg(demo.pid, signal.SIGINT)
        demo.wait(120)
        log.close()
        shutil.rmtree(root.parent, ignore_errors=True)
    print(f"demo stopped (exit status {demo.returncode})")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
