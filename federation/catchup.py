"""Catch-up: pulling what this node missed of a sender from a feed, with the inbox's checks.

A node pulls a sender's envelopes after the highest seq up to which it has them all, from the
sender itself when it is a direct peer, otherwise (or when the sender does not answer) from a
federation this node belongs to. Each page is checked and applied like an inbox batch (origin
`pull`) and committed on its own, so an interrupted pull keeps what it got.

After a feed has been read to its end, every seq up to its `through` counts as covered: what
the feed lacks was pruned, or can never be accepted, or (from a federation) is missing at the
federation too, which then fills its own gap and relays what it gets, so it arrives anyway.
Without this a node that joins late would ask forever for envelopes pruned long ago.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import Flask
from sqlalchemy import select

from federation.feed import FEED_PATH, MAX_LIMIT
from federation.http import signed_get
from federation.identity import local_identity
from federation.inbox import ACCEPTED, DUPLICATE, Receiver, contiguous_from, cursor_for, gap_senders
from federation.models import EnvelopeOrigin, Peer, PeerStatus, Relation, SenderCursor
from node.db import session_scope, utcnow

log = logging.getLogger(__name__)

DIRECT = (Relation.PEER, Relation.FEDERATION, Relation.MEMBER)
PAGE = MAX_LIMIT
Progress = Callable[[int, int], None]  # (envelopes of this sender handled, how many expected)


class FeedUnavailable(Exception):
    """A feed could not be read: network error, refusal or an unreadable answer."""


@dataclass
class PullResult:
    """What one pull of one sender did: an honest summary for logs and the command line."""

    sender: str
    source: str | None = None
    fetched: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    contiguous_before: int = 0
    contiguous_after: int = 0
    highest: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """Whether a feed answered and this node now has (or knows it cannot get) every seq it
        knows of."""
        return self.source is not None and self.contiguous_after >= self.highest

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {
            "sender": self.sender, "source": self.source, "fetched": self.fetched,
            "accepted": self.accepted, "duplicates": self.duplicates,
            "rejected": dict(self.rejected), "contiguous_before": self.contiguous_before,
            "contiguous_after": self.contiguous_after, "highest": self.highest,
            "complete": self.complete, "errors": self.errors,
        }


def sources_for(app: Flask, sender: str) -> list[Peer]:
    """Where to pull a sender from: itself if it is a direct peer, then our federations."""
    with session_scope(app) as db:
        peers = list(db.scalars(select(Peer).where(
            Peer.status == PeerStatus.ALLOWED, Peer.url.is_not(None), Peer.relation.in_(DIRECT),
        ).order_by(Peer.id)))
    first = [p for p in peers if p.id == sender]
    feds = [p for p in peers if p.relation == Relation.FEDERATION and p.id != sender]
    return first + feds


def pull(
    app: Flask, sender: str, *, source: str | None = None, progress: Progress | None = None
) -> PullResult:
    """Fetch and apply what this node misses of `sender`, trying each source until one works."""
    result = PullResult(sender)
    with session_scope(app) as db:
        cursor = db.get(SenderCursor, sender)
        result.contiguous_before = result.contiguous_after = cursor.contiguous_seq if cursor else 0
        result.highest = cursor.highest_seq if cursor else 0
    candidates = [p for p in sources_for(app, sender) if source is None or p.id == source]
    if not candidates:
        result.errors.append("no direct peer or federation to pull from")
    for peer in candidates:
        try:
            _pull_from(app, peer, result, progress)
        except FeedUnavailable as exc:
            result.errors.append(f"{peer.id}: {exc}")
            log.info("catch-up of %s from %s failed: %s", sender, peer.id, exc)
            continue
        result.source = peer.id
        if result.complete:
            break
    return result


def _pull_from(app: Flask, peer: Peer, result: PullResult, progress: Progress | None) -> None:
    identity = local_identity(app)
    after = result.contiguous_after
    while True:
        page = _fetch(app, identity, peer, result.sender, after)
        envelopes, through = page["envelopes"], page["through"]
        result.highest = max(result.highest, through)
        served = _apply_page(app, peer, result, envelopes, through, page["next_after"] is None)
        if progress is not None:
            progress(result.fetched, max(result.fetched, result.highest - result.contiguous_before))
        if page["next_after"] is None or not envelopes:
            return
        after = max(after, page["next_after"], max(served, default=after))


def _fetch(app: Flask, identity: Any, peer: Peer, sender: str, after: int) -> dict[str, Any]:
    import requests  # loaded on the first call to another node, not with the app

    assert peer.url is not None
    params = {"sender": sender, "after": after, "limit": PAGE}
    try:
        response = signed_get(app, identity, peer.url, FEED_PATH, params)
    except requests.RequestException as exc:
        raise FeedUnavailable(f"{type(exc).__name__}: {exc}"[:300]) from None
    if response.status != 200:
        raise FeedUnavailable(f"HTTP {response.status}: {response.content[:200]!r}")
    try:
        page = response.json()
        ok = (isinstance(page, dict) and isinstance(page.get("envelopes"), list)
              and isinstance(page.get("through"), int)
              and (page.get("next_after") is None or isinstance(page.get("next_after"), int)))
    except ValueError:
        ok = False
    if not ok:
        raise FeedUnavailable("the feed's answer is not a feed page")
    return dict(page)


def _apply_page(app: Flask, peer: Peer, result: PullResult, envelopes: list[Any], through: int,
                last_page: bool) -> list[int]:
    served = [e["seq"] for e in envelopes
              if isinstance(e, dict) and e.get("sender") == result.sender and isinstance(e.get("seq"), int)]
    with session_scope(app) as db:
        receiver = Receiver(db, app, EnvelopeOrigin.PULL, via=peer.id)
        for item in receiver.receive_batch(envelopes):
            result.fetched += 1
            if item.status == ACCEPTED:
                result.accepted += 1
            elif item.status == DUPLICATE:
                result.duplicates += 1
            else:
                result.rejected[item.reason or "unknown"] += 1
        cursor = cursor_for(db, result.sender)
        cursor.highest_seq = max(cursor.highest_seq, through)
        if last_page:
            cursor.contiguous_seq = max(cursor.contiguous_seq, through)
        cursor.contiguous_seq = contiguous_from(db, result.sender, cursor.contiguous_seq, served)
        cursor.last_pull_at = utcnow()
        result.contiguous_after = cursor.contiguous_seq
        result.highest = max(result.highest, cursor.highest_seq)
    return served


def pull_gaps(app: Flask, progress: Progress | None = None) -> list[PullResult]:
    """Pull every sender this node knows it misses envelopes of."""
    with session_scope(app) as db:
        senders = gap_senders(db)
    return [pull(app, sender, progress=progress) for sender in senders]


def pull_all(app: Flask, progress: Progress | None = None) -> list[PullResult]:
    """On return from downtime: pull every direct peer and every sender with a gap."""
    with session_scope(app) as db:
        direct = set(db.scalars(select(Peer.id).where(
            Peer.status == PeerStatus.ALLOWED, Peer.url.is_not(None), Peer.relation.in_(DIRECT),
        )))
        senders = sorted(direct | set(gap_senders(db)))
    return [pull(app, sender, progress=progress) for sender in senders]
