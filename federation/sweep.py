"""The periodic sweep: re-wakes what a lost wake left behind, and keeps the tables bounded.

It runs every `settings.sweep_interval` seconds (Celery beat in workers/) and is safe to run in
several processes at once: waking a drainer that finds the lease taken costs one UPDATE.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import Flask
from sqlalchemy import delete, exists, or_, select
from sqlalchemy.orm import Session

from federation import wake
from federation.inbox import PULL_EVERY
from federation.models import Delivery, Envelope, SenderCursor
from federation.outbox import due_peers
from federation.pledges import expire_leases
from node.db import session_scope, utcnow
from node.settings import Settings

log = logging.getLogger(__name__)

PRUNE_BATCH = 5000

# Other packages add periodic upkeep here: each job
# takes the session, the app and the time, and returns how many rows it changed.
Job = Callable[[Session, Flask, datetime], int]
_jobs: dict[str, Job] = {}


def register_job(name: str, job: Job) -> None:
    """Run `job` on every sweep, in the sweep's transaction."""
    _jobs[name] = job


@dataclass
class SweepResult:
    """What one sweep did."""

    drains: list[str] = field(default_factory=list)
    pulls: list[str] = field(default_factory=list)
    pruned: int = 0
    jobs: dict[str, int] = field(default_factory=dict)


def sweep(app: Flask, now: datetime | None = None) -> SweepResult:
    """Wake drainers of peers with due rows and no live drainer, start pulls for senders with
    gaps, lapse unanswered pledges, run registered jobs, prune envelopes past retention."""
    moment = now or utcnow()
    settings: Settings = app.config["MUTUALAID"]
    result = SweepResult()
    with session_scope(app) as db:
        result.drains = due_peers(db, moment)
        result.pulls = senders_with_gaps(db, moment)
    wake.drain_now(app, result.drains)
    wake.pull_now(app, result.pulls)
    with session_scope(app) as db:
        result.jobs["pledge-leases"] = expire_leases(db, moment)
    for name, job in sorted(_jobs.items()):
        with session_scope(app) as db:
            result.jobs[name] = job(db, app, moment)
    with session_scope(app) as db:
        result.pruned = prune(db, moment - timedelta(days=settings.feed_retention_days), moment)
    if result.drains or result.pulls or result.pruned:
        log.info("sweep: woke %d drainers, %d pulls, pruned %d envelopes",
                 len(result.drains), len(result.pulls), result.pruned)
    return result


def senders_with_gaps(db: Session, now: datetime) -> list[str]:
    """Senders we know have published more than we hold, not asked again within PULL_EVERY."""
    return list(db.scalars(
        select(SenderCursor.sender).where(
            SenderCursor.contiguous_seq < SenderCursor.highest_seq,
            or_(SenderCursor.last_pull_at.is_(None), SenderCursor.last_pull_at < now - PULL_EVERY),
        ).order_by(SenderCursor.sender)
    ))


def prune(db: Session, kept_since: datetime, now: datetime, limit: int = PRUNE_BATCH) -> int:
    """Delete envelopes received before `kept_since` that have also expired (an expired
    envelope is refused on arrival, so forgetting its id lets no replay in) and that no peer
    is still waiting for; at most `limit` per call."""
    ids = list(db.scalars(
        select(Envelope.id).where(
            Envelope.received_at < kept_since,
            Envelope.expires < now,
            ~exists().where(Delivery.envelope_id == Envelope.id),
        ).limit(limit)
    ))
    if ids:
        db.execute(delete(Envelope).where(Envelope.id.in_(ids)).execution_options(synchronize_session=False))
    return len(ids)
