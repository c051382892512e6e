"""The fault suite: real node processes, real Celery workers, a private Redis as the broker.

Three neighbourhood nodes A, B, C are members of the federation F, which relays; A and B also
peer directly, so B hears A twice (directly and through F) and C only through F. Each test
publishes a stream of needs from A through the API while something breaks, then asserts that
every other node applied every envelope of the stream exactly once, that A has nothing left to
deliver and that nobody refused anything.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.harness import Cluster, HarnessError, NodeProcess, RedisServer, wait_until

# One region for the whole module: with `pytest -n`, every test here runs on one worker.
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("faults")]

SETTLE = 90  # seconds a fault may take to heal (leases of 8 s, backoff capped at 2 s, sweep 1 s)


@dataclass
class Region:
    cluster: Cluster
    redis: RedisServer
    a: NodeProcess
    b: NodeProcess
    c: NodeProcess
    f: NodeProcess

    @property
    def receivers(self) -> list[NodeProcess]:
        return [self.b, self.c, self.f]

    def wait(self, condition: Callable[[], Any], what: str, timeout: float = SETTLE) -> Any:
        try:
            return wait_until(condition, timeout, what, interval=0.2)
        except HarnessError as exc:
            raise HarnessError(f"{exc}\n{self.cluster.logs()}") from None


@pytest.fixture(scope="module")
def region(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Region]:
    root = tmp_path_factory.mktemp("faults")
    redis = RedisServer(root / "redis")
    redis.start()
    cluster = Cluster(root / "nodes", redis=redis)
    try:
        # Small batches on A, so that draining a stream takes many requests (room to break it).
        a = cluster.add("a", outbox_batch_size=5)
        b, c = cluster.add("b"), cluster.add("c")
        f = cluster.add("f", role="federation")
        nodes = (a, b, c, f)
        cluster.setup(*nodes)
        cluster.start(*nodes)
        # Direct peers first: were B added while F's introduction of B is being applied, the
        # two would race to record it.
        cluster.peer_both_ways(a, b)
        cluster.federate(f, [a, b, c])
        live = Region(cluster, redis, a, b, c, f)
        for node in nodes:  # the federation introduced every member to every other
            live.wait(lambda node=node: _known(node) >= 3, f"{node.name} to know the other three")
        live.wait(lambda: _quiet(live), "the introductions to settle")
        yield live
    finally:
        cluster.close()
        redis.stop()


def _known(node: NodeProcess) -> int:
    return int(node.scalar("SELECT count(*) FROM federation_peers"))


def _quiet(region: Region) -> bool:
    return all(
        node.scalar("SELECT count(*) FROM federation_deliveries") == 0
        for node in (region.a, region.b, region.c, region.f)
    )


# --- the stream and the check -------------------------------------------------------------


@dataclass
class Stream:
    sender: NodeProcess
    after: int  # the sender's highest seq before the stream
    listings: list[str]


def begin(sender: NodeProcess) -> Stream:
    after = sender.scalar(
        "SELECT coalesce(max(seq), 0) FROM federation_envelopes WHERE sender = :s", s=sender.node_id
    )
    return Stream(sender, int(after), [])


def post(stream: Stream, count: int, label: str) -> None:
    for n in range(count):
        stream.listings.append(stream.sender.post_need(f"{label} {n}"))


def published(stream: Stream) -> dict[int, uuid.UUID]:
    rows = stream.sender.rows(
        "SELECT seq, id FROM federation_envelopes WHERE sender = :s AND seq > :after",
        s=stream.sender.node_id,
        after=stream.after,
    )
    return {int(seq): uuid.UUID(str(ident)) for seq, ident in rows}


def held(node: NodeProcess, stream: Stream) -> dict[int, tuple[uuid.UUID, str]]:
    rows = node.rows(
        "SELECT seq, id, outcome FROM federation_envelopes WHERE sender = :s AND seq > :after",
        s=stream.sender.node_id,
        after=stream.after,
    )
    return {int(seq): (uuid.UUID(str(ident)), outcome) for seq, ident, outcome in rows}


def listings_at(node: NodeProcess, stream: Stream) -> int:
    wanted = {uuid.UUID(ident) for ident in stream.listings}
    rows = node.rows(
        "SELECT listing_id FROM federation_remote_listings WHERE node_id = :s", s=stream.sender.node_id
    )
    return len(wanted & {uuid.UUID(str(row[0])) for row in rows})


def assert_applied_exactly_once(region: Region, stream: Stream) -> None:
    """Every receiver holds every envelope of the stream once, applied; nothing is left to send."""
    sent = published(stream)
    assert len(sent) >= len(stream.listings)
    assert sorted(sent) == list(range(stream.after + 1, stream.after + 1 + len(sent))), "seqs have gaps"
    for node in region.receivers:
        region.wait(
            lambda node=node: len(held(node, stream)) == len(sent),
            f"{node.name} to hold all {len(sent)} envelopes of the stream",
        )
        got = held(node, stream)
        assert {seq: ident for seq, (ident, _) in got.items()} == sent, f"{node.name} holds other envelopes"
        assert {outcome for _, outcome in got.values()} == {"applied"}, f"{node.name} did not apply some"
        assert listings_at(node, stream) == len(stream.listings)
    region.wait(lambda: _quiet(region), "every outbox to empty")
    for node in (region.a, region.b, region.c, region.f):
        assert node.scalar("SELECT count(*) FROM federation_rejections") == 0, f"{node.name} had refusals"


# --- the faults -----------------------------------------------------------------------------


def test_a_stream_reaches_every_node_once(region: Region) -> None:
    stream = begin(region.a)
    post(stream, 20, "baseline")
    assert_applied_exactly_once(region, stream)


def test_worker_killed_mid_batch(region: Region) -> None:
    a = region.a
    stream = begin(a)
    a.stop_worker()  # let a backlog build: 150 envelopes, 30 batches of 5 per peer
    post(stream, 150, "sigkill")
    a.start_worker()
    total = len(stream.listings)

    def draining() -> bool:
        got = len(held(region.b, stream))
        leased = a.scalar("SELECT count(*) FROM federation_peers WHERE lease_owner IS NOT NULL")
        return 0 < got < total and leased > 0

    region.wait(draining, "A's worker to be part-way through the backlog", timeout=120)
    a.kill_worker()
    assert len(held(region.b, stream)) < total
    # The dead worker's lease stays until it runs out; then the new worker takes the peer over.
    assert a.scalar("SELECT count(*) FROM federation_peers WHERE lease_owner IS NOT NULL") > 0
    a.start_worker()
    assert_applied_exactly_once(region, stream)


def test_redis_restarted_and_flushed(region: Region) -> None:
    a = region.a
    stream = begin(a)
    a.stop_worker()
    post(stream, 10, "queued-wakes")  # their wakes wait in Redis for a worker ...
    region.redis.restart()  # ... and are gone: killed, started again empty
    a.start_worker()  # only the sweep knows there is work
    post(stream, 10, "after-restart")  # the other nodes' workers had to reconnect
    region.redis.flush()
    post(stream, 10, "after-flush")
    assert_applied_exactly_once(region, stream)


def test_receiver_stopped_and_restarted_after_traffic_continued(region: Region) -> None:
    c, f = region.c, region.f
    stream = begin(region.a)
    post(stream, 5, "before-stop")
    c.stop_web()
    try:
        post(stream, 20, "while-down")
        region.wait(
            lambda: (
                f.scalar("SELECT consecutive_failures FROM federation_peers WHERE id = :c", c=c.node_id) > 0
            ),
            "F to notice that C is down",
        )
        assert len(held(c, stream)) < len(stream.listings)
    finally:
        c.start_web()
    post(stream, 5, "after-restart")
    assert_applied_exactly_once(region, stream)


def test_sender_killed_between_commit_and_enqueue(region: Region) -> None:
    a = region.a
    stream = begin(a)
    listing = str(uuid.uuid4())
    stream.listings.append(listing)
    # Another process of node A commits a publish and dies, by SIGKILL, the moment it would
    # wake the drainers: only the sweep can find the rows.
    script = textwrap.dedent(f"""
        import os, signal
        from pathlib import Path
        from federation import wake
        from federation.outbox import publish
        from node import create_app
        from node.db import session_scope

        class Die:
            def drain(self, peer_ids):
                os.kill(os.getpid(), signal.SIGKILL)

            def pull(self, senders):
                os.kill(os.getpid(), signal.SIGKILL)

        app = create_app({{"instance_path": Path({str(a.instance)!r})}})
        wake.install(app, Die())
        body = {{"listing_id": {listing!r}, "category": "food", "title": "killed before the wake",
                 "quantity": 1.0, "unit": "kg", "urgency": "urgent", "h3_cell": "881f1d4a13fffff",
                 "handle": "steward"}}
        with session_scope(app) as db:
            publish(db, app, "need.published", body)
    """)
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert done.returncode == -signal.SIGKILL, done.stderr.decode()[-2000:]
    assert len(published(stream)) == 1
    assert_applied_exactly_once(region, stream)


def test_relay_stopped(region: Region) -> None:
    b, c, f = region.b, region.c, region.f
    stream = begin(region.a)
    f.stop()
    try:
        post(stream, 20, "relay-down")
        # B hears A directly; C hears A only through the relay, which is down.
        region.wait(lambda: len(held(b, stream)) == 20, "B to get the stream directly")
        assert len(held(c, stream)) == 0
    finally:
        region.cluster.start(f)
    assert_applied_exactly_once(region, stream)


def test_key_rotation_in_the_middle_of_the_stream(region: Region) -> None:
    a = region.a
    stream = begin(a)
    post(stream, 10, "old-key")
    rotated = subprocess.run(a.command("rotate-key", "--yes"), capture_output=True, timeout=120)
    assert rotated.returncode == 0, rotated.stderr.decode()[-2000:]
    post(stream, 10, "new-key")
    assert_applied_exactly_once(region, stream)
    sql = "SELECT type FROM federation_envelopes WHERE sender = :s AND seq > :after"
    types = {row[0] for row in a.rows(sql, s=a.node_id, after=stream.after)}
    assert "node.key_rotated" in types
    for node in region.receivers:
        assert node.scalar("SELECT count(*) FROM federation_peer_keys WHERE peer_id = :a", a=a.node_id) == 2


def test_every_peer_is_healthy_afterwards(region: Region) -> None:
    for node in (region.a, region.b, region.c, region.f):
        peers = node.api("GET", "/peers", expect=200)["items"]
        direct = [p for p in peers if p["relation"] != "introduced"]
        region.wait(
            lambda node=node: all(p["health"] == "healthy" for p in _direct(node)),
            f"{node.name}'s peers to be healthy",
        )
        assert all(p["pending"] == 0 for p in direct)


def _direct(node: NodeProcess) -> list[dict[str, Any]]:
    return [p for p in node.api("GET", "/peers", expect=200)["items"] if p["relation"] != "introduced"]
