"""The /metrics endpoint: requests, outbox depth and age per peer, inbox rejections, task outcomes."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from celery import Celery
from flask import Flask
from prometheus_client.parser import text_string_to_metric_families

from federation.metrics import count_rejection
from federation.models import Delivery, Envelope, EnvelopeOrigin, Peer
from node.db import session_scope, utcnow
from workers import metrics as worker_metrics


def scrape(app: Flask) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    r = app.test_client().get("/metrics")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(r.get_data(as_text=True)):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def test_requests_are_counted_by_endpoint_and_status(app: Flask) -> None:
    client = app.test_client()
    labels = (("endpoint", "health.healthz"), ("method", "GET"), ("status", "200"))
    key = ("mutualaid_http_requests_total", labels)
    before = scrape(app).get(key, 0.0)
    assert client.get("/healthz").status_code == 200
    assert client.get("/healthz").status_code == 200
    assert client.get("/no/such/page").status_code == 404
    after = scrape(app)
    assert after[key] == before + 2
    assert (
        after[
            (
                "mutualaid_http_requests_total",
                (("endpoint", "unmatched"), ("method", "GET"), ("status", "404")),
            )
        ]
        >= 1
    )
    assert any(name == "mutualaid_http_request_seconds_count" for name, _ in after)


def test_outbox_depth_and_age_per_peer(app: Flask) -> None:
    now = utcnow()
    with session_scope(app) as db:
        db.add(
            Peer(
                id="ma1peer",
                name="Riverside",
                url="http://127.0.0.1:1",
                fingerprint="ab:cd",
                consecutive_failures=3,
            )
        )
        db.add(Peer(id="ma1quiet", name="Hillside", url="http://127.0.0.1:2", fingerprint="ef:01"))
        db.flush()
        for n in range(3):
            envelope = Envelope(
                id=uuid.uuid4(),
                sender="ma1self",
                seq=n + 1,
                type="need.published",
                created=now,
                expires=now + timedelta(days=1),
                raw="{}",
                origin=EnvelopeOrigin.LOCAL,
            )
            db.add(envelope)
            db.flush()
            db.add(
                Delivery(
                    peer_id="ma1peer", envelope_id=envelope.id, created_at=now - timedelta(seconds=120 - n)
                )
            )
    samples = scrape(app)
    assert samples[("mutualaid_outbox_depth", (("peer", "ma1peer"),))] == 3
    assert samples[("mutualaid_outbox_depth", (("peer", "ma1quiet"),))] == 0
    assert 119 <= samples[("mutualaid_outbox_oldest_age_seconds", (("peer", "ma1peer"),))] < 180
    assert samples[("mutualaid_outbox_oldest_age_seconds", (("peer", "ma1quiet"),))] == 0
    assert samples[("mutualaid_peer_consecutive_failures", (("peer", "ma1peer"),))] == 3
    assert samples[("mutualaid_outbox_metrics_ok", ())] == 1


def test_inbox_rejections_by_reason(app: Flask) -> None:
    key = ("mutualaid_inbox_rejections_total", (("reason", "bad-signature"),))
    before = scrape(app).get(key, 0.0)
    count_rejection("bad-signature")
    count_rejection("bad-signature")
    count_rejection("expired")
    after = scrape(app)
    assert after[key] == before + 2
    assert after[("mutualaid_inbox_rejections_total", (("reason", "expired"),))] >= 1


def test_worker_task_outcomes(app: Flask) -> None:
    celery = Celery("metrics-test", broker="memory://", backend="cache+memory://")
    worker_metrics.install()
    worker_metrics.install()  # idempotent: counted once per task

    @celery.task(name="test.ok")
    def ok() -> str:
        return "done"

    @celery.task(name="test.broken")
    def broken() -> None:
        raise RuntimeError("no")

    before = scrape(app)
    ok.apply()
    broken.apply()
    after = scrape(app)

    def delta(task: str, outcome: str) -> float:
        key = ("mutualaid_worker_tasks_total", (("outcome", outcome), ("task", task)))
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert delta("test.ok", "success") == 1
    assert delta("test.broken", "failure") == 1
    assert after[("mutualaid_worker_task_seconds_count", (("task", "test.ok"),))] >= 1


COUNT_IN_CHILD = """
from workers.metrics import TASKS
TASKS.labels("demo.task", "success").inc(5)
"""

SCRAPE_IN_CHILD = """
from node import create_app
from node.observability import render_metrics
app = create_app({"env": "testing", "instance_path": %r, "secret_key": "s" * 40})
print(render_metrics(app).decode())
"""


def test_processes_of_one_node_share_counters(tmp_path: Path) -> None:
    """With PROMETHEUS_MULTIPROC_DIR, what a worker process counts shows at the web process."""
    shared = tmp_path / "metrics"
    shared.mkdir()
    env: dict[str, Any] = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(shared)}
    subprocess.run([sys.executable, "-c", COUNT_IN_CHILD], env=env, check=True, timeout=60)
    out = subprocess.run(
        [sys.executable, "-c", SCRAPE_IN_CHILD % str(tmp_path / "instance")],
        env=env,
        check=True,
        timeout=60,
        capture_output=True,
        text=True,
    ).stdout
    assert 'mutualaid_worker_tasks_total{outcome="success",task="demo.task"} 5.0' in out
