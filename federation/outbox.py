"""The transactional outbox: publishing envelopes, and draining them to each peer in batches.

`publish` runs inside the caller's transaction: the sequence number, the signed envelope and
one Delivery row per direct peer commit together with the change they announce, or not at all.
Drainers are woken only after the commit (federation/wake.py); a lost wake only delays,
because the sweep finds the rows.

`drain_peer` sends one peer's Delivery rows in order (incident lane first), many envelopes to
one HTTP request, and deletes the rows the peer has settled. One drainer per peer at a time
across every process and machine: a lease taken with a conditional UPDATE on the peer row,
which expires, so a killed worker's peer is taken over. Failures back off exponentially with
full jitter, each wait capped, retries never given up: a peer down for a month gets everything.
"""

from __future__ import annotations

import contextlib
import enum
import json
import logging
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Collection, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from flask import Flask
from pydantic import BaseModel
from sqlalchemy import Table, and_, delete, exists, func, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import CursorResult, Result
from sqlalchemy.orm import Session

from federation import envelope as envelopes
from federation import registry
from federation.document import INBOX_PATH
from federation.http import NODE_HEADER, TRANSPORT, send
from federation.identity import local_identity
from federation.models import (
    Counter,
    Delivery,
    Envelope,
    EnvelopeOrigin,
    Peer,
    PeerStatus,
    Rejection,
    Relation,
)
from federation.wake import drain_after_commit
from node.db import session_scope, utcnow
from node.settings import Settings

if TYPE_CHECKING:  # requests is loaded on the first delivery, not with the app
    import requests

log = logging.getLogger(__name__)

SEQ_COUNTER = "seq"
# Relations with a direct link: envelopes are pushed to these; introduced nodes only pull.
DIRECT = (Relation.PEER, Relation.FEDERATION, Relation.MEMBER)
# Per-envelope reasons that say "not now" rather than "never": the row stays and is resent.
TRANSIENT_REASONS = frozenset({"rate-limited", "unavailable"})
SETTLED = frozenset({"accepted", "duplicate"})


# --- publishing -------------------------------------------------------------------------

def publish(
    db: Session,
    app: Flask,
    type: str,
    body: dict[str, Any] | BaseModel,
    audience: Sequence[str] | None = None,
    priority: int | None = None,
    ttl: timedelta | None = None,
) -> Envelope:
    """Sign and store an envelope of this node and queue it for every direct peer, in `db`'s
    transaction; the drainers are woken after the commit. Priority and lifetime default to
    the type's (registry)."""
    kind = registry.get(type)
    ttl = ttl or kind.ttl
    identity = local_identity(app, db)
    seq = next_seq(db)
    document = envelopes.make_envelope(identity, type, body, seq, list(audience or []) or None,
                                       priority, ttl)
    values = {
        "id": uuid.UUID(document["id"]),
        "sender": identity.node_id,
        "seq": seq,
        "type": type,
        # What was signed: a type's own lane (key rotations) outranks the caller's priority.
        "priority": document["priority"],
        "created": envelopes.parse_time(document["created"]),
        "expires": envelopes.parse_time(document["expires"]),
        # Any JSON text of the signed document will do: the signature covers its canonical
        # form, which every receiver computes itself (the inbox stores what it got likewise).
        "raw": json.dumps(document, ensure_ascii=False, separators=(",", ":")),
        "origin": EnvelopeOrigin.LOCAL,
        "via": None,
        "received_at": utcnow(),
        "outcome": "applied",
    }
    # A Core insert: publishing is a hot path and the row needs none of the ORM's bookkeeping.
    db.execute(insert(_ENVELOPES), [values])
    row = Envelope(**values)
    fan_out(db, app, row, exclude=(identity.node_id,))
    return row


def next_seq(db: Session) -> int:
    """The next sequence number of this node, taken under the counter's row lock so that seqs
    commit in order and without gaps (a rolled back transaction gives its number back)."""
    value = db.execute(_BUMP).scalar()
    if value is None:
        dialect = db.get_bind().dialect.name
        make_insert = pg_insert if dialect == "postgresql" else sqlite_insert
        db.execute(make_insert(_COUNTERS).values(name=SEQ_COUNTER, value=0).on_conflict_do_nothing())
        value = db.execute(_BUMP).scalar_one()
    return int(value)


# Built once: publishing is a hot path, and Core statements skip the ORM's bookkeeping.
_COUNTERS = cast(Table, Counter.__table__)
_DELIVERIES = cast(Table, Delivery.__table__)
_PEERS = cast(Table, Peer.__table__)
_ENVELOPES = cast(Table, Envelope.__table__)
_BUMP = (
    update(_COUNTERS).where(_COUNTERS.c.name == SEQ_COUNTER).values(value=_COUNTERS.c.value + 1)
    .returning(_COUNTERS.c.value)
)
_DIRECT_PEERS = select(Peer.id).where(
    Peer.status == PeerStatus.ALLOWED, Peer.relation.in_(DIRECT), Peer.url.is_not(None)
)


def fan_out(db: Session, app: Flask, row: Envelope, exclude: Collection[str] = ()) -> list[str]:
    """Queue a stored envelope for every allowed direct peer but `exclude` (its sender, the hop
    it came from); woken after the commit. Returns the peers it was queued for."""
    skip = {row.sender, *exclude}
    peer_ids = [peer_id for peer_id in db.scalars(_DIRECT_PEERS) if peer_id not in skip]
    if peer_ids:
        now = utcnow()
        db.execute(insert(_DELIVERIES), [
            {"peer_id": peer_id, "envelope_id": row.id, "priority": row.priority, "created_at": now}
            for peer_id in peer_ids
        ])
        drain_after_commit(db, app, peer_ids)
    return peer_ids


# --- draining ---------------------------------------------------------------------------

@dataclass
class DrainResult:
    """What one drain of one peer did."""

    peer_id: str
    leased: bool = False  # False: another drainer had it, or it is blocked or not due
    batches: int = 0
    sent: int = 0
    settled: int = 0  # accepted, or the peer had it already
    rejected: int = 0  # refused for good, recorded in federation_rejections
    failed: bool = False
    error: str | None = None
    more: bool = False  # rows are still due: the time budget ended first
    next_attempt_at: datetime | None = None
    reasons: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class _Row:
    delivery_id: int
    envelope_id: uuid.UUID
    type: str
    raw: str


class _Failure(Exception):
    """This attempt failed as a whole; the peer backs off (at least `retry_after` seconds)."""

    def __init__(self, message: str, retry_after: float = 0.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def drain_peer(app: Flask, peer_id: str, *, budget: float | None = None,
               batch_size: int | None = None, force: bool = False) -> DrainResult:
    """Deliver a peer's queued envelopes in order and in batches until the queue is empty, an
    attempt fails, or the time budget ends; a no-op when another drainer holds the peer."""
    settings: Settings = app.config["MUTUALAID"]
    deadline = time.monotonic() + (budget if budget is not None else settings.outbox_drain_seconds)
    result = DrainResult(peer_id)
    drainer = _Drainer(app, settings, peer_id, batch_size or settings.outbox_batch_size, result)
    batch = drainer.claim(force)
    try:
        while batch is not None:
            if time.monotonic() >= deadline:
                drainer.release()
                result.more = True
                break
            batch = drainer.send(batch)
    except BaseException:
        # The database went away mid-drain, say: let go now rather than when the lease runs
        # out, if we still can; either way another drainer carries on in order.
        with contextlib.suppress(Exception):
            drainer.release()
        raise
    return result


@dataclass
class _Batch:
    url: str
    rows: list[_Row]


class _Drainer:
    """One drain of one peer. Each step is one short transaction that first updates the peer
    row (taking its row lock) and only then looks at the queue, and lets go of the lease in
    that same transaction when the queue is empty: a row committed by a publisher meanwhile
    is either seen, or its wake finds the lease free. No transaction is open during a POST."""

    def __init__(self, app: Flask, settings: Settings, peer_id: str, limit: int, result: DrainResult) -> None:
        self.app, self.settings, self.peer_id, self.result = app, settings, peer_id, result
        self.owner = _lease_owner()
        self.limit, self.max_bytes = limit, settings.outbox_batch_max_bytes
        self.sender = local_identity(app).node_id

    def claim(self, force: bool) -> _Batch | None:
        """Take the lease and the first batch; None when not ours or nothing is queued."""
        with session_scope(self.app) as db:
            if not _take(db, self.peer_id, self.owner, self.settings, force):
                return None
            self.result.leased = True
            return self._next_or_release(db)

    def release(self) -> None:
        with session_scope(self.app) as db:
            _release(db, self.peer_id, self.owner)

    def send(self, batch: _Batch) -> _Batch | None:
        """POST one batch and settle it; returns the next batch, or None when done."""
        try:
            outcome = _post(self.app, batch.url, self.sender, batch.rows, self.settings.outbox_http_timeout)
        except _TooLarge:
            if len(batch.rows) > 1:
                # The peer takes less per request than we thought: smaller batches from now on.
                self.limit, self.max_bytes = max(1, len(batch.rows) // 2), max(1, self.max_bytes // 2)
                return _Batch(batch.url, batch.rows[: self.limit])
            refusal = {"status": "rejected", "reason": "too-large",
                       "detail": "the peer refused the request as too large"}
            outcome = {str(batch.rows[0].envelope_id): refusal}
        except _Failure as exc:
            self._fail(batch.rows, str(exc), exc.retry_after)
            return None
        self.result.batches += 1
        self.result.sent += len(batch.rows)
        return self._settle(batch, outcome)

    def _settle(self, batch: _Batch, outcome: dict[str, dict[str, Any]]) -> _Batch | None:
        done, refused = _sort_out(self.peer_id, batch.rows, outcome, self.result)
        if not done:
            self._fail(batch.rows, "the peer deferred every envelope", 0.0)
            return None
        now = utcnow()
        with session_scope(self.app) as db:
            renewed = _rowcount(db.execute(
                update(_PEERS).where(_PEERS.c.id == self.peer_id, _PEERS.c.lease_owner == self.owner).values(
                    lease_until=now + timedelta(seconds=self.settings.outbox_lease_seconds),
                    consecutive_failures=0, last_success_at=now, next_attempt_at=None,
                )
            ))
            db.execute(delete(_DELIVERIES).where(_DELIVERIES.c.id.in_(done)))
            if refused:
                db.execute(insert(Rejection), [dict(item, created_at=now) for item in refused])
            if not renewed:  # the lease ran out and another drainer took over: it goes on
                return None
            return self._next_or_release(db)

    def _next_or_release(self, db: Session) -> _Batch | None:
        url = db.scalar(select(Peer.url).where(Peer.id == self.peer_id))
        rows = _next_batch(db, self.peer_id, self.limit, self.max_bytes) if url else []
        if not rows:
            _release(db, self.peer_id, self.owner)
            return None
        return _Batch(str(url).rstrip("/") + INBOX_PATH, rows)

    def _fail(self, rows: list[_Row], error: str, retry_after: float) -> None:
        now = utcnow()
        with session_scope(self.app) as db:
            before = db.scalar(select(Peer.consecutive_failures).where(Peer.id == self.peer_id))
            failures = int(before or 0) + 1
            wait = max(retry_after, backoff(failures, self.settings.outbox_backoff_base,
                                            self.settings.outbox_backoff_cap))
            next_attempt = now + timedelta(seconds=wait)
            db.execute(update(_PEERS).where(_PEERS.c.id == self.peer_id).values(
                consecutive_failures=failures, last_failure_at=now, last_error=error[:500],
                next_attempt_at=next_attempt,
            ))
            db.execute(update(_DELIVERIES).where(_DELIVERIES.c.id.in_([r.delivery_id for r in rows]))
                       .values(attempts=_DELIVERIES.c.attempts + 1))
            _release(db, self.peer_id, self.owner)
        self.result.failed, self.result.error, self.result.next_attempt_at = True, error, next_attempt
        log.info("delivery to %s failed (%d in a row), next attempt in %.1fs: %s",
                 self.peer_id, failures, wait, error)


def _sort_out(peer_id: str, rows: list[_Row], outcome: dict[str, dict[str, Any]],
              result: DrainResult) -> tuple[list[int], list[dict[str, Any]]]:
    """The deliveries the peer settled (accepted, had already, or refused for good), and the
    refusals to record."""
    done: list[int] = []
    refused: list[dict[str, Any]] = []
    for row in rows:
        answer = outcome.get(str(row.envelope_id))
        if answer is None:
            continue  # not answered (the peer stopped early): resent next time, in order
        status, reason = answer.get("status"), str(answer.get("reason") or "")
        if status in SETTLED:
            done.append(row.delivery_id)
            result.settled += 1
        elif status == "rejected" and reason not in TRANSIENT_REASONS:
            done.append(row.delivery_id)
            refused.append({
                "peer_id": peer_id, "envelope_id": row.envelope_id, "envelope_type": row.type,
                "reason": reason[:40] or "unknown", "detail": str(answer.get("detail", ""))[:500],
            })
            result.rejected += 1
            result.reasons[reason] = result.reasons.get(reason, 0) + 1
            log.warning("peer %s refused envelope %s (%s): %s: %s", peer_id, row.envelope_id, row.type,
                        reason, answer.get("detail", ""))
    return done, refused


def _next_batch(db: Session, peer_id: str, limit: int, max_bytes: int) -> list[_Row]:
    rows: list[_Row] = []
    # The incident lane first; each lane in the order it was queued. Two queries, each in the
    # order of the (peer_id, priority, id) index, instead of one sort over the whole queue.
    for priority in (1, 0):
        if len(rows) >= limit:
            break
        found = db.execute(
            select(Delivery.id, Delivery.envelope_id, Envelope.type, Envelope.raw)
            .join(Envelope, Envelope.id == Delivery.envelope_id)
            .where(Delivery.peer_id == peer_id, Delivery.priority == priority)
            .order_by(Delivery.id)
            .limit(limit - len(rows))
        ).all()
        rows.extend(_Row(r[0], r[1], r[2], r[3]) for r in found)
    size = 0
    for index, row in enumerate(rows):
        size += len(row.raw) + 1
        if size > max_bytes and index > 0:
            return rows[:index]
    return rows


class _TooLarge(Exception):
    pass


_http = threading.local()


def _session() -> requests.Session:
    import requests
    # One keep-alive connection pool per thread: a drainer posts batch after batch to one peer.
    session: requests.Session | None = getattr(_http, "session", None)
    if session is None:
        session = requests.Session()
        _http.session = session
    return session


def _post(app: Flask, url: str, sender: str, rows: list[_Row], timeout: float) -> dict[str, dict[str, Any]]:
    # The stored text is sent as it is: it is what was signed (and relays forward it unchanged).
    payload = ('{"envelopes":[' + ",".join(row.raw for row in rows) + "]}").encode("utf-8")
    headers = {"Content-Type": "application/json", NODE_HEADER: sender, "User-Agent": "mutualaid"}
    import requests  # loaded on the first delivery, not with the app

    try:
        if TRANSPORT in app.extensions:  # nodes joined in one process (tests)
            answer = send(app, "POST", url, headers, payload, timeout)
            status, content, answer_headers = answer.status, answer.content, answer.headers
        else:
            response = _session().post(url, data=payload, headers=headers, timeout=timeout,
                                       allow_redirects=False)
            status, content, answer_headers = response.status_code, response.content, response.headers
    except requests.RequestException as exc:
        raise _Failure(f"{type(exc).__name__}: {exc}"[:400]) from None
    text = content[:200].decode("utf-8", "replace")
    if status == 413:
        raise _TooLarge
    if status != 200:
        retry_after = answer_headers.get("Retry-After", "")
        raise _Failure(f"HTTP {status}: {text}", float(retry_after) if retry_after.isdigit() else 0.0)
    try:
        results = json.loads(content)["results"]
        return {str(item["id"]): item for item in results if isinstance(item, dict) and "id" in item}
    except (ValueError, KeyError, TypeError):
        raise _Failure(f"unreadable answer from the inbox: {text}") from None


def backoff(failures: int, base: float, cap: float) -> float:
    """Seconds to wait after `failures` failures in a row: full jitter over base*2^(n-1), each
    wait at most `cap`; never gives up, so a peer that is down for a month still gets it all."""
    ceiling = min(cap, base * 2.0 ** min(failures - 1, 60))
    return random.uniform(min(base, ceiling), ceiling)


# --- the lease --------------------------------------------------------------------------

def _lease_owner() -> str:
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def take_lease(app: Flask, peer_id: str, owner: str, *, force: bool = False) -> bool:
    """Take the peer's drain lease unless a live one is held by someone else; with `force`,
    even when its backoff has not ended (an operator's "try now")."""
    with session_scope(app) as db:
        return _take(db, peer_id, owner, app.config["MUTUALAID"], force)


def _take(db: Session, peer_id: str, owner: str, settings: Settings, force: bool) -> bool:
    now = utcnow()
    conditions = [
        _PEERS.c.id == peer_id,
        _PEERS.c.status == PeerStatus.ALLOWED,
        or_(_PEERS.c.lease_owner.is_(None), _PEERS.c.lease_until < now, _PEERS.c.lease_owner == owner),
    ]
    if not force:
        conditions.append(or_(_PEERS.c.next_attempt_at.is_(None), _PEERS.c.next_attempt_at <= now))
    taken = db.execute(
        update(_PEERS).where(*conditions)
        .values(lease_owner=owner, lease_until=now + timedelta(seconds=settings.outbox_lease_seconds))
    )
    return bool(_rowcount(taken))


def _rowcount(result: Result[Any]) -> int:
    return int(cast(CursorResult[Any], result).rowcount)


def release_lease(app: Flask, peer_id: str, owner: str) -> None:
    """Give the lease back if we still hold it."""
    with session_scope(app) as db:
        _release(db, peer_id, owner)


def _release(db: Session, peer_id: str, owner: str) -> None:
    db.execute(update(_PEERS).where(_PEERS.c.id == peer_id, _PEERS.c.lease_owner == owner)
               .values(lease_owner=None, lease_until=None))


def due_peers(db: Session, now: datetime | None = None) -> list[str]:
    """Peers with queued rows whose backoff has ended and whom no live drainer holds."""
    moment = now or utcnow()
    return list(db.scalars(
        select(Peer.id).where(
            _due(moment), or_(Peer.lease_owner.is_(None), Peer.lease_until < moment)
        ).order_by(Peer.id)
    ))


def _due(now: datetime) -> Any:
    return and_(
        Peer.status == PeerStatus.ALLOWED,
        Peer.url.is_not(None),
        or_(Peer.next_attempt_at.is_(None), Peer.next_attempt_at <= now),
        exists().where(Delivery.peer_id == Peer.id),
    )


def queued_peers(db: Session, peer_ids: Iterable[str] | None = None) -> set[str]:
    """Peers with any queued rows (due or not)."""
    query = select(Delivery.peer_id).distinct()
    if peer_ids is not None:
        query = query.where(Delivery.peer_id.in_(list(peer_ids)))
    return set(db.scalars(query))


# --- health and lag ---------------------------------------------------------------------

class Health(enum.StrEnum):
    HEALTHY = "healthy"  # the last attempt worked (or none was needed yet)
    DEGRADED = "degraded"  # a few attempts in a row failed
    UNREACHABLE = "unreachable"  # many failed, or nothing got through for a long time
    BLOCKED = "blocked"  # this node refuses it; nothing is sent


# A failing peer with nothing delivered for this long counts as unreachable however few
# attempts the backoff has allowed.
SILENCE = timedelta(days=1)


@dataclass(frozen=True)
class PeerHealth:
    """How delivery to one peer stands: for the peers API and the command line."""

    peer_id: str
    health: Health
    pending: int
    oldest_pending_at: datetime | None
    oldest_pending_age: float | None  # seconds
    last_success_at: datetime | None
    last_failure_at: datetime | None
    last_error: str | None
    consecutive_failures: int
    next_attempt_at: datetime | None
    rejected: int

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        data = asdict(self)
        for key, value in data.items():
            if isinstance(value, datetime):
                data[key] = value.isoformat()
        data["health"] = self.health.value
        return data


def health_of(peer: Peer, settings: Settings, oldest_pending_at: datetime | None = None,
              now: datetime | None = None) -> Health:
    """The health state of one peer from its delivery record."""
    if peer.status == PeerStatus.BLOCKED:
        return Health.BLOCKED
    failures = peer.consecutive_failures
    if failures == 0:
        return Health.HEALTHY
    moment = now or utcnow()
    since = peer.last_success_at or oldest_pending_at
    if failures >= settings.outbox_unreachable_after or (since is not None and moment - since > SILENCE):
        return Health.UNREACHABLE
    return Health.DEGRADED


def peer_health(db: Session, settings: Settings, peer_ids: Iterable[str] | None = None,
                now: datetime | None = None) -> dict[str, PeerHealth]:
    """Health, lag (queued count, oldest queued age) and last success of peers (all when None)."""
    moment = now or utcnow()
    peers_query = select(Peer)
    queue_query = (
        select(Delivery.peer_id, func.count(), func.min(Delivery.created_at)).group_by(Delivery.peer_id)
    )
    refused_query = select(Rejection.peer_id, func.count()).group_by(Rejection.peer_id)
    if peer_ids is not None:
        wanted = list(peer_ids)
        peers_query = peers_query.where(Peer.id.in_(wanted))
        queue_query = queue_query.where(Delivery.peer_id.in_(wanted))
        refused_query = refused_query.where(Rejection.peer_id.in_(wanted))
    queues = {row[0]: (int(row[1]), row[2]) for row in db.execute(queue_query)}
    refused = {row[0]: int(row[1]) for row in db.execute(refused_query)}
    report: dict[str, PeerHealth] = {}
    for peer in db.scalars(peers_query):
        pending, oldest = queues.get(peer.id, (0, None))
        oldest = _aware(oldest)
        report[peer.id] = PeerHealth(
            peer_id=peer.id,
            health=health_of(peer, settings, oldest, moment),
            pending=pending,
            oldest_pending_at=oldest,
            oldest_pending_age=(moment - oldest).total_seconds() if oldest else None,
            last_success_at=peer.last_success_at,
            last_failure_at=peer.last_failure_at,
            last_error=peer.last_error,
            consecutive_failures=peer.consecutive_failures,
            next_attempt_at=peer.next_attempt_at,
            rejected=refused.get(peer.id, 0),
        )
    return report


def _aware(value: datetime | str | None) -> datetime | None:
    # An aggregate (min) comes back without the column's type on SQLite: as text, no zone.
    if value is None or isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


def rejections(db: Session, peer_id: str, limit: int = 50) -> list[Rejection]:
    """The latest envelopes a peer refused for good, newest first."""
    return list(db.scalars(
        select(Rejection).where(Rejection.peer_id == peer_id).order_by(Rejection.id.desc()).limit(limit)
    ))
