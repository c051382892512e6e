"""The worker's timer: reminders and mail sent by Celery tasks, through a real worker and a real
local SMTP server, calling the same functions as `mutualaid notify`."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from celery import Celery
from flask import Flask
from sqlalchemy import select

from node import create_app
from node.db import session_scope, utcnow
from node.projects.models import Loan, Notification, NotificationStatus
from tests.celery_support import threaded_worker
from tests.conftest import Api
from tests.harness import Cluster, wait_until
from tests.node.factories import set_columns
from tests.projects.helpers import count, make_project, soon
from workers.celery_app import NOTIFY_TASK, REMINDERS_TASK, celery_config, make_celery


@pytest.fixture
def mail_app(app_factory: Any, tmp_path: Path, smtp: Any) -> Flask:
    """A node on the embedded broker whose mail goes to the test's SMTP server."""
    _inbox, port = smtp
    app: Flask = app_factory(broker_url=f"sqla+sqlite:///{tmp_path / 'broker.sqlite3'}",
                             sweep_interval=600.0, smtp_host="127.0.0.1", smtp_port=port)
    return app


@pytest.fixture
def worker(mail_app: Flask) -> Iterator[Celery]:
    """A real Celery worker consuming the app's queue in a thread of this process."""
    with threaded_worker(make_celery(mail_app), concurrency=1) as celery:
        yield celery


def overdue_loan(app: Flask, make_member: Any) -> None:
    """Ben borrowed the library's drill and is two days late bringing it back."""
    overdue_loan_of(app, make_member("ben", target=app), make_member("alice", target=app))


def overdue_loan_of(app: Flask, borrower: Api, librarian: Api | None = None) -> None:
    """The borrower is two days late bringing back the library's drill."""
    librarian = librarian or borrower
    project = make_project(librarian, "tools", template="tool_library")
    item = librarian.post(f"/projects/{project['id']}/items", json={"name": "Drill"}).json
    loan = borrower.post(f"/items/{item['id']}/loans", json={"due_at": soon(3).isoformat()})
    assert loan.status_code == 201, loan.json
    set_columns(app, Loan, loan.json["id"], due_at=utcnow() - timedelta(days=2))


def test_the_timer_schedules_reminders_mail_and_close_due(app_factory: Any) -> None:
    settings = app_factory(notify_interval=120.0, close_due_interval=30.0).config["MUTUALAID"]
    schedule = celery_config(settings)["beat_schedule"]
    assert schedule["reminders"]["task"] == REMINDERS_TASK
    assert schedule["notify"]["task"] == NOTIFY_TASK
    assert schedule["reminders"]["schedule"] == schedule["notify"]["schedule"] == 120.0
    assert schedule["close-due"] == {"task": "mutualaid.close_due", "schedule": 30.0,
                                     "options": {"expires": 30.0}}
    assert "sweep" in schedule


def test_the_tasks_are_late_acknowledged_and_retry_within_bounds(mail_app: Flask) -> None:
    celery = make_celery(mail_app)
    for name in (REMINDERS_TASK, NOTIFY_TASK, "mutualaid.close_due"):
        task = celery.tasks[name]
        assert task.acks_late and task.max_retries == 5 and task.retry_jitter and task.autoretry_for


def test_the_worker_reminds_of_an_overdue_item_by_mail_once(
    mail_app: Flask, make_member: Any, smtp: Any, worker: Celery
) -> None:
    inbox, _port = smtp
    overdue_loan(mail_app, make_member)
    worker.send_task(REMINDERS_TASK)
    wait_until(lambda: count(mail_app, Notification) == 1, 30, "the overdue reminder to be queued")
    worker.send_task(NOTIFY_TASK)
    [message] = wait_until(lambda: inbox.to("ben@example.org"), 30, "the reminder to be mailed")
    assert message["Subject"].endswith("Overdue: Drill")

    # Run again (a second timer, a redelivered task): nothing is queued or sent twice.
    assert worker.tasks[REMINDERS_TASK]() == {"reminders": 0, "created": 0}
    result = worker.tasks[NOTIFY_TASK]()
    assert result["smtp"] is True and result["sent"] == 0
    assert len(inbox.messages) == 1 and count(mail_app, Notification) == 1


def test_without_a_mail_server_mail_waits(app: Flask, make_member: Any) -> None:
    overdue_loan(app, make_member)
    celery = make_celery(app)
    assert celery.tasks[REMINDERS_TASK]()["reminders"] == 1
    assert celery.tasks[NOTIFY_TASK]() == {"smtp": False}
    with session_scope(app) as db:
        row = db.scalars(select(Notification)).one()
        assert row.status == NotificationStatus.PENDING


@pytest.mark.e2e
def test_the_worker_process_timer_mails_an_overdue_reminder(tmp_path: Path, smtp: Any) -> None:
    """`mutualaid worker` with its embedded timer, and nothing else: the reminder is queued and
    mailed on the schedule, with no command run by hand."""
    inbox, port = smtp
    cluster = Cluster(tmp_path / "nodes")
    try:
        node = cluster.add("solo", smtp_host="127.0.0.1", smtp_port=port, notify_interval=10.0)
        cluster.setup(node)
        app = create_app({"instance_path": node.instance})  # plays the web process
        try:
            steward = Api(app.test_client(), node.token, "steward")
            overdue_loan_of(app, steward)
        finally:
            app.extensions["db"].dispose()
        node.start_worker()
        [message] = wait_until(lambda: inbox.to("steward@example.org"), 90, "the timer to mail the reminder")
        assert message["Subject"].endswith("Overdue: Drill")
    finally:
        cluster.close()
