"""How fast federation delivers, measured with real node processes on this machine.

Run `python -m bench.federation` from the repository root. It prints the figures as it goes
and, as its last line, one JSON object. Three parts, each on its own nodes (tests/harness.py
starts them: `mutualaid init`, a web process, a Celery worker on a private redis-server):

1. Two nodes, A and B. A signs and stores M messages (one transaction each). Then our outbox
   delivers them: one wake, one drainer, batches of envelopes per HTTP request, B verifies and
   applies each. Then the naive pipeline, in the same run on the same nodes and worker: M more
   messages, one Celery task per message per peer, each POSTing one envelope. Both are timed
   from the first enqueue until B has applied the last message.
2. A region of 20 nodes on two cores: a regional federation with 3 city federations and 16
   neighbourhoods under them (4 hops from one neighbourhood to a neighbourhood of another
   city). Light processes: a `mutualaid run` web process and a `mutualaid worker --no-beat`
   with two threads per node, Redis as broker. A need is posted through the API of a random
   neighbourhood, and we time until all 19 other nodes have applied it; p50 and p99 of N needs.
3. Catch-up: a sender holds 50,000 messages the returning node never got; the returning node
   pulls them from the sender's feed (`federation.catchup.pull`), verifying and applying each.

Lost and duplicated messages are counted in every part: both must be 0.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
from celery import shared_task
from flask import Flask, current_app
from sqlalchemy import delete, func, select, text

from federation import catchup, wake
from federation.document import INBOX_PATH
from federation.http import NODE_HEADER
from federation.identity import local_identity
from federation.models import Delivery, Envelope, Peer
from federation.outbox import publish
from federation.signing import verify_any
from node import create_app
from node.db import session_scope
from tests.harness import CELL, Cluster, NodeProcess, RedisServer, wait_until
from workers.celery_app import make_celery

NAIVE_TASK = "bench.naive_send"
REPO = Path(__file__).resolve().parents[1]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def listing(n: int) -> dict[str, Any]:
    return {"listing_id": str(uuid.uuid4()), "category": "food", "title": f"Bench need {n}",
            "quantity": 1.0, "unit": "kg", "urgency": "routine", "h3_cell": CELL, "handle": "bench"}


# --- the naive pipeline: one task per message per peer, one envelope per request -------------

@shared_task(name=NAIVE_TASK, acks_late=True, autoretry_for=(requests.RequestException,),
             retry_backoff=1, retry_jitter=True, max_retries=20, ignore_result=True)
def naive_send(envelope_id: str, peer_id: str) -> None:
    """POST one envelope to one peer, as a pipeline without batching or per-peer drainers would."""
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    with session_scope(app) as db:
        raw = db.scalar(select(Envelope.raw).where(Envelope.id == uuid.UUID(envelope_id)))
        url = db.scalar(select(Peer.url).where(Peer.id == peer_id))
        sender = local_identity(app, db).node_id
    response = requests.post(f"{url}{INBOX_PATH}", data=('{"envelopes":[' + str(raw) + "]}").encode(),
                             headers={"Content-Type": "application/json", NODE_HEADER: sender}, timeout=20)
    response.raise_for_status()
    status = response.json()["results"][0]["status"]
    if status not in ("accepted", "duplicate"):
        raise requests.RequestException(f"refused: {response.text[:200]}")


def run_worker(instance: str) -> None:
    """A node's worker that also knows the naive task (same pool and broker as ours)."""
    app = create_app({"instance_path": Path(instance)})
    celery = make_celery(app)
    settings = app.config["MUTUALAID"]
    celery.worker_main(["worker", "--pool=threads", f"--concurrency={settings.worker_concurrency}",
                        "--loglevel=WARNING", f"--queues={settings.celery_queue}",
                        "--without-gossip", "--without-mingle", "--without-heartbeat"])


# --- helpers -------------------------------------------------------------------------------------

@contextmanager
def node_app(node: NodeProcess) -> Iterator[Flask]:
    app = create_app({"instance_path": node.instance})
    try:
        yield app
    finally:
        app.extensions["db"].dispose()


def calibration(rounds: int = 3000) -> float:
    """CPU microseconds of one bare Ed25519 verification here and now: about 50 on an idle modern
    core. A shared machine's figures are best read against it."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    message = b"x" * 600
    signature, public = key.sign(message), key.public_key()
    started = time.process_time()
    for _ in range(rounds):
        public.verify(signature, message)
    return round((time.process_time() - started) / rounds * 1e6, 1)


def cpu_seconds(pids: list[int]) -> float:
    """User and system CPU time the processes have used so far (all their threads)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def highest_seq(app: Flask) -> int:
    with session_scope(app) as db:
        return int(db.scalar(select(func.coalesce(func.max(Envelope.seq), 0))) or 0)


def publish_backlog(app: Flask, count: int, per_transaction: int = 1) -> float:
    """Publish `count` messages without waking anyone; returns messages per second."""
    wake.install(app, wake.NoWake())
    started = time.perf_counter()
    done = 0
    while done < count:
        with session_scope(app) as db:
            for _ in range(min(per_transaction, count - done)):
                publish(db, app, "need.published", listing(done))
                done += 1
    return count / (time.perf_counter() - started)


def held(node: NodeProcess, sender: str, after: int) -> tuple[int, int]:
    """(rows, distinct ids) of `sender`'s envelopes after seq `after` that `node` holds."""
    row = node.rows("SELECT count(*), count(DISTINCT id) FROM federation_envelopes "
                    "WHERE sender = :s AND seq > :after", s=sender, after=after)[0]
    return int(row[0]), int(row[1])


def wait_for_all(node: NodeProcess, sender: str, after: int, count: int, timeout: float) -> float:
    """Poll until `node` holds all `count`; returns the time it took."""
    started = time.perf_counter()
    wait_until(lambda: held(node, sender, after)[0] >= count, timeout,
               f"{node.name} to hold {count} envelopes", interval=0.02)
    return time.perf_counter() - started


def apply_rate(node: NodeProcess, sender: str, after: int) -> float:
    """Envelopes per second as the receiver stored them (its own clock, first to last)."""
    engine = node.engine()
    with engine.connect() as conn:
        first, last, count = conn.execute(text(
            "SELECT min(received_at), max(received_at), count(*) FROM federation_envelopes "
            "WHERE sender = :s AND seq > :after"), {"s": sender, "after": after}).one()
    span = (_time(last) - _time(first))
    return (count - 1) / span if span > 0 else float("nan")


def _time(value: Any) -> float:
    """Seconds since the epoch of a timestamp read back with plain SQL (SQLite: UTC text)."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def verify_rate(sender_app: Flask, after: int, limit: int) -> float:
    """Signature checks per second on the sender's envelopes (the receiver's CPU cost)."""
    with session_scope(sender_app) as db:
        query = select(Envelope.raw).where(Envelope.seq > after).order_by(Envelope.seq).limit(limit)
        raws = list(db.scalars(query))
    key = local_identity(sender_app).public_key
    documents = [json.loads(raw) for raw in raws]
    started = time.perf_counter()
    for document in documents:
        verify_any(document, [key])
    return len(documents) / (time.perf_counter() - started)


# --- part 1: two nodes ---------------------------------------------------------------------------

def two_nodes(root: Path, redis: RedisServer | None, messages: int) -> dict[str, Any]:
    cluster = Cluster(root / "two", redis=redis, worker_concurrency=4)
    try:
        a, b = cluster.add("a"), cluster.add("b")
        cluster.setup(a, b)
        cluster.start(a, b, worker=False)
        cluster.peer_both_ways(a, b)
        a.start_worker(command=[sys.executable, "-m", "bench.federation", "worker", str(a.instance)])
        with node_app(a) as app:
            celery_waker = wake.waker(app)
            sender = local_identity(app).node_id

            # The CPU the pipeline costs, whatever else the machine runs: A's worker, B's web
            # process, the broker (and, for the naive one, queueing its tasks).
            pids = [p.pid for p in (a.worker, b.web, redis.process if redis else None) if p is not None]

            # Ours: a backlog of M, one wake, batches per request.
            after = highest_seq(app)
            cpu_before = time.process_time()
            signed = publish_backlog(app, messages)
            sign_cpu = (time.process_time() - cpu_before) / messages
            log(f"two nodes: signed and stored {signed:,.0f} messages/s (one transaction each)")
            verified = verify_rate(app, after, messages)
            started, cpu_before = time.perf_counter(), cpu_seconds(pids)
            celery_waker.drain([b.node_id])
            ours = messages / wait_for_all(b, sender, after, messages, 600)
            ours_cpu = (cpu_seconds(pids) - cpu_before) / messages
            ours_applied = apply_rate(b, sender, after)
            rows, distinct = held(b, sender, after)
            lost, dup = messages - distinct, rows - distinct
            log(f"two nodes, batched outbox: delivered {ours:,.0f}/s, B applied {ours_applied:,.0f}/s "
                f"({time.perf_counter() - started:.1f} s), {ours_cpu * 1000:.2f} ms CPU per message")

            # Naive: M more, one task per message per peer.
            naive_after = highest_seq(app)
            publish_backlog(app, messages)
            with session_scope(app) as db:
                ids = [str(i) for i in db.scalars(select(Envelope.id).where(Envelope.seq > naive_after)
                                                  .order_by(Envelope.seq))]
                db.execute(delete(Delivery))
            celery = app.extensions["celery"]
            started, cpu_before, own_before = time.perf_counter(), cpu_seconds(pids), time.process_time()
            for envelope_id in ids:
                celery.send_task(NAIVE_TASK, args=(envelope_id, b.node_id))
            queueing = time.process_time() - own_before
            naive = messages / wait_for_all(b, sender, naive_after, messages, 1800)
            naive_cpu = (cpu_seconds(pids) - cpu_before + queueing) / messages
            naive_applied = apply_rate(b, sender, naive_after)
            rows, distinct = held(b, sender, naive_after)
            lost, dup = lost + messages - distinct, dup + rows - distinct
            log(f"two nodes, naive task per message: delivered {naive:,.0f}/s, "
                f"B applied {naive_applied:,.0f}/s ({time.perf_counter() - started:.1f} s), "
                f"{naive_cpu * 1000:.2f} ms CPU per message")
            wake.install(app, celery_waker)
        return {
            "messages": messages,
            "signed_per_s": round(signed),
            "sign_cpu_ms": round(sign_cpu * 1000, 2),
            "verified_per_s": round(verified),
            "delivered_per_s": round(ours),
            "applied_per_s": round(ours_applied),
            "cpu_ms_per_message": round(ours_cpu * 1000, 2),
            "naive_delivered_per_s": round(naive),
            "naive_applied_per_s": round(naive_applied),
            "naive_cpu_ms_per_message": round(naive_cpu * 1000, 2),
            "ratio": round(ours / naive, 1),
            "cpu_ratio": round(naive_cpu / ours_cpu, 1) if ours_cpu else None,
            "lost": lost,
            "duplicated": dup,
        }
    finally:
        cluster.close()


# --- part 2: a region of 20 nodes ------------------------------------------------------------------

def region(root: Path, redis: RedisServer | None, samples: int, cities: int = 3, neighbourhoods: int = 16,
           seed: int = 7) -> dict[str, Any]:
    cluster = Cluster(root / "region", redis=redis, worker_concurrency=2)
    try:
        top = cluster.add("region", role="federation", worker_concurrency=4)
        towns = [cluster.add(f"city{n}", role="federation", worker_concurrency=4) for n in range(cities)]
        hoods = [cluster.add(f"hood{n}") for n in range(neighbourhoods)]
        nodes = [top, *towns, *hoods]
        log(f"region: setting up {len(nodes)} nodes")
        cluster.setup(*nodes)
        cluster.start(*nodes, beat=False)
        cluster.federate(top, towns)
        for index, town in enumerate(towns):
            cluster.federate(town, hoods[index::cities])
        others = len(nodes) - 1
        wait_until(lambda: all(_count(n, "federation_peers") >= others for n in nodes),
                   600, "every node to know the other 19", interval=0.5)
        wait_until(lambda: all(_count(n, "federation_deliveries") == 0 for n in nodes),
                   600, "the introductions to be delivered", interval=0.5)
        log("region: every node knows the other 19; measuring")
        pick = random.Random(seed)
        times: list[float] = []
        lost = dup = 0
        for n in range(samples):
            origin = pick.choice(hoods)
            receivers = [node for node in nodes if node is not origin]
            started = time.time()
            listing_id = origin.post_need(f"Region need {n}")
            # Each receiver's own clock says when it applied the need (the listing row's time):
            # the bench only polls now and then to know when all have it, and adds no load.
            applied: dict[str, float] = {}
            deadline = time.monotonic() + 30
            while len(applied) < len(receivers) and time.monotonic() < deadline:
                time.sleep(0.1)
                for node in receivers:
                    if node.name not in applied:
                        moment = node.scalar(
                            "SELECT updated_at FROM federation_remote_listings WHERE listing_id = :l",
                            l=_uuid_param(node, listing_id),
                        )
                        if moment is not None:
                            applied[node.name] = _time(moment)
            lost += len(receivers) - len(applied)
            for node in receivers:
                rows, distinct = _listing_envelopes(node, origin, listing_id)
                dup += rows - distinct
            times.append(max(applied.values(), default=started + 30) - started)
        times.sort()
        p50, p99 = statistics.median(times), _percentile(times, 99)
        log(f"region of {len(nodes)}: one need reaches all in p50 {p50 * 1000:.0f} ms, "
            f"p99 {p99 * 1000:.0f} ms")
        return {"nodes": len(nodes), "samples": samples, "p50_s": round(p50, 3), "p99_s": round(p99, 3),
                "max_s": round(times[-1], 3), "lost": lost, "duplicated": dup}
    finally:
        cluster.close()


def _count(node: NodeProcess, table: str) -> int:
    return int(node.scalar(f"SELECT count(*) FROM {table}"))


def _uuid_param(node: NodeProcess, value: str) -> str:
    # SQLite keeps UUIDs as 32 hex digits; PostgreSQL as uuid.
    return uuid.UUID(value).hex if node.database_url.startswith("sqlite") else value


def _listing_envelopes(node: NodeProcess, origin: NodeProcess, listing_id: str) -> tuple[int, int]:
    row = node.rows("SELECT count(*), count(DISTINCT id) FROM federation_envelopes "
                    "WHERE sender = :s AND raw LIKE :pattern", s=origin.node_id, pattern=f"%{listing_id}%")[0]
    return int(row[0]), int(row[1])


def _percentile(ordered: list[float], pct: float) -> float:
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


# --- part 3: catch-up --------------------------------------------------------------------------

def catch_up(root: Path, redis: RedisServer | None, messages: int) -> dict[str, Any]:
    cluster = Cluster(root / "catchup", redis=redis)
    try:
        sender, returning = cluster.add("sender"), cluster.add("returning")
        cluster.setup(sender, returning)
        with node_app(sender) as app:
            after = highest_seq(app)
            rate = publish_backlog(app, messages, per_transaction=500)
            sender_id = local_identity(app).node_id
        log(f"catch-up: the sender published {messages:,} messages ({rate:,.0f}/s in transactions of 500)")
        cluster.start(sender, returning, worker=False)
        cluster.link(returning, sender)  # the returning node knows the sender ...
        cluster.link(sender, returning)  # ... and the sender lets it read its feed
        feed = [sender.web.pid] if sender.web else []
        with node_app(returning) as app:
            started, own, served = time.perf_counter(), time.process_time(), cpu_seconds(feed)
            result = catchup.pull(app, sender_id)
            elapsed = time.perf_counter() - started
            pull_cpu, feed_cpu = time.process_time() - own, cpu_seconds(feed) - served
        rows, distinct = held(returning, sender_id, after)
        got = rows
        log(f"catch-up: pulled {result.accepted:,} in {elapsed:.1f} s: {got / elapsed:,.0f} messages/s; "
            f"CPU per message {pull_cpu / got * 1000:.2f} ms pulling and applying, "
            f"{feed_cpu / got * 1000:.2f} ms serving the feed")
        return {"messages": messages, "per_s": round(got / elapsed), "seconds": round(elapsed, 1),
                "pull_cpu_ms_per_message": round(pull_cpu / got * 1000, 3),
                "feed_cpu_ms_per_message": round(feed_cpu / got * 1000, 3),
                "lost": messages - distinct, "duplicated": rows - distinct}
    finally:
        cluster.close()


# --- the run -----------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000, help="messages per pipeline between two nodes")
    parser.add_argument("--samples", type=int, default=60, help="needs timed across the 20-node region")
    parser.add_argument("--catch-up", type=int, default=50_000, help="messages a returning node pulls")
    parser.add_argument("--only", choices=["two", "region", "catchup"], action="append",
                        help="run only these parts (default: all)")
    parser.add_argument("--keep", action="store_true", help="keep the nodes' folders and logs")
    args = parser.parse_args(argv)
    parts = set(args.only or ["two", "region", "catchup"])
    root = Path(tempfile.mkdtemp(prefix="mutualaid-bench-"))
    redis = None
    if shutil.which("redis-server"):
        redis = RedisServer(root / "redis")
        redis.start()
    results: dict[str, Any] = {
        "benchmark": "federation", "python": platform.python_version(), "cpus": os.cpu_count(),
        "load_average_before": round(os.getloadavg()[0], 1),
        "verify_cpu_us_calibration": calibration(),
        "broker": "redis" if redis else "sqlalchemy", "database": "postgresql" if os.environ.get(
            "MUTUALAID_TEST_DATABASE_URL") else "sqlite",
    }
    try:
        if "two" in parts:
            results["two_nodes"] = two_nodes(root, redis, args.messages)
        if "region" in parts:
            results["region_20"] = region(root, redis, args.samples)
        if "catchup" in parts:
            results["catch_up"] = catch_up(root, redis, args.catch_up)
    finally:
        if redis is not None:
            redis.stop()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
        else:
            log(f"nodes kept in {root}")
    results["load_average_after"] = round(os.getloadavg()[0], 1)
    parts_run = [part for part in results.values() if isinstance(part, dict)]
    results["lost"] = sum(part.get("lost", 0) for part in parts_run)
    results["duplicated"] = sum(part.get("duplicated", 0) for part in parts_run)
    print(json.dumps(results))


def _entry() -> Callable[[], None]:
    if sys.argv[1:2] == ["worker"]:
        return lambda: run_worker(sys.argv[2])
    return main


if __name__ == "__main__":
    _entry()()
