"""The worker's timer decides what is due in assemblies, as `mutualaid close-due` does."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Flask

from node.assemblies.models import Proposal
from node.db import utcnow
from tests.assemblies.conftest import Assemblies
from tests.node.factories import later, set_columns
from workers.celery_app import CLOSE_DUE_TASK, celery_config, make_celery


def test_the_close_due_task_decides_a_proposal_once(
    app: Flask, make_member: Any, assemblies: Assemblies
) -> None:
    ana = make_member("ana")
    proposal = assemblies.propose(ana, assemblies.convene()["id"], closes_at=later(hours=2))
    assert assemblies.take(ana, proposal["id"], "for").status_code == 201
    task = make_celery(app).tasks[CLOSE_DUE_TASK]
    assert task.acks_late and task.autoretry_for
    assert task() == {"decided": 0, "closed": 0}  # not due yet
    set_columns(app, Proposal, uuid.UUID(proposal["id"]), closes_at=utcnow())
    assert task() == {"decided": 1, "closed": 0}
    assert task() == {"decided": 0, "closed": 0}  # a second run, or a redelivery, does nothing
    assert ana.get(f"/proposals/{proposal['id']}").get_json()["status"] == "passed"


def test_the_timer_runs_close_due(app: Flask) -> None:
    settings = app.config["MUTUALAID"]
    entry = celery_config(settings)["beat_schedule"]["close-due"]
    assert entry["task"] == CLOSE_DUE_TASK and entry["schedule"] == settings.close_due_interval
