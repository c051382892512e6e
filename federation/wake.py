"""Waking the drainers after a commit, through whatever the running process has installed.

The database is the queue of record: a wake only says "look now". The workers package
installs a waker that enqueues Celery tasks; apps without one (tests, one-off commands) keep
the no-op default and the periodic sweep finds the rows. A lost wake therefore only delays.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable
from typing import Protocol

from flask import Flask
from sqlalchemy import event
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

EXTENSION = "mutualaid.wake"
_PENDING = "mutualaid.wake.pending"


class Waker(Protocol):
    """Starts work soon, in some other process or thread; must not raise on a lost broker."""

    def drain(self, peer_ids: Collection[str]) -> None: ...

    def pull(self, senders: Collection[str]) -> None: ...


class NoWake:
    """The default: nothing is started; the sweep (or a test) drains explicitly."""

    def drain(self, peer_ids: Collection[str]) -> None:
        return None

    def pull(self, senders: Collection[str]) -> None:
        return None


def install(app: Flask, waker: Waker) -> None:
    """Make `waker` the app's way to start drainers and pulls."""
    app.extensions[EXTENSION] = waker


def waker(app: Flask) -> Waker:
    """The app's waker, or the no-op default."""
    found: Waker = app.extensions.get(EXTENSION) or NoWake()
    return found


def drain_now(app: Flask, peer_ids: Collection[str]) -> None:
    """Wake the drainers of these peers now (outside any transaction); never raises."""
    if peer_ids:
        _safely(app, "drain", peer_ids)


def pull_now(app: Flask, senders: Collection[str]) -> None:
    """Start catch-up pulls from these senders now; never raises."""
    if senders:
        _safely(app, "pull", senders)


def drain_after_commit(db: Session, app: Flask, peer_ids: Iterable[str]) -> None:
    """Wake these peers' drainers once the session's transaction commits (never before)."""
    _pending(db, app)["drain"].update(peer_ids)


def pull_after_commit(db: Session, app: Flask, senders: Iterable[str]) -> None:
    """Start pulls from these senders once the session's transaction commits."""
    _pending(db, app)["pull"].update(senders)


def _pending(db: Session, app: Flask) -> dict[str, set[str]]:
    pending: dict[str, set[str]] | None = db.info.get(_PENDING)
    if pending is None:
        pending = {"drain": set(), "pull": set()}
        db.info[_PENDING] = pending
        # Listeners on this one session: a rolled back transaction wakes nobody.
        event.listen(db, "after_commit", lambda session: _fire(session, app))
        event.listen(db, "after_rollback", _forget)
    return pending


def _fire(db: Session, app: Flask) -> None:
    pending: dict[str, set[str]] = db.info[_PENDING]
    drains, pulls = set(pending["drain"]), set(pending["pull"])
    pending["drain"].clear()
    pending["pull"].clear()
    drain_now(app, drains)
    pull_now(app, pulls)


def _forget(db: Session) -> None:
    for ids in db.info[_PENDING].values():
        ids.clear()


def _safely(app: Flask, kind: str, ids: Collection[str]) -> None:
    try:
        getattr(waker(app), kind)(sorted(ids))
    except Exception as exc:  # the broker is down or gone: the sweep will find the rows
        log.warning("could not wake %s for %d ids (%s: %s); the sweep will", kind, len(ids),
                    type(exc).__name__, exc)
