"""The Celery app and its tasks with a real worker: in a thread of this process on the
embedded broker, and as `mutualaid worker` processes on the embedded broker and on Redis."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from celery import Celery
from flask import Flask
from sqlalchemy import select

from federation import wake
from federation.models import Peer
from node.db import session_scope
from tests.celery_support import threaded_worker
from tests.federation.network import Network
from tests.federation.outbox_support import add_peer, publish_many, queued
from tests.federation.receiver import Receiver, running_receiver
from tests.harness import Cluster, NodeProcess, RedisServer, wait_until
from workers.celery_app import DRAIN_TASK, SWEEP_TASK, CeleryWaker, celery_config, make_celery


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as live:
        yield live


@pytest.fixture
def broker_app(app_factory: Any, tmp_path: Path) -> Flask:
    """A node app on the embedded broker (a SQLite file of this test)."""
    app: Flask = app_factory(broker_url=f"sqla+sqlite:///{tmp_path / 'broker.sqlite3'}", sweep_interval=600.0)
    return app


@pytest.fixture
def worker(broker_app: Flask) -> Iterator[Celery]:
    """A real Celery worker consuming the app's queue in a thread of this process."""
    with threaded_worker(make_celery(broker_app), concurrency=2) as celery:
        yield celery


def test_the_config_follows_the_settings(app_factory: Any) -> None:
    app = app_factory()
    settings = app.config["MUTUALAID"]
    embedded = celery_config(settings)
    assert embedded["broker_url"] == f"sqla+sqlite:///{settings.instance_path / 'broker.sqlite3'}"
    assert embedded["task_acks_late"] and embedded["task_reject_on_worker_lost"]
    assert embedded["worker_prefetch_multiplier"] == 1
    assert embedded["beat_schedule"]["sweep"]["schedule"] == settings.sweep_interval
    production = celery_config(settings.model_copy(update={"broker_url": "redis://127.0.0.1:1/0"}))
    assert production["broker_url"] == "redis://127.0.0.1:1/0"
    assert production["broker_transport_options"]["visibility_timeout"] >= 600


def test_test_apps_without_a_broker_keep_the_no_op_waker(app: Flask) -> None:
    assert isinstance(wake.waker(app), wake.NoWake)


def test_an_app_with_a_broker_wakes_through_celery(broker_app: Flask) -> None:
    waker = wake.waker(broker_app)
    assert isinstance(waker, CeleryWaker) and waker.celery is broker_app.extensions["celery"]
    assert make_celery(broker_app) is waker.celery


def test_tasks_are_late_acknowledged_and_retry_within_bounds(broker_app: Flask) -> None:
    celery = make_celery(broker_app)
    task = celery.tasks[DRAIN_TASK]
    assert task.acks_late and task.max_retries == 5 and task.retry_jitter
    assert task.autoretry_for


def test_a_publish_is_delivered_by_the_worker_after_commit(
    broker_app: Flask, worker: Celery, receiver: Receiver
) -> None:
    peer = add_peer(broker_app, receiver.url)
    ids = publish_many(broker_app, 5)
    wait_until(lambda: len(receiver.accepted_ids()) == 5, 30, "the worker to deliver 5 envelopes")
    assert receiver.accepted_ids() == ids
    wait_until(lambda: queued(broker_app, peer) == 0, 10, "the rows to be deleted")


def test_the_sweep_task_finds_rows_whose_wake_was_lost(
    broker_app: Flask, worker: Celery, receiver: Receiver
) -> None:
    peer = add_peer(broker_app, receiver.url)
    celery_waker = wake.waker(broker_app)
    wake.install(broker_app, wake.NoWake())  # the wake is lost
    publish_many(broker_app, 3)
    wake.install(broker_app, celery_waker)
    assert queued(broker_app, peer) == 3 and receiver.envelopes == []

    worker.send_task(SWEEP_TASK)
    wait_until(lambda: len(receiver.accepted_ids()) == 3, 30, "the sweep to wake the drainer")


def test_a_failed_drain_is_tried_again_soon_without_the_sweep(
    broker_app: Flask, worker: Celery, receiver: Receiver
) -> None:
    add_peer(broker_app, receiver.url)
    receiver.fail_next = 2
    publish_many(broker_app, 2)
    # The sweep runs every 600 s here: only the task's own short retry can deliver this.
    wait_until(lambda: len(receiver.accepted_ids()) == 2, 30, "a retry after the backoff")

    def recovered() -> bool:
        # The drainer records the success after the receiver has answered: poll for it.
        with session_scope(broker_app) as db:
            peer = db.scalar(select(Peer))
            return peer is not None and peer.consecutive_failures == 0

    wait_until(recovered, 30, "the drainer to record the success")


def test_the_pull_task_returns_a_json_ready_summary(network: Network) -> None:
    """Like the other tasks, a pull answers with plain JSON (`PullResult.as_dict()`), so a
    result backend or a log can keep it."""
    from workers.tasks import pull_sender

    a, b = network.node("a"), network.node("b")
    network.peer("a", "b")
    publish_many(a, 3)  # queued for b, never drained: b pulls them
    with b.app_context():
        summary = pull_sender.run(network.id("a"))
    assert json.loads(json.dumps(summary)) == summary
    assert summary["sender"] == network.id("a") and summary["source"] == network.id("a")
    assert (summary["fetched"], summary["accepted"], summary["complete"]) == (3, 3, True)
    assert summary["rejected"] == {} and summary["errors"] == []


# --- `mutualaid worker` as a process -------------------------------------------------------


@pytest.fixture(params=["embedded", "redis"])
def worker_node(request: Any, tmp_path: Path) -> Iterator[NodeProcess]:
    """One node with a `mutualaid worker` process, on the embedded broker or a private Redis."""
    redis = None
    if request.param == "redis":
        redis = RedisServer(tmp_path / "redis")
        redis.start()
    cluster = Cluster(tmp_path / "nodes", redis=redis)
    try:
        node = cluster.add("solo")
        cluster.setup(node)
        node.start_worker()
        yield node
    finally:
        cluster.close()
        if redis is not None:
            redis.stop()


@pytest.mark.e2e
def test_the_worker_command_drains_what_another_process_published(
    worker_node: NodeProcess, receiver: Receiver
) -> None:
    from node import create_app

    # This process plays the web process: same instance, same settings, same broker. A second
    # worker process competes for the same wakes: the lease lets one drain the peer at a time.
    second = worker_node._spawn(worker_node.command("worker", "--no-beat"), "worker2.log")
    app = create_app({"instance_path": worker_node.instance})
    try:
        assert isinstance(wake.waker(app), CeleryWaker)
        add_peer(app, receiver.url)
        ids = publish_many(app, 30)
        wait_until(
            lambda: len(receiver.accepted_ids()) == 30,
            60,
            f"the worker processes to deliver\n{worker_node.log_tail('worker.log')}",
        )
        assert receiver.accepted_ids() == ids  # in order
        assert len(receiver.envelopes) == 30  # and each sent once
    finally:
        app.extensions["db"].dispose()
        second.kill()
        second.wait(10)

    # Killed, the worker leaves nothing behind: its embedded beat (a thread) goes with it.
    assert worker_node.worker is not None and worker_node.worker.poll() is None
    group = worker_node.worker.pid
    wait_until(lambda: (worker_node.instance / "celerybeat-schedule.dat").exists()
               or (worker_node.instance / "celerybeat-schedule").exists(), 60, "the embedded beat to start")
    worker_node.kill_worker()
    wait_until(lambda: not _group_members(group), 10, "every process of the worker to end")


def _group_members(group: int) -> list[int]:
    members = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[2]) == group and fields[0] != "Z":
                members.append(int(entry))
    return members
