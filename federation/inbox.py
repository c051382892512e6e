"""Receiving envelopes, from the inbox or from a catch-up pull: every check, then apply.

Each envelope is judged on its own, in this order, and the first failure is its reason:
shape (`malformed`), size (`too-large`), sender known (`unknown-sender`) and not blocked
(`blocked-sender`), signature with a valid key of the sender (`bad-signature`), time
(`expired`, `not-yet-valid`), not seen before (`duplicate`), type known (`unknown-type`) and
body valid for it (`invalid-body`). Then, in one savepoint, it is recorded as seen and applied
(a handler may still refuse it, e.g. `not-owner`): good envelopes of a batch apply, bad ones
leave nothing. A federation node then queues what it accepted for its other direct peers.
"""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from flask import Flask
from sqlalchemy import Table, insert, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from federation import registry, signing
from federation.envelope import (
    MAX_ENVELOPE_BYTES,
    MAX_SAFE_INTEGER,
    UUID_TEXT,
    EnvelopeError,
    Parsed,
    addressed_to,
    check_time,
    now,
    parse,
)
from federation.identity import local_identity
from federation.models import (
    Envelope,
    EnvelopeOrigin,
    Peer,
    PeerKey,
    PeerStatus,
    Relation,
    SenderCursor,
)

log = logging.getLogger(__name__)

ACCEPTED, DUPLICATE, REJECTED = "accepted", "duplicate", "rejected"
NOT_ADDRESSED = "ignored: not addressed to this node"
CURSOR_SCAN = 5000
PULL_EVERY = timedelta(seconds=60)


@dataclass
class Result:
    """What became of one envelope of a batch; the sender reads `reason` and `detail`."""

    id: str | None
    status: str
    reason: str | None = None
    detail: str | None = None
    outcome: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The result as the inbox answers it."""
        data: dict[str, Any] = {"id": self.id, "status": self.status}
        if self.reason:
            data["reason"] = self.reason
        if self.detail:
            data["detail"] = self.detail
        return data


@dataclass(frozen=True)
class _Candidate:
    """An envelope that passed every check and waits to be stored and applied."""

    index: int
    parsed: Parsed
    text: str
    key: str
    model: Any


_ENVELOPES = cast(Table, Envelope.__table__)

# Types after which later envelopes of the same batch must be checked again: they change the
# keys or the senders this node knows.
BARRIERS = frozenset({"node.key_rotated", "peer.introduced"})


@dataclass
class Receiver:
    """Checks and applies envelopes arriving in one transaction, caching lookups across them.

    The caller commits. `via` is the node the envelopes came from on the last hop (excluded
    when a federation relays them on).

    A batch is checked envelope by envelope without writing, then the envelopes that passed
    are stored and applied together in one savepoint; if any of them fails to apply (a
    handler refuses it, or another transaction stored it first), that savepoint is rolled
    back and each is applied again in a savepoint of its own, so that the good ones apply and
    the bad one leaves nothing."""

    db: Session
    app: Flask
    origin: EnvelopeOrigin
    via: str | None = None
    local_id: str = ""
    relays: bool = False
    moment: datetime = field(default_factory=now)
    touched: dict[str, int] = field(default_factory=dict)  # sender -> highest seq stored
    gaps: set[str] = field(default_factory=set)  # senders to pull from after the commit
    _peers: dict[str, Peer | None] = field(default_factory=dict)
    _keys: dict[str, list[str]] = field(default_factory=dict)
    _audience: set[str] | None = None
    _seen: set[str] = field(default_factory=set)
    _seqs: set[tuple[str, int]] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.local_id = self.local_id or local_identity(self.app).node_id
        self.relays = self.app.config["MUTUALAID"].role == "federation"

    # --- the batch ----------------------------------------------------------------------

    def receive_batch(self, values: list[Any]) -> list[Result]:
        """Judge and apply each envelope of a batch, then advance the senders' cursors."""
        with gc_paused():
            return self._receive_batch(values)

    def _receive_batch(self, values: list[Any]) -> list[Result]:
        self._prefetch(values)
        results: list[Result | None] = [None] * len(values)
        pending: list[_Candidate] = []
        for index, value in enumerate(values):
            try:
                candidate = self._candidate(index, value)
            except EnvelopeError as exc:
                results[index] = _refusal(value, exc)
                continue
            pending.append(candidate)
            if candidate.parsed.type in BARRIERS:
                self._apply(pending, results)
                pending = []
        self._apply(pending, results)
        self.finish()
        return [result for result in results if result is not None]

    def receive(self, value: Any) -> Result:
        """Judge one envelope and, if it passes, record and apply it."""
        return self.receive_batch([value])[0]

    def finish(self) -> set[str]:
        """Advance the cursors of every sender stored so far; returns the senders with a gap
        not pulled from lately (also kept in `gaps`)."""
        gaps = advance_cursors(self.db, self.touched, self.moment)
        self.touched.clear()
        self.gaps |= gaps
        return gaps

    def _prefetch(self, values: list[Any]) -> None:
        ids, senders, seqs = [], set(), set()
        for value in values:
            if not isinstance(value, dict):
                continue
            text, sender, seq = value.get("id"), value.get("sender"), value.get("seq")
            if isinstance(text, str) and UUID_TEXT.match(text):
                ids.append(uuid.UUID(text))
            if isinstance(sender, str) and isinstance(seq, int) and 0 < seq <= MAX_SAFE_INTEGER:
                senders.add(sender)
                seqs.add(seq)
        for start in range(0, len(ids), registry.IN_CHUNK):
            chunk = ids[start:start + registry.IN_CHUNK]
            found = self.db.scalars(select(Envelope.id).where(Envelope.id.in_(chunk)))
            self._seen.update(str(i) for i in found)
        ordered = sorted(seqs)
        for start in range(0, len(ordered), registry.IN_CHUNK):
            rows = self.db.execute(select(Envelope.sender, Envelope.seq).where(
                Envelope.sender.in_(senders), Envelope.seq.in_(ordered[start:start + registry.IN_CHUNK])
            ))
            self._seqs.update((row[0], row[1]) for row in rows)

    def _candidate(self, index: int, value: Any) -> _Candidate:
        parsed, text, key = self._check(value)
        model = registry.validate_body(parsed.type, parsed.body)
        # Claimed now, so the same envelope twice in one batch is a duplicate the second time.
        self._seen.add(str(parsed.id))
        self._seqs.add((parsed.sender, parsed.seq))
        return _Candidate(index, parsed, text, key, model)

    def _check(self, value: Any) -> tuple[Parsed, str, str]:
        parsed = parse(value)
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        try:
            size = len(text.encode("utf-8"))
        except UnicodeEncodeError:
            raise EnvelopeError("malformed", "holds a lone surrogate, which is not Unicode text") from None
        if size > MAX_ENVELOPE_BYTES:
            raise EnvelopeError("too-large", f"the envelope is over {MAX_ENVELOPE_BYTES} bytes")
        if parsed.sender == self.local_id:
            if str(parsed.id) in self._seen:
                raise EnvelopeError("duplicate", "this node's own envelope")
            raise EnvelopeError("unknown-sender", "claims to be from this node, which never sent it")
        peer = self._peer(parsed.sender)
        if peer is None:
            raise EnvelopeError("unknown-sender", f"{parsed.sender} is not a node this node knows")
        if peer.status == PeerStatus.BLOCKED:
            raise EnvelopeError("blocked-sender", f"{parsed.sender} is blocked here")
        try:
            key = signing.verify_any(parsed.document, self._valid_keys(parsed.sender))
        except signing.SignatureError as exc:
            raise EnvelopeError("bad-signature", str(exc)) from None
        check_time(parsed, self.moment)
        if str(parsed.id) in self._seen:
            raise EnvelopeError("duplicate", f"envelope {parsed.id} was received before")
        if (parsed.sender, parsed.seq) in self._seqs:
            raise EnvelopeError("duplicate", f"seq {parsed.seq} of this sender was received before")
        return parsed, text, key

    # --- storing and applying -------------------------------------------------------------

    def _apply(self, candidates: list[_Candidate], results: list[Result | None]) -> None:
        if not candidates:
            return
        outcomes = self._apply_together(candidates)
        if outcomes is not None:
            for candidate, outcome in zip(candidates, outcomes, strict=True):
                results[candidate.index] = self._stored(candidate, outcome)
            return
        for candidate in candidates:
            try:
                outcome = self._apply_alone(candidate)
            except EnvelopeError as exc:
                self._seen.discard(str(candidate.parsed.id))
                self._seqs.discard((candidate.parsed.sender, candidate.parsed.seq))
                results[candidate.index] = _refusal(candidate.parsed.document, exc)
                continue
            results[candidate.index] = self._stored(candidate, outcome)

    def _apply_together(self, candidates: list[_Candidate]) -> list[str] | None:
        batch: dict[str, Any] = {}
        try:
            with self.db.begin_nested():
                registry.prefetch(self.db, batch, [(c.parsed, c.model) for c in candidates])
                outcomes = []
                for candidate in candidates:
                    registry.write_pending(self.db, batch, candidate.parsed.type)
                    outcomes.append(self._run_handler(candidate, batch))
                registry.write_pending(self.db, batch)
                self._insert(candidates, outcomes)
        except (EnvelopeError, IntegrityError):
            return None
        return outcomes

    def _apply_alone(self, candidate: _Candidate) -> str:
        try:
            with self.db.begin_nested():
                outcome = self._run_handler(candidate, {})
                self._insert([candidate], [outcome])
        except IntegrityError:
            # Another request stored the same envelope first (two relays, one moment).
            raise EnvelopeError("duplicate", f"envelope {candidate.parsed.id} was received before") from None
        return outcome

    def _run_handler(self, candidate: _Candidate, batch: dict[str, Any]) -> str:
        parsed = candidate.parsed
        if not addressed_to(parsed, self.audience_ids()):
            return NOT_ADDRESSED
        context = registry.ApplyContext(self.db, self.app, parsed, self.local_id, self.origin,
                                        candidate.key, batch)
        return registry.get(parsed.type).apply(context, candidate.model)[:200]

    def _insert(self, candidates: list[_Candidate], outcomes: list[str]) -> None:
        rows = [
            {"id": c.parsed.id, "sender": c.parsed.sender, "seq": c.parsed.seq, "type": c.parsed.type,
             "priority": c.parsed.priority, "created": c.parsed.created, "expires": c.parsed.expires,
             "raw": c.text, "origin": self.origin, "via": self.via, "received_at": self.moment,
             "outcome": outcome}
            for c, outcome in zip(candidates, outcomes, strict=True)
        ]
        self.db.flush()  # what the handlers wrote, before the envelopes that caused it
        self.db.execute(insert(_ENVELOPES), rows)  # Core: the rows need no ORM bookkeeping
        if self.relays:
            from federation.relay import relay_many

            relay_many(self.db, self.app, [(c.parsed.id, c.parsed.sender, c.parsed.priority)
                                           for c in candidates], self.via)

    def _stored(self, candidate: _Candidate, outcome: str) -> Result:
        parsed = candidate.parsed
        self.touched[parsed.sender] = max(self.touched.get(parsed.sender, 0), parsed.seq)
        if parsed.type in BARRIERS:
            # Keys or senders changed: look them up again for the rest of the batch.
            self._keys.clear()
            self._peers.clear()
        return Result(str(parsed.id), ACCEPTED, outcome=outcome)

    # --- lookups ------------------------------------------------------------------------

    def _peer(self, node_id: str) -> Peer | None:
        if node_id not in self._peers:
            self._peers[node_id] = self.db.get(Peer, node_id)
        return self._peers[node_id]

    def _valid_keys(self, node_id: str) -> list[str]:
        if node_id not in self._keys:
            self._keys[node_id] = list(self.db.scalars(
                select(PeerKey.public_key).where(
                    PeerKey.peer_id == node_id,
                    or_(PeerKey.valid_until.is_(None), PeerKey.valid_until > self.moment),
                ).order_by(PeerKey.id.desc())
            ))
        return self._keys[node_id]

    def audience_ids(self) -> set[str]:
        """This node's id and every federation it belongs to, directly or through others."""
        if self._audience is None:
            self._audience = audience_of(self.db, self.local_id)
        return self._audience


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while a batch is received.

    A batch allocates many objects that live until its end (envelopes, rows, results); each
    collection would scan them all, and the whole heap of the process now and then: some
    15 % of a catch-up's CPU. Reference counting still frees nearly everything; the cycles
    left wait for the next collection, after the batch. Another thread pausing meanwhile
    only means a collection resumes a little early."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _refusal(value: Any, exc: EnvelopeError) -> Result:
    ident = value.get("id") if isinstance(value, dict) and isinstance(value.get("id"), str) else None
    status = DUPLICATE if exc.reason == "duplicate" else REJECTED
    return Result(ident[:64] if ident else None, status, exc.reason, exc.detail[:500])


def audience_of(db: Session, local_id: str) -> set[str]:
    """The ids an envelope's audience may name for this node to apply it."""
    feds = {
        peer.id: list(peer.member_of or [])
        for peer in db.scalars(select(Peer).where(
            Peer.relation == Relation.FEDERATION, Peer.status == PeerStatus.ALLOWED
        ))
    }
    ids = {local_id, *feds}
    pending = [parent for parents in feds.values() for parent in parents]
    while pending:
        parent = pending.pop()
        if parent in ids:
            continue
        ids.add(parent)
        known = db.get(Peer, parent)
        if known is not None:
            pending.extend(known.member_of or [])
    return ids


def advance_cursors(db: Session, touched: dict[str, int], moment: datetime | None = None) -> set[str]:
    """Move each sender's contiguous seq over what is now stored; returns the senders with a
    gap that were not pulled from within PULL_EVERY (the missing ones may be in flight)."""
    gaps: set[str] = set()
    moment = moment or now()
    for sender in sorted(touched):  # one lock order for every transaction: no deadlocks
        cursor = cursor_for(db, sender)
        cursor.highest_seq = max(cursor.highest_seq, touched[sender])
        cursor.contiguous_seq = contiguous_from(db, sender, cursor.contiguous_seq)
        recently = cursor.last_pull_at is not None and moment - cursor.last_pull_at < PULL_EVERY
        if cursor.highest_seq > cursor.contiguous_seq and not recently:
            gaps.add(sender)
    db.flush()
    return gaps


def cursor_for(db: Session, sender: str) -> SenderCursor:
    """The sender's cursor row, locked, created if missing."""
    cursor = db.get(SenderCursor, sender, with_for_update=True)
    if cursor is None:
        try:
            with db.begin_nested():
                cursor = SenderCursor(sender=sender, contiguous_seq=0, highest_seq=0)
                db.add(cursor)
        except IntegrityError:
            cursor = db.get(SenderCursor, sender, with_for_update=True, populate_existing=True)
            assert cursor is not None
    return cursor


def contiguous_from(db: Session, sender: str, start: int, covered: Iterable[int] = ()) -> int:
    """The highest seq such that every seq from `start` up to it is stored (or in `covered`)."""
    extra = sorted(set(covered))
    position = start
    while True:
        seqs = list(db.scalars(
            select(Envelope.seq).where(Envelope.sender == sender, Envelope.seq > position)
            .order_by(Envelope.seq).limit(CURSOR_SCAN)
        ))
        merged = sorted(set(seqs) | {s for s in extra if s > position})
        moved = position
        for seq in merged:
            if seq != moved + 1:
                break
            moved = seq
        if moved == position or len(seqs) < CURSOR_SCAN or moved != merged[-1]:
            return moved
        position = moved


def gap_senders(db: Session) -> list[str]:
    """Senders of whom this node is known to miss envelopes."""
    return list(db.scalars(
        select(SenderCursor.sender).where(SenderCursor.highest_seq > SenderCursor.contiguous_seq)
        .order_by(SenderCursor.sender)
    ))

