"""A bounded load test: API reads and the federation inbox, each for a minute, from another process.

    python -m bench.load [--duration 60] [--connections 8] [--batch 5] [--generator auto|wrk|python]

Starts a node under gunicorn (2 sync workers, embedded defaults: SQLite and kombu's SQL broker)
in a temporary instance, seeded with 100 open needs, and a second node's instance (its key only:
it never runs) that the first knows as a peer. Then, from a separate process (`wrk` when it is
installed, Debian package `wrk`; otherwise a Python generator with keep-alive connections):

1. `GET /api/v1/needs?per_page=20` with a member's bearer token, for `--duration` seconds;
2. `POST /federation/inbox` with batches of `--batch` fresh `need.published` envelopes signed by
   the peer's real key, in sequence order, for `--duration` seconds. Every batch is different,
   so the inbox verifies, stores and applies each envelope (none is a duplicate). The batches
   are signed before the clock starts; the peer's seq numbers run on across batches.

The inbox's per-sender rate limit is raised for the run (`MUTUALAID_INBOX_RATE_LIMIT`) so the
load is measured rather than refused; any 429 would still be counted apart from errors.

Reports requests/s, latency p50 and p99, the count of answers that were not 2xx (the bound is
0), and the node's memory (RSS summed over the gunicorn master and its workers) after a warm-up,
after the reads and after the inbox run, with its growth against a stated bound. Prints readable
lines, then as its last line one JSON object of the figures. Every process it starts is stopped
before it exits.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench.api import CELL, WORKERS, gunicorn, memory_mb, seed

# The node's memory may grow by at most this much (RSS summed over master and workers) between
# the end of the warm-up and the end of both runs.
RSS_GROWTH_BOUND_MB = 40.0
RATE_LIMIT = "10000000 per minute"
REJECTED = re.compile(rb'"status":\s*"rejected"')
WARM_UP_SECONDS = 5.0
WARM_UP_BATCHES = 400


# --- the peer and its batches ------------------------------------------------------------------

def make_peer(root: Path, node_instance: Path) -> tuple[str, Any]:
    """Make the peer's instance and register it as a peer of the node; returns (its id, its
    identity, holding the private key that signs the batches)."""
    from federation import document
    from federation.identity import local_identity
    from federation.models import Relation
    from federation.peers import record_peer
    from node import create_app
    from node.db import database, session_scope

    peer_instance = root / "peer"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MUTUALAID_")}
    cli = Path(sys.executable).parent / "mutualaid"
    subprocess.run([str(cli), "--instance", str(peer_instance), "init", "--name", "Load peer"],
                   env=env, check=True, capture_output=True, timeout=120)
    peer_app = create_app({"instance_path": peer_instance})
    with peer_app.app_context(), session_scope(peer_app) as db:
        raw = document.build(db, peer_app)
    identity = local_identity(peer_app)
    database(peer_app).dispose()
    node_app = create_app({"instance_path": node_instance})
    with node_app.app_context(), session_scope(node_app) as db:
        # The peer never runs: its URL is a closed port, which a real peer that is down also is.
        record_peer(db, node_app, document.check(raw), "http://127.0.0.1:9", Relation.PEER)
    database(node_app).dispose()
    return identity.node_id, identity


def write_batches(identity: Any, path: Path, count: int, per_batch: int, seq: int = 0) -> int:
    """Sign `count` batches of `per_batch` fresh envelopes into `path`, one JSON body a line,
    with seqs following `seq`; returns the last seq."""
    from federation.envelope import make_envelope

    with path.open("w") as out:
        for _ in range(count):
            envelopes = []
            for _ in range(per_batch):
                seq += 1
                body = {"listing_id": str(uuid.uuid4()), "category": "food", "title": f"Rice, lot {seq}",
                        "quantity": 2, "unit": "kg", "urgency": "urgent", "h3_cell": CELL, "handle": "ana"}
                envelopes.append(make_envelope(identity, "need.published", body, seq))
            out.write(json.dumps({"envelopes": envelopes}, separators=(",", ":")) + "\n")
    return seq


# --- load generators ---------------------------------------------------------------------------

WRK_SCRIPT = """
local bodies = {}
local nbodies = 0
local counter = 0
statuses = {}
rejected = 0
local threads = {}
local BODIES = %(bodies)s
local headers = %(headers)s

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  if BODIES ~= "" then
    for line in io.lines(BODIES) do
      nbodies = nbodies + 1
      bodies[nbodies] = line
    end
  end
  for name, value in pairs(headers) do wrk.headers[name] = value end
  wrk.method = %(method)s
end

function request()
  if nbodies == 0 then return wrk.format() end
  counter = counter + 1
  if counter > nbodies then counter = 1 end
  return wrk.format(nil, nil, nil, bodies[counter])
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  for _ in string.gmatch(body or "", '"status":%%s*"rejected"') do rejected = rejected + 1 end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %%d %%d %%d %%d %%d %%d %%d %%d\\n", summary.requests, summary.duration,
    e.connect, e.read, e.write, e.timeout, latency:percentile(50), latency:percentile(99)))
  for _, thread in ipairs(threads) do
    local seen = thread:get("statuses")
    for status, n in pairs(seen) do io.write(string.format("STATUS %%d %%d\\n", status, n)) end
    io.write(string.format("REJECTED %%d\\n", thread:get("rejected")))
  end
end
"""


def lua_string(value: str) -> str:
    return json.dumps(value)  # a JSON string of plain ASCII text is a valid Lua string


def wrk(url: str, method: str, headers: dict[str, str], bodies: Path | None, duration: float,
        connections: int) -> dict[str, Any]:
    """Drive `url` with wrk (one thread); requests, rate, latency percentiles and statuses."""
    table = "{" + ", ".join(f"[{lua_string(k)}] = {lua_string(v)}" for k, v in headers.items()) + "}"
    script = WRK_SCRIPT % {"bodies": lua_string(str(bodies) if bodies else ""), "headers": table,
                           "method": lua_string(method)}
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    try:
        done = subprocess.run(
            ["wrk", "-t", "1", "-c", str(connections), "-d", f"{int(duration)}s", "--timeout", "30s",
             "-s", handle.name, url],
            check=False, capture_output=True, text=True, timeout=duration + 120,
        )
        if done.returncode:
            raise SystemExit(f"wrk failed ({done.returncode}): {done.stdout[-2000:]} {done.stderr[-2000:]}")
        out = done.stdout
    finally:
        os.unlink(handle.name)
    line = next(line for line in out.splitlines() if line.startswith("RESULT "))
    requests, micros, connect, read, write, timeout, p50, p99 = (int(x) for x in line.split()[1:])
    statuses = {int(parts[1]): int(parts[2]) for parts in
                (line.split() for line in out.splitlines() if line.startswith("STATUS "))}
    seconds = micros / 1e6
    return {"requests": requests, "seconds": round(seconds, 2), "rps": round(requests / seconds, 1),
            "p50_ms": round(p50 / 1000, 2), "p99_ms": round(p99 / 1000, 2), "statuses": statuses,
            "socket_errors": connect + read + write + timeout,
            "rejected": sum(int(line.split()[1]) for line in out.splitlines()
                            if line.startswith("REJECTED "))}


def python_load(spec: dict[str, Any]) -> dict[str, Any]:
    """The fallback generator: threads with keep-alive connections, bodies taken in turn."""
    parts = urlsplit(spec["url"])
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    bodies = Path(spec["bodies"]).read_bytes().splitlines() if spec["bodies"] else [b""]
    deadline = time.monotonic() + spec["duration"]
    lock = threading.Lock()
    state: dict[str, Any] = {"next": 0, "latencies": [], "statuses": {}, "socket_errors": 0, "rejected": 0}

    def take() -> bytes | None:
        with lock:
            body = bodies[state["next"] % len(bodies)]
            state["next"] += 1
        return body if spec["bodies"] else None

    def worker() -> None:
        conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
        latencies: list[float] = []
        statuses: dict[int, int] = {}
        errors = rejected = 0
        while time.monotonic() < deadline:
            started = time.perf_counter()
            try:
                conn.request(spec["method"], path, body=take(), headers=spec["headers"])
                response = conn.getresponse()
                answer = response.read()
                latencies.append(time.perf_counter() - started)
                rejected += len(REJECTED.findall(answer))
                statuses[response.status] = statuses.get(response.status, 0) + 1
            except (OSError, http.client.HTTPException):
                errors += 1
                conn.close()
        with lock:
            state["latencies"] += latencies
            state["socket_errors"] += errors
            state["rejected"] += rejected
            for status, n in statuses.items():
                state["statuses"][status] = state["statuses"].get(status, 0) + n

    started = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(spec["connections"])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    ordered = sorted(state["latencies"]) or [0.0]
    requests = sum(state["statuses"].values())
    return {"requests": requests, "seconds": round(elapsed, 2), "rps": round(requests / elapsed, 1),
            "p50_ms": round(ordered[len(ordered) // 2] * 1000, 2),
            "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 2),
            "statuses": state["statuses"], "socket_errors": state["socket_errors"],
            "rejected": state["rejected"]}


def drive(generator: str, url: str, method: str, headers: dict[str, str], bodies: Path | None,
          duration: float, connections: int) -> dict[str, Any]:
    """Load `url` from a separate process for `duration` seconds."""
    if generator == "wrk":
        return wrk(url, method, headers, bodies, duration, connections)
    spec = json.dumps({"url": url, "method": method, "headers": headers, "duration": duration,
                       "bodies": str(bodies) if bodies else "", "connections": connections})
    out = subprocess.run([sys.executable, "-m", "bench.load", "--load", spec], check=True,
                         capture_output=True, text=True, timeout=duration + 120)
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    result["statuses"] = {int(k): v for k, v in result["statuses"].items()}
    return result


def summarise(label: str, result: dict[str, Any]) -> dict[str, Any]:
    """Split the answers into 2xx, rate-limited (429) and errors (everything else)."""
    statuses = result["statuses"]
    ok = sum(n for status, n in statuses.items() if 200 <= status < 300)
    limited = statuses.get(429, 0)
    errors = sum(n for status, n in statuses.items() if not 200 <= status < 300 and status != 429)
    figures = {**result, "ok": ok, "rate_limited": limited, "errors": errors + result["socket_errors"],
               "statuses": {str(k): v for k, v in sorted(statuses.items())}}
    print(f"{label:>6}: {result['rps']:8.1f} requests/s over {result['seconds']} s, "
          f"p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms; {ok} 2xx, {limited} rate-limited, "
          f"{figures['errors']} errors, {result['rejected']} envelopes rejected",
          flush=True)
    return figures


# --- the run -----------------------------------------------------------------------------------

def count_applied(instance: Path, sender: str) -> int:
    """Envelopes from the peer the node holds as applied."""
    from sqlalchemy import create_engine, text

    engine = create_engine(f"sqlite:///{instance / 'mutualaid.sqlite3'}")
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM federation_envelopes WHERE sender = :s "
                                         "AND outcome = 'applied'"), {"s": sender}).scalar() or 0)
    finally:
        engine.dispose()


def measure(args: argparse.Namespace) -> dict[str, Any]:
    generator = args.generator
    if generator == "auto":
        generator = "wrk" if shutil.which("wrk") else "python"
    figures: dict[str, Any] = {
        "generator": generator, "workers": WORKERS, "connections": args.connections,
        "seconds_per_run": args.duration, "envelopes_per_batch": args.batch, "cpus": os.cpu_count(),
        "inbox_rate_limit": RATE_LIMIT, "rss_growth_bound_mb": RSS_GROWTH_BOUND_MB,
        "load_average_before": [round(x, 2) for x in os.getloadavg()],
    }
    with tempfile.TemporaryDirectory(prefix="mutualaid-load-") as tmp:
        root = Path(tmp)
        instance = root / "instance"
        token = seed(instance)
        peer_id, identity = make_peer(root, instance)
        bodies = root / "batches.jsonl"
        warm_bodies = root / "warm.jsonl"
        warm_seq = write_batches(identity, warm_bodies, WARM_UP_BATCHES, args.batch)
        signed = time.monotonic()
        last_seq = write_batches(identity, bodies, args.batches, args.batch, warm_seq) - warm_seq
        print(f"signed {last_seq} envelopes in {args.batches} batches in {time.monotonic() - signed:.1f} s",
              flush=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("MUTUALAID_")}
        env.update(MUTUALAID_INSTANCE_PATH=str(instance), MUTUALAID_ENV="production",
                   MUTUALAID_LOG_LEVEL="WARNING", MUTUALAID_INBOX_RATE_LIMIT=RATE_LIMIT)
        auth = {"Authorization": f"Bearer {token}"}
        post = {"Content-Type": "application/json"}
        with gunicorn("node:create_app()", env, "/healthz") as (base, proc):
            list_url = base + "/api/v1/needs?per_page=20"
            inbox_url = base + "/federation/inbox"
            # Warm-up: every worker has served both routes, from as many connections as the
            # runs use, before memory is first read (parts of the app load on first use). The
            # measured batches' seqs follow the warm-up's.
            drive(generator, list_url, "GET", auth, None, WARM_UP_SECONDS, args.connections)
            drive(generator, inbox_url, "POST", post, warm_bodies, WARM_UP_SECONDS, args.connections)
            time.sleep(1)
            figures["rss_start_mb"] = memory_mb(proc.pid)["rss"]
            print(f"node after warm-up: RSS {figures['rss_start_mb']} MB", flush=True)
            figures["reads"] = summarise("reads", drive(generator, list_url, "GET", auth, None, args.duration,
                                                        args.connections))
            figures["rss_after_reads_mb"] = memory_mb(proc.pid)["rss"]
            applied_before = count_applied(instance, peer_id)
            figures["inbox"] = summarise("inbox", drive(generator, inbox_url, "POST", post, bodies,
                                                        args.duration, args.connections))
            time.sleep(1)
            after = memory_mb(proc.pid)
            figures["rss_after_mb"] = after["rss"]
            figures["pss_after_mb"] = after["pss"]
            applied = count_applied(instance, peer_id) - applied_before
        sent = figures["inbox"]["ok"] * args.batch
        figures["inbox"]["envelopes_applied"] = applied
        figures["inbox"]["envelopes_per_second"] = round(applied / figures["inbox"]["seconds"], 1)
        # More batches sent than were signed means the run came round to the first again.
        figures["inbox"]["batches_repeated"] = max(0, figures["inbox"]["requests"] - args.batches)
        figures["inbox"]["envelopes_sent_in_2xx"] = sent
    figures["rss_growth_mb"] = round(figures["rss_after_mb"] - figures["rss_start_mb"], 1)
    figures["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    errors = figures["reads"]["errors"] + figures["inbox"]["errors"]
    figures["errors"] = errors
    figures["bounds"] = {"errors_max": 0, "errors_ok": errors == 0,
                         "rejected_max": 0, "rejected_ok": figures["inbox"]["rejected"] == 0,
                         "rss_growth_mb_max": RSS_GROWTH_BOUND_MB,
                         "rss_ok": figures["rss_growth_mb"] <= RSS_GROWTH_BOUND_MB}
    return figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=60, help="seconds of load per run (at least 60)")
    parser.add_argument("--connections", type=int, default=8, help="concurrent connections")
    parser.add_argument("--batch", type=int, default=5, help="envelopes per inbox batch")
    parser.add_argument("--batches", type=int, default=6000, help="distinct batches signed beforehand")
    parser.add_argument("--generator", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument("--load", help=argparse.SUPPRESS)  # internal: run the Python generator
    args = parser.parse_args(argv)
    if args.load:
        print(json.dumps(python_load(json.loads(args.load))))
        return
    figures = measure(args)
    print(f"errors {figures['errors']} (bound 0); "
          f"RSS {figures['rss_start_mb']} -> {figures['rss_after_mb']} MB, "
          f"growth {figures['rss_growth_mb']} MB (bound {RSS_GROWTH_BOUND_MB} MB); inbox applied "
          f"{figures['inbox']['envelopes_applied']} envelopes; load average {figures['load_average_after']}")
    print(json.dumps(figures, sort_keys=True))


if __name__ == "__main__":
    main()
