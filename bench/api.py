"""Throughput of the node's JSON API against a bare Flask endpoint, and the idle node's memory.

    python -m bench.api [--duration 5] [--rounds 3] [--connections 8] [--generator auto|wrk|python]

Starts, in one run: a node under gunicorn (2 sync workers) on embedded defaults in a temporary
instance, seeded with 100 open needs; and a bare Flask endpoint under gunicorn (2 workers). For
the memory figure it also starts, for a moment, the least app on the node's stack
(bench/reference.py: Flask, one SQLAlchemy model, one pydantic model) under the same gunicorn. Load
comes from a separate process: `wrk` when it is installed (Debian package `wrk`), otherwise a
Python generator with keep-alive connections; the same generator measures all three endpoints.
Prints readable lines, then as its last line one JSON object of the figures. Every process it
starts is stopped before it exits.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
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
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import Flask

SEEDED_NEEDS = 100
WORKERS = 2
CELL = "881f1d4815fffff"
NEED_BODY = {"category": "food", "title": "Rice for a family of four", "quantity": 2, "unit": "kg",
             "urgency": "urgent", "h3_cell": CELL, "description": "Any kind of rice will do."}


def bare_app() -> Flask:
    """The bare endpoint: Flask with one JSON view and nothing else."""
    app = Flask("bare")

    @app.get("/bare")
    def bare() -> Any:
        return {"status": "ok"}

    return app


# --- the node under test ---------------------------------------------------------------------

def seed(instance: Path) -> str:
    """Create the node's instance, one member with a token and the open needs; return the token."""
    from node import create_app
    from node.db import database, session_scope
    from node.members import service as members
    from node.resources import schemas
    from node.resources import service as resources
    from node.resources.models import ListingKind

    env = {k: v for k, v in os.environ.items() if not k.startswith("MUTUALAID_")}
    cli = Path(sys.executable).parent / "mutualaid"
    subprocess.run([str(cli), "--instance", str(instance), "init", "--join-policy", "open"], env=env,
                   check=True, capture_output=True, timeout=120)
    app = create_app({"instance_path": instance})
    settings = app.config["MUTUALAID"]
    with session_scope(app) as db:
        member = members.create_member(db, "bench", "Bench", "bench@example.org", "bench password 1")
        _, token = members.create_token(db, member, "bench")
        for n in range(SEEDED_NEEDS):
            body = schemas.ListingIn.model_validate({**NEED_BODY, "title": f"Need number {n}"})
            resources.create_listing(db, settings, member, ListingKind.NEED, body)
    database(app).dispose()
    return token


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def gunicorn(target: str, env: dict[str, str], health: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Run `target` under gunicorn with WORKERS sync workers until the block ends."""
    port = free_port()
    cmd = [sys.executable, "-m", "gunicorn", "-w", str(WORKERS), "-b", f"127.0.0.1:{port}",
           "--log-level", "warning", target]
    proc = subprocess.Popen(cmd, env=env, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base + health, proc)
        yield base, proc
    finally:
        stop(proc)


def wait_until_up(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    parts = urlsplit(url)
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server at {url} exited with {proc.returncode}")
        try:
            conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=2)
            conn.request("GET", parts.path)
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"the server at {url} did not come up")


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop a gunicorn master and its workers (its own process group), waiting for them."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


# --- memory ----------------------------------------------------------------------------------

def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name may hold spaces; the parent pid is the second field after it.
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def memory_mb(pid: int) -> dict[str, Any]:
    """RSS and PSS of a process and its children, in MB, summed and one by one.

    RSS counts pages shared between the master and its workers once per process; PSS shares
    them out, so its sum is what the node really occupies."""
    totals: dict[str, Any] = {"rss": 0.0, "pss": 0.0, "processes_rss": []}
    for each in [pid, *children(pid)]:
        rss = 0.0
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{each}/smaps_rollup").read_text().splitlines():
                key, _, value = line.partition(":")
                if key in ("Rss", "Pss"):
                    totals[key.lower()] += int(value.split()[0]) / 1024
                if key == "Rss":
                    rss = int(value.split()[0]) / 1024
        totals["processes_rss"].append(round(rss, 1))
    totals["rss"], totals["pss"] = round(totals["rss"], 1), round(totals["pss"], 1)
    return totals


# --- load generators -------------------------------------------------------------------------

def load(generator: str, url: str, method: str, headers: dict[str, str], body: str | None,
         duration: float, connections: int) -> dict[str, float]:
    """Drive `method url` from a separate process for `duration` seconds; requests/s and errors."""
    if generator == "wrk":
        return wrk(url, method, headers, body, duration, connections)
    spec = json.dumps({"url": url, "method": method, "headers": headers, "body": body,
                       "duration": duration, "connections": connections})
    out = subprocess.run([sys.executable, "-m", "bench.api", "--load", spec], check=True,
                         capture_output=True, text=True, timeout=duration + 60)
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def wrk(url: str, method: str, headers: dict[str, str], body: str | None, duration: float,
        connections: int) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(f"wrk.method = {json.dumps(method)}\n")
        for name, value in headers.items():
            script.write(f"wrk.headers[{json.dumps(name)}] = {json.dumps(value)}\n")
        if body is not None:
            script.write(f"wrk.body = {json.dumps(body)}\n")
        script.write(
            "done = function(summary, latency, requests)\n"
            "  local e = summary.errors\n"
            '  io.write(string.format("RESULT %d %d %d\\n", summary.requests, summary.duration,\n'
            "    e.connect + e.read + e.write + e.status + e.timeout))\n"
            "end\n"
        )
    try:
        out = subprocess.run(
            ["wrk", "-t", "1", "-c", str(connections), "-d", f"{int(duration)}s", "-s", script.name, url],
            check=True, capture_output=True, text=True, timeout=duration + 60,
        ).stdout
    finally:
        os.unlink(script.name)
    line = next(line for line in out.splitlines() if line.startswith("RESULT "))
    requests, micros, errors = (int(x) for x in line.split()[1:])
    return {"rps": round(requests / (micros / 1e6), 1), "requests": requests, "errors": errors}


def python_load(spec: dict[str, Any]) -> dict[str, float]:
    """The fallback generator: threads, each with a keep-alive connection, for a fixed time."""
    parts = urlsplit(spec["url"])
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    body = spec["body"].encode() if spec["body"] is not None else None
    deadline = time.monotonic() + spec["duration"]
    counts = {"ok": 0, "errors": 0}
    lock = threading.Lock()

    def worker() -> None:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        ok = errors = 0
        while time.monotonic() < deadline:
            try:
                conn.request(spec["method"], path, body=body, headers=spec["headers"])
                response = conn.getresponse()
                response.read()
                if response.status < 400:
                    ok += 1
                else:
                    errors += 1
                if response.getheader("Connection", "").lower() == "close":
                    conn.close()
            except (OSError, http.client.HTTPException):
                errors += 1
                conn.close()
        with lock:
            counts["ok"] += ok
            counts["errors"] += errors

    started = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(spec["connections"])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    total = counts["ok"] + counts["errors"]
    return {"rps": round(total / elapsed, 1), "requests": total, "errors": counts["errors"]}


# --- the run ---------------------------------------------------------------------------------

def measure(args: argparse.Namespace) -> dict[str, Any]:
    generator = args.generator
    if generator == "auto":
        generator = "wrk" if shutil.which("wrk") else "python"
    figures: dict[str, Any] = {
        "generator": generator, "workers": WORKERS, "connections": args.connections,
        "rounds": args.rounds, "seconds_per_round": args.duration, "cpus": os.cpu_count(),
        "load_average_before": round(os.getloadavg()[0], 2),
    }
    with tempfile.TemporaryDirectory(prefix="mutualaid-bench-") as tmp:
        instance = Path(tmp) / "instance"
        token = seed(instance)
        env = {k: v for k, v in os.environ.items() if not k.startswith("MUTUALAID_")}
        env.update(MUTUALAID_INSTANCE_PATH=str(instance), MUTUALAID_ENV="production",
                   MUTUALAID_LOG_LEVEL="WARNING")
        auth = {"Authorization": f"Bearer {token}"}
        with gunicorn("bench.api:bare_app()", env, "/bare") as (bare_base, bare_proc), \
                gunicorn("node:create_app()", env, "/healthz") as (base, proc):
            list_url = base + "/api/v1/needs?per_page=20"
            check_list(list_url, auth)
            run = _runner(generator, args.connections)
            run("warm-up", 2, list_url, "GET", auth, None, proc.pid)
            run("warm-up", 2, bare_base + "/bare", "GET", {}, None, bare_proc.pid)
            time.sleep(1)
            figures["idle_memory_mb"] = idle = memory_mb(proc.pid)
            print(f"idle node after warm-up: RSS {idle['rss']} MB (PSS {idle['pss']} MB); master and "
                  f"{WORKERS} workers: {' + '.join(str(r) for r in idle['processes_rss'])} MB")
            figures["reference_memory_mb"] = ref = reference_memory(env, Path(tmp), run)
            print(f"the least Flask + SQLAlchemy + pydantic app under the same gunicorn: RSS {ref['rss']} MB "
                  f"(PSS {ref['pss']} MB); master and {WORKERS} workers: "
                  f"{' + '.join(str(r) for r in ref['processes_rss'])} MB")
            # Bare and list take turns, so that a machine shared with other work slows both alike.
            rounds: dict[str, list[dict[str, float]]] = {"bare": [], "list": []}
            for _ in range(args.rounds):
                rounds["bare"].append(run("bare", args.duration, bare_base + "/bare", "GET", {}, None,
                                          bare_proc.pid))
                rounds["list"].append(run("list", args.duration, list_url, "GET", auth, None, proc.pid))
            post = {**auth, "Content-Type": "application/json"}
            rounds["create"] = [run("create", args.duration, base + "/api/v1/needs", "POST", post,
                                    json.dumps(NEED_BODY), proc.pid) for _ in range(args.rounds)]
            time.sleep(1)
            figures["after_load_memory_mb"] = memory_mb(proc.pid)
    for name, results in rounds.items():
        figures[f"{name}_rps"] = median([r["rps"] for r in results])
        figures[f"{name}_cpu_ms_per_request"] = median([r["cpu_ms"] for r in results])
    ratios = [lst["rps"] / bare["rps"] for bare, lst in zip(rounds["bare"], rounds["list"], strict=True)]
    figures["list_ratio"] = round(median(ratios), 3)
    figures["create_ratio"] = round(figures["create_rps"] / figures["bare_rps"], 3)
    figures["list_cpu_ratio"] = round(
        figures["bare_cpu_ms_per_request"] / figures["list_cpu_ms_per_request"], 3)
    figures["idle_rss_mb"] = figures["idle_memory_mb"]["rss"]
    figures["idle_pss_mb"] = figures["idle_memory_mb"]["pss"]
    figures["reference_rss_mb"] = figures["reference_memory_mb"]["rss"]
    figures["load_average_after"] = round(os.getloadavg()[0], 2)
    figures["floors"] = {"list_ratio_min": 0.25, "idle_rss_mb_max": 150,
                         "list_ok": figures["list_ratio"] >= 0.25, "rss_ok": figures["idle_rss_mb"] < 150}
    return figures


def reference_memory(env: dict[str, str], tmp: Path, run: Any) -> dict[str, Any]:
    """Idle memory of the reference app (bench/reference.py) under gunicorn, warmed up like the node."""
    from bench import reference

    path = str(tmp / "reference.sqlite3")
    reference.prepare(path)
    ref_env = {**env, "BENCH_REFERENCE_DB": path}
    with gunicorn("bench.reference:create_app()", ref_env, "/needs") as (base, proc):
        run("warm-up", 2, base + "/needs", "GET", {}, None, proc.pid)
        time.sleep(1)
        return memory_mb(proc.pid)


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    value = ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2
    return round(value, 3)


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process and its children so far."""
    total = 0
    for each in [pid, *children(pid)]:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime and stime, in clock ticks
    return total / os.sysconf("SC_CLK_TCK")


def check_list(url: str, headers: dict[str, str]) -> None:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    conn.request("GET", f"{parts.path}?{parts.query}", headers=headers)
    response = conn.getresponse()
    data = json.loads(response.read())
    if response.status != 200 or data["total"] != SEEDED_NEEDS or len(data["items"]) != 20:
        raise SystemExit(f"the list endpoint does not answer as expected: {response.status} {data}")


def _runner(generator: str, connections: int) -> Any:
    def run(label: str, seconds: float, url: str, method: str, headers: dict[str, str],
            body: str | None, server_pid: int) -> dict[str, float]:
        cpu = cpu_seconds(server_pid)
        result = load(generator, url, method, headers, body, seconds, connections)
        # CPU time the server spent per request: unlike requests/s, other work on the machine
        # hardly changes it.
        result["cpu_ms"] = round((cpu_seconds(server_pid) - cpu) * 1000 / max(result["requests"], 1), 3)
        print(f"{label:>8}: {result['rps']:8.1f} requests/s, {result['cpu_ms']:6.2f} ms CPU each "
              f"({result['requests']} requests, {result['errors']} errors, {method} {urlsplit(url).path})",
              flush=True)
        if result["errors"]:
            raise SystemExit(f"{label}: {result['errors']} requests failed")
        return result

    return run


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=5, help="seconds of load per round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per endpoint (medians are kept)")
    parser.add_argument("--connections", type=int, default=8, help="concurrent connections")
    parser.add_argument("--generator", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument("--load", help=argparse.SUPPRESS)  # internal: run the Python generator
    args = parser.parse_args(argv)
    if args.load:
        print(json.dumps(python_load(json.loads(args.load))))
        return
    figures = measure(args)
    print(f"list: {figures['list_ratio']:.0%} of bare (floor 25%; by CPU per request "
          f"{figures['list_cpu_ratio']:.0%}); create: {figures['create_ratio']:.0%} of bare; idle node "
          f"RSS {figures['idle_rss_mb']} MB, PSS {figures['idle_pss_mb']} MB (floor < 150 MB; the least "
          f"app on the same stack: RSS {figures['reference_rss_mb']} MB)")
    print(json.dumps(figures, sort_keys=True))


if __name__ == "__main__":
    main()
