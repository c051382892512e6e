"""Worker task outcomes and durations for /metrics, counted from Celery's signals.

The worker and the web process of a node share these counters through PROMETHEUS_MULTIPROC_DIR
(see node/observability.py); `install()` is called once by the Celery app factory.
"""

from __future__ import annotations

import time
from typing import Any

from celery import signals
from prometheus_client import Counter, Histogram

TASKS = Counter(
    "mutualaid_worker_tasks_total", "Celery tasks finished, by task name and outcome.", ["task", "outcome"],
)
DURATION = Histogram(
    "mutualaid_worker_task_seconds", "Time a Celery task ran, by task name.", ["task"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0),
)
_STARTED: dict[str, float] = {}


def _name(sender: Any) -> str:
    return str(getattr(sender, "name", None) or sender or "unknown")


def _on_prerun(task_id: str | None = None, **_: Any) -> None:
    if task_id:
        _STARTED[task_id] = time.perf_counter()


def _on_postrun(sender: Any = None, task_id: str | None = None, **_: Any) -> None:
    started = _STARTED.pop(task_id or "", None)
    if started is not None:
        DURATION.labels(_name(sender)).observe(time.perf_counter() - started)


def _on_success(sender: Any = None, **_: Any) -> None:
    TASKS.labels(_name(sender), "success").inc()


def _on_failure(sender: Any = None, **_: Any) -> None:
    TASKS.labels(_name(sender), "failure").inc()


def _on_retry(sender: Any = None, **_: Any) -> None:
    TASKS.labels(_name(sender), "retry").inc()


def _on_revoked(sender: Any = None, request: Any = None, **_: Any) -> None:
    task = getattr(request, "task", None) or _name(sender)
    TASKS.labels(task, "revoked").inc()


def _on_rejected(message: Any = None, **_: Any) -> None:
    headers = getattr(message, "headers", None) or {}
    TASKS.labels(str(headers.get("task", "unknown")), "rejected").inc()


def install() -> None:
    """Count task outcomes in this process (idempotent: each receiver is connected once)."""
    for signal, receiver in (
        (signals.task_prerun, _on_prerun),
        (signals.task_postrun, _on_postrun),
        (signals.task_success, _on_success),
        (signals.task_failure, _on_failure),
        (signals.task_retry, _on_retry),
        (signals.task_revoked, _on_revoked),
        (signals.task_rejected, _on_rejected),
    ):
        signal.connect(receiver, weak=False, dispatch_uid=f"mutualaid.metrics.{receiver.__name__}")
