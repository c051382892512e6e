"""The Celery app of a node: built from the node's Flask app, its tasks run in that app's context.

The broker is Redis in production (`broker_url`) and, on embedded defaults, kombu's SQLAlchemy
transport on a SQLite file in the instance folder: the same code either way. Celery only wakes
drainers; the database is the queue of record, so nothing is lost with the broker.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Collection
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flask import Flask

from node.settings import Settings

if TYPE_CHECKING:
    from celery import Celery

log = logging.getLogger(__name__)

EXTENSION = "celery"
DRAIN_TASK = "mutualaid.drain_peer"
SWEEP_TASK = "mutualaid.sweep"
PULL_TASK = "mutualaid.pull_sender"
REMINDERS_TASK = "mutualaid.queue_reminders"
NOTIFY_TASK = "mutualaid.send_notifications"
CLOSE_DUE_TASK = "mutualaid.close_due"


def make_celery(flask_app: Flask) -> Celery:
    """The Celery app for this Flask app (made once and kept in `app.extensions`)."""
    existing: Celery | None = flask_app.extensions.get(EXTENSION)
    if existing is not None:
        return existing
    from celery import Celery, Task

    class FlaskTask(Task):
        """A task that runs inside the node's application context."""

        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            with flask_app.app_context():
                return self.run(*args, **kwargs)

    settings: Settings = flask_app.config["MUTUALAID"]
    celery = Celery("mutualaid", task_cls=FlaskTask)
    celery.conf.update(celery_config(settings))
    flask_app.extensions[EXTENSION] = celery
    import workers.tasks  # noqa: F401  (registers the shared tasks with this app)
    from workers import metrics

    metrics.install()

    return celery


def celery_config(settings: Settings) -> dict[str, Any]:
    """Celery settings derived from the node's settings."""
    broker = settings.celery_broker_url
    # The SQL transport hands its options to create_engine, so it keeps its defaults (it polls
    # once a second). Redis redelivers an unacknowledged task after this long; a drain lasts
    # far less.
    transport: dict[str, Any] = {} if broker.startswith("sqla+") else {"visibility_timeout": 600}
    return {
        "broker_url": broker,
        "broker_transport_options": transport,
        "broker_connection_retry_on_startup": True,
        "broker_connection_max_retries": None,  # a worker waits for its broker forever
        "broker_connection_timeout": 3,
        # A wake that cannot be sent soon is dropped (the sweep finds the rows); a request
        # never waits long on a broker that is down.
        "task_publish_retry_policy": {"max_retries": 2, "interval_start": 0, "interval_step": 0.2,
                                      "interval_max": 0.4},
        "task_default_queue": settings.celery_queue,
        "task_ignore_result": True,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "worker_hijack_root_logger": False,
        "worker_concurrency": settings.worker_concurrency,
        "timezone": "UTC",
        "enable_utc": True,
        "beat_schedule": {
            "sweep": {"task": SWEEP_TASK, "schedule": settings.sweep_interval,
                      "options": {"expires": max(1.0, settings.sweep_interval)}},
            # Reminders (shifts, holds ready, overdue items) and mail (docs/projects.md).
            "reminders": {"task": REMINDERS_TASK, "schedule": settings.notify_interval,
                          "options": {"expires": settings.notify_interval}},
            "notify": {"task": NOTIFY_TASK, "schedule": settings.notify_interval,
                       "options": {"expires": settings.notify_interval}},
            # Assemblies and votes whose time came (docs/delegates.md).
            "close-due": {"task": CLOSE_DUE_TASK, "schedule": settings.close_due_interval,
                          "options": {"expires": settings.close_due_interval}},
        },
        "beat_schedule_filename": str(Path(settings.instance_path) / "celerybeat-schedule"),
    }


def declare_queue(settings: Settings) -> None:
    """Make sure the broker has the node's task queue (safe to run again)."""
    from kombu import Connection, Queue

    with Connection(settings.celery_broker_url) as connection:
        Queue(settings.celery_queue).bind(connection.default_channel).declare()


class CeleryWaker:
    """Wakes drainers and pulls by sending tasks (installed by workers.init_app)."""

    def __init__(self, flask_app: Flask) -> None:
        self.flask_app = flask_app
        self._lock = threading.Lock()

    @property
    def celery(self) -> Celery:
        """The app's Celery app, made on the first wake: a web process loads Celery only then."""
        with self._lock:  # threads of one web process share one Celery app
            return make_celery(self.flask_app)

    def drain(self, peer_ids: Collection[str]) -> None:
        for peer_id in peer_ids:
            self.celery.send_task(DRAIN_TASK, args=(peer_id,))

    def pull(self, senders: Collection[str]) -> None:
        for sender in senders:
            self.celery.send_task(PULL_TASK, args=(sender,))
