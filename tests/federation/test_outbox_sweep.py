"""The periodic sweep: which peers it wakes, which senders it pulls from, what it prunes."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from flask import Flask
from sqlalchemy import func, select, update

from federation import sweep as sweeping
from federation import wake
from federation.models import Envelope, Peer, PeerStatus, Pledge, PledgeStatus, SenderCursor
from federation.outbox import drain_peer
from node.db import session_scope, utcnow
from tests.federation.outbox_support import Recorder, add_peer, new_node_id, publish_many
from tests.federation.receiver import running_receiver


def _set_peer(app: Flask, peer_id: str, **values: Any) -> None:
    with session_scope(app) as db:
        db.execute(update(Peer).where(Peer.id == peer_id).values(**values))


def test_the_sweep_wakes_peers_with_due_rows_and_no_live_drainer(app: Flask) -> None:
    due = add_peer(app, "http://due.test")
    backing_off = add_peer(app, "http://later.test")
    held = add_peer(app, "http://held.test")
    stale = add_peer(app, "http://stale.test")
    blocked = add_peer(app, "http://blocked.test")
    publish_many(app, 2)
    idle = add_peer(app, "http://idle.test")  # added after: nothing queued for it
    now = utcnow()
    _set_peer(app, backing_off, next_attempt_at=now + timedelta(minutes=5))
    _set_peer(app, held, lease_owner="alive", lease_until=now + timedelta(minutes=1))
    _set_peer(app, stale, lease_owner="dead", lease_until=now - timedelta(seconds=1))
    _set_peer(app, blocked, status=PeerStatus.BLOCKED)
    recorder = Recorder()
    wake.install(app, recorder)

    result = sweeping.sweep(app)

    assert sorted(result.drains) == sorted([due, stale])
    assert recorder.drains == [sorted([due, stale])]
    assert idle not in result.drains


def test_a_lost_wake_only_delays(app: Flask) -> None:
    with running_receiver() as receiver:
        peer = add_peer(app, receiver.url)
        publish_many(app, 3)  # the no-op waker: nobody drains
        recorder = Recorder()
        wake.install(app, recorder)
        sweeping.sweep(app)
        for peer_ids in recorder.drains:  # what a worker would do with the wakes
            for woken in peer_ids:
                drain_peer(app, woken)
        assert recorder.drains == [[peer]]
        assert len(receiver.accepted_ids()) == 3


def test_senders_with_gaps_are_pulled_but_not_too_often(app: Flask) -> None:
    gap, whole, recent = new_node_id(), new_node_id(), new_node_id()
    now = utcnow()
    with session_scope(app) as db:
        db.add(SenderCursor(sender=gap, contiguous_seq=3, highest_seq=7))
        db.add(SenderCursor(sender=whole, contiguous_seq=7, highest_seq=7))
        db.add(SenderCursor(sender=recent, contiguous_seq=1, highest_seq=2, last_pull_at=now))
    recorder = Recorder()
    wake.install(app, recorder)
    assert sweeping.sweep(app).pulls == [gap]
    assert recorder.pulls == [[gap]]


def test_unanswered_pledges_lapse(app: Flask) -> None:
    now = utcnow()
    with session_scope(app) as db:
        for lease in (now - timedelta(minutes=1), now + timedelta(hours=1)):
            db.add(Pledge(id=uuid.uuid4(), owner_node=new_node_id(), listing_id=uuid.uuid4(),
                          listing_kind="need", pledger_node=new_node_id(), quantity=1.0, unit="kg",
                          lease_until=lease))
    result = sweeping.sweep(app)
    assert result.jobs["pledge-leases"] == 1
    with session_scope(app) as db:
        statuses = sorted(p.status for p in db.scalars(select(Pledge)))
    assert statuses == sorted([PledgeStatus.EXPIRED, PledgeStatus.OFFERED])


def test_registered_jobs_run_in_each_sweep(app: Flask) -> None:
    seen: list[Any] = []
    sweeping.register_job("test-job", lambda db, target, moment: seen.append(target) or 4)
    try:
        assert sweeping.sweep(app).jobs["test-job"] == 4
    finally:
        sweeping._jobs.pop("test-job")
    assert seen == [app]


def test_envelopes_past_retention_and_expiry_are_pruned_unless_still_owed(app: Flask) -> None:
    publish_many(app, 4)
    peer = add_peer(app, "http://slow.test")
    publish_many(app, 1)  # still owed to the peer
    old = utcnow() - timedelta(days=app.config["MUTUALAID"].feed_retention_days + 1)
    with session_scope(app) as db:
        seqs = list(db.scalars(select(Envelope.seq).order_by(Envelope.seq)))
        # 1-2 and 5: received long ago and expired; 3: long ago, not expired; 4: recent.
        db.execute(update(Envelope).where(Envelope.seq.in_([1, 2, 5]))
                   .values(received_at=old, expires=utcnow() - timedelta(days=1)))
        db.execute(update(Envelope).where(Envelope.seq == 3).values(received_at=old))
    assert seqs == [1, 2, 3, 4, 5]

    assert sweeping.sweep(app).pruned == 2
    with session_scope(app) as db:
        assert list(db.scalars(select(Envelope.seq).order_by(Envelope.seq))) == [3, 4, 5]
    assert sweeping.sweep(app).pruned == 0
    with session_scope(app) as db:
        assert db.scalar(select(func.count()).select_from(Peer).where(Peer.id == peer)) == 1


def test_prune_works_in_bounded_steps(app: Flask) -> None:
    publish_many(app, 5)
    old = utcnow() - timedelta(days=400)
    with session_scope(app) as db:
        db.execute(update(Envelope).values(received_at=old, expires=old + timedelta(days=1)))
        assert sweeping.prune(db, utcnow() - timedelta(days=90), utcnow(), limit=2) == 2
        assert sweeping.prune(db, utcnow() - timedelta(days=90), utcnow(), limit=10) == 3
