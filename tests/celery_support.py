"""A real Celery worker in threads of the test process, stopped without leaving work behind."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from celery import Celery
from celery.contrib.testing.worker import start_worker


@contextmanager
def threaded_worker(celery: Celery, concurrency: int) -> Iterator[Celery]:
    """Consume the app's queue with `concurrency` threads until the block ends.

    Celery's start_worker ends with a cold shutdown, which leaves a task that is still running
    to go on in its thread. Waiting for those threads here means no task uses the node's
    database after its test: the test's engine is disposed then, and a connection checked out
    meanwhile would never be closed."""
    controller: Any = None
    try:
        with start_worker(celery, pool="threads", concurrency=concurrency, perform_ping_check=False,
                          loglevel="WARNING", shutdown_timeout=30) as controller:
            yield celery
    finally:
        if controller is not None:
            controller.pool.executor.shutdown(wait=True)
