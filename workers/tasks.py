"""Thin Celery tasks: each takes ids, re-reads the database through a plain function, and is
safe to run twice (the drain lease and the inbox's dedupe make a repeat harmless)."""

from __future__ import annotations

import logging
from typing import Any

import requests
from celery import Task, shared_task
from flask import Flask, current_app
from sqlalchemy.exc import InterfaceError, OperationalError

from workers.celery_app import (
    CLOSE_DUE_TASK,
    DRAIN_TASK,
    NOTIFY_TASK,
    PULL_TASK,
    REMINDERS_TASK,
    SWEEP_TASK,
)

log = logging.getLogger(__name__)

# Worth another try soon: the database or the network was briefly away. Longer waits are
# scheduled from the database (a peer's next_attempt_at), not held in the broker.
RETRYABLE = (OperationalError, InterfaceError, requests.ConnectionError, requests.Timeout)
RETRY = {
    "acks_late": True,
    "autoretry_for": RETRYABLE,
    "retry_backoff": 2,
    "retry_backoff_max": 60,
    "retry_jitter": True,
    "max_retries": 5,
    "ignore_result": True,
}


def _app() -> Flask:
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    return app


@shared_task(name=DRAIN_TASK, bind=True, **RETRY)
def drain_peer(self: Task, peer_id: str) -> dict[str, Any]:
    """Deliver one peer's queued envelopes (a no-op when another worker is at it)."""
    from federation import outbox

    app = _app()
    result = outbox.drain_peer(app, peer_id)
    if result.more:
        self.apply_async(args=(peer_id,))  # the time budget ended: go on, after the others
    elif result.failed and result.next_attempt_at is not None:
        wait = (result.next_attempt_at - outbox.utcnow()).total_seconds()
        if wait < app.config["MUTUALAID"].sweep_interval:
            # Short waits ride on the broker; long ones wait for the sweep to see them due.
            self.apply_async(args=(peer_id,), countdown=max(0.0, wait))
    return {"peer": peer_id, "sent": result.sent, "settled": result.settled,
            "rejected": result.rejected, "failed": result.failed}


@shared_task(name=SWEEP_TASK, **RETRY)
def sweep() -> dict[str, Any]:
    """Re-wake peers with due rows, start pulls for gaps, prune old envelopes."""
    from federation.sweep import sweep as run_sweep

    result = run_sweep(_app())
    return {"drains": len(result.drains), "pulls": len(result.pulls), "pruned": result.pruned}


@shared_task(name=PULL_TASK, **RETRY)
def pull_sender(sender: str) -> dict[str, Any]:
    """Fetch what this node is missing of one sender's envelopes from a feed."""
    from federation.catchup import pull

    return pull(_app(), sender).as_dict()


@shared_task(name=REMINDERS_TASK, **RETRY)
def queue_reminders() -> dict[str, Any]:
    """Queue due reminders (shifts, holds ready, overdue items) and create coming shifts."""
    from node.projects.periodic import queue_due

    run = queue_due(_app())
    return {"reminders": run.reminders, "created": run.created}


@shared_task(name=NOTIFY_TASK, **RETRY)
def send_notifications() -> dict[str, Any]:
    """Send pending notifications and due daily digests (a mail server's refusal is retried
    from the database, with growing waits, not by the broker)."""
    from node.projects.periodic import send_due

    report = send_due(_app())
    if report is None:
        return {"smtp": False}
    return {"smtp": True, "sent": report.sent, "digests": report.digests,
            "retrying": report.retrying, "failed": report.failed}


@shared_task(name=CLOSE_DUE_TASK, **RETRY)
def close_due() -> dict[str, Any]:
    """Decide what is due in assemblies and, at a federation, in the council."""
    from delegates.due import close_due as run_close_due

    decided, closed = run_close_due(_app())
    return {"decided": decided, "closed": closed}
