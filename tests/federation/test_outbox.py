"""The outbox against a real HTTP inbox on loopback: publishing, draining in order and in
batches, failure and backoff, refusals, the per-peer lease, health and lag."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select, update

from federation import keys, outbox, wake
from federation.identity import local_identity
from federation.models import Counter, Delivery, Envelope, Peer, PeerStatus, Rejection, Relation
from federation.outbox import Health, backoff, drain_peer, peer_health, publish
from federation.signing import public_key_text, verify
from node.db import session_scope, utcnow
from tests.federation.outbox_support import Recorder, add_peer, listing_body, peer_row, publish_many, queued
from tests.federation.receiver import Receiver, running_receiver


@pytest.fixture
def receiver() -> Any:
    with running_receiver() as live:
        yield live


def seqs(app: Flask) -> list[int]:
    with session_scope(app) as db:
        return list(db.scalars(select(Envelope.seq).order_by(Envelope.seq)))


def health(app: Flask, peer_id: str) -> outbox.PeerHealth:
    with session_scope(app) as db:
        return peer_health(db, app.config["MUTUALAID"], [peer_id])[peer_id]


def _expire_backoff(app: Flask, peer_id: str) -> None:
    with session_scope(app) as db:
        past = utcnow() - timedelta(seconds=1)
        db.execute(update(Peer).where(Peer.id == peer_id).values(next_attempt_at=past))


# --- publishing -------------------------------------------------------------------------


def test_publish_signs_numbers_and_queues_for_each_direct_peer(app: Flask) -> None:
    direct = [
        add_peer(app, "http://a.test"),
        add_peer(app, "http://f.test", Relation.FEDERATION),
        add_peer(app, "http://m.test", Relation.MEMBER),
    ]
    add_peer(app, "http://b.test", status=PeerStatus.BLOCKED)
    add_peer(app, "http://i.test", Relation.INTRODUCED)
    add_peer(app, None)  # known, but no address to push to

    with session_scope(app) as db:
        first = publish(db, app, "need.published", listing_body())
        second = publish(db, app, "need.published", listing_body(), audience=[direct[0]])

    identity = local_identity(app)
    assert (first.seq, second.seq) == (1, 2)
    document = second.document()
    verify(document, identity.public_key)
    assert document["sender"] == identity.node_id and document["audience"] == [direct[0]]
    with session_scope(app) as db:
        queued_for = sorted(db.scalars(select(Delivery.peer_id).where(Delivery.envelope_id == first.id)))
    assert queued_for == sorted(direct)


def test_seq_is_gap_free_when_a_transaction_rolls_back(app: Flask) -> None:
    publish_many(app, 1)
    with pytest.raises(RuntimeError), session_scope(app) as db:
        publish(db, app, "need.published", listing_body())
        raise RuntimeError("the change it announced failed")
    publish_many(app, 1)
    assert seqs(app) == [1, 2]


def test_concurrent_publishers_get_distinct_gap_free_seqs(app: Flask) -> None:
    errors: list[BaseException] = []

    def publisher() -> None:
        try:
            publish_many(app, 10)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=publisher) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert seqs(app) == list(range(1, 41))
    with session_scope(app) as db:
        assert db.get(Counter, "seq").value == 40  # type: ignore[union-attr]


def test_drainers_are_woken_after_commit_never_before_nor_on_rollback(app: Flask) -> None:
    peer = add_peer(app, "http://a.test")
    recorder = Recorder()
    wake.install(app, recorder)
    with session_scope(app) as db:
        publish(db, app, "need.published", listing_body())
        publish(db, app, "need.published", listing_body())
        db.flush()
        assert recorder.drains == []
    assert recorder.drains == [[peer]]

    with pytest.raises(RuntimeError), session_scope(app) as db:
        publish(db, app, "need.published", listing_body())
        raise RuntimeError("rolled back")
    with session_scope(app) as db:
        pass
    assert recorder.drains == [[peer]]


def test_a_broken_waker_never_fails_the_commit(app: Flask) -> None:
    class Broken:
        def drain(self, peer_ids: Any) -> None:
            raise ConnectionError("broker is down")

        def pull(self, senders: Any) -> None:
            raise ConnectionError("broker is down")

    peer = add_peer(app, "http://a.test")
    wake.install(app, Broken())
    publish_many(app, 2)
    assert queued(app, peer) == 2


# --- draining ---------------------------------------------------------------------------


def test_drain_sends_in_order_in_batches_and_deletes_what_was_accepted(
    app: Flask, receiver: Receiver
) -> None:
    peer = add_peer(app, receiver.url)
    ids = publish_many(app, 25)

    result = drain_peer(app, peer, batch_size=10)

    assert result.leased and not result.failed
    assert (result.batches, result.sent, result.settled) == (3, 25, 25)
    assert [len(batch) for batch in receiver.batches] == [10, 10, 5]
    assert [item["id"] for item in receiver.envelopes] == ids
    assert [item["seq"] for item in receiver.envelopes] == list(range(1, 26))
    assert receiver.headers[0][outbox.NODE_HEADER] == local_identity(app).node_id
    assert queued(app, peer) == 0
    state = health(app, peer)
    assert state.health == Health.HEALTHY and state.pending == 0 and state.last_success_at is not None


def test_the_stored_text_is_sent_unchanged(app: Flask, receiver: Receiver) -> None:
    peer = add_peer(app, receiver.url)
    publish_many(app, 1)
    drain_peer(app, peer)
    with session_scope(app) as db:
        raw = db.scalar(select(Envelope.raw))
    assert receiver.envelopes == [__import__("json").loads(raw)]
    verify(receiver.envelopes[0], local_identity(app).public_key)


def test_incident_lane_goes_first(app: Flask, receiver: Receiver) -> None:
    peer = add_peer(app, receiver.url)
    normal = publish_many(app, 3)
    urgent = publish_many(app, 2, priority=1)
    drain_peer(app, peer)
    assert [item["id"] for item in receiver.envelopes] == urgent + normal


def test_the_stored_priority_is_the_signed_one(app: Flask) -> None:
    """A type with a lane of its own keeps it in storage and in the queue, whatever the caller
    asked for: what is stored is what the envelope says."""
    peer = add_peer(app, "http://a.test")
    old, new = local_identity(app).public_key, public_key_text(keys.generate())
    body = {"new_key": new, "old_key": old, "old_valid_until": "2099-01-01T00:00:00Z"}
    with session_scope(app) as db:
        row = publish(db, app, "node.key_rotated", body, priority=0)
        urgent = publish(db, app, "need.published", listing_body(), priority=1)
    with session_scope(app) as db:
        for envelope in (row, urgent):
            stored = db.get(Envelope, envelope.id)
            assert stored is not None
            assert stored.priority == json.loads(stored.raw)["priority"] == 1
            queued_row = db.scalar(select(Delivery).where(Delivery.envelope_id == envelope.id))
            assert queued_row is not None and (queued_row.peer_id, queued_row.priority) == (peer, 1)


def test_batches_respect_the_byte_limit(app_factory: Any, receiver: Receiver) -> None:
    app = app_factory(outbox_batch_max_bytes=16_384)
    peer = add_peer(app, receiver.url)
    publish_many(app, 40)
    drain_peer(app, peer)
    assert len(receiver.batches) > 1
    assert len(receiver.envelopes) == 40


def test_a_failure_backs_off_and_keeps_the_rows(app: Flask, receiver: Receiver) -> None:
    peer = add_peer(app, receiver.url)
    publish_many(app, 3)
    receiver.fail_next = 1

    result = drain_peer(app, peer)

    assert result.failed and "503" in (result.error or "")
    assert queued(app, peer) == 3
    row = peer_row(app, peer)
    assert row.consecutive_failures == 1
    assert row.next_attempt_at is not None and row.next_attempt_at > utcnow()
    assert row.lease_owner is None
    assert health(app, peer).health == Health.DEGRADED
    with session_scope(app) as db:
        assert set(db.scalars(select(Delivery.attempts))) == {1}

    # Not due yet: a wake does nothing; once due (or forced), everything goes, in order.
    assert not drain_peer(app, peer).leased
    _expire_backoff(app, peer)
    assert drain_peer(app, peer).settled == 3
    assert [item["seq"] for item in receiver.envelopes] == [1, 2, 3]
    assert peer_row(app, peer).consecutive_failures == 0


def test_force_ignores_the_backoff(app: Flask, receiver: Receiver) -> None:
    peer = add_peer(app, receiver.url)
    publish_many(app, 1)
    receiver.fail_next = 1
    drain_peer(app, peer)
    assert drain_peer(app, peer, force=True).settled == 1


def test_an_unreachable_peer_is_marked_so_and_still_gets_everything(
    app_factory: Any, receiver: Receiver
) -> None:
    app = app_factory(outbox_unreachable_after=3)
    peer = add_peer(app, "http://127.0.0.1:9")  # nothing listens on the discard port
    publish_many(app, 5)
    for _ in range(3):
        _expire_backoff(app, peer)
        assert drain_peer(app, peer).failed
    state = health(app, peer)
    assert state.health == Health.UNREACHABLE and state.pending == 5 and state.consecutive_failures == 3
    assert state.oldest_pending_age is not None and state.oldest_pending_age >= 0

    with session_scope(app) as db:  # it comes back at another address
        db.execute(update(Peer).where(Peer.id == peer).values(url=receiver.url))
    _expire_backoff(app, peer)
    assert drain_peer(app, peer).settled == 5
    assert health(app, peer).health == Health.HEALTHY


def test_a_permanent_refusal_is_recorded_and_never_resent(app: Flask, receiver: Receiver) -> None:
    peer = add_peer(app, receiver.url)
    ids = publish_many(app, 3)
    refused = {ids[1]}
    refusal = {"status": "rejected", "reason": "invalid-body", "detail": "title: too long"}
    receiver.answer = lambda item: refusal if item["id"] in refused else None

    result = drain_peer(app, peer)

    assert (result.settled, result.rejected, result.reasons) == (2, 1, {"invalid-body": 1})
    assert queued(app, peer) == 0
    with session_scope(app) as db:
        rejection = db.scalar(select(Rejection))
        assert rejection is not None
        assert (str(rejection.envelope_id), rejection.reason, rejection.detail) == (
            ids[1],
            "invalid-body",
            "title: too long",
        )
    assert health(app, peer).rejected == 1


def test_a_deferred_envelope_stays_queued(app: Flask, receiver: Receiver) -> None:
    peer = add_peer(app, receiver.url)
    publish_many(app, 2)
    receiver.answer = lambda item: {"status": "rejected", "reason": "rate-limited", "detail": "slow down"}
    result = drain_peer(app, peer)
    assert result.failed and queued(app, peer) == 2
    receiver.answer = None
    _expire_backoff(app, peer)
    assert drain_peer(app, peer).settled == 2


def test_unanswered_envelopes_are_resent_in_order(app: Flask, receiver: Receiver) -> None:
    peer = add_peer(app, receiver.url)
    ids = publish_many(app, 6)
    receiver.answer_first = 4
    drain_peer(app, peer, batch_size=6)
    assert receiver.accepted_ids() == ids
    assert queued(app, peer) == 0


def test_a_peer_that_takes_smaller_requests_gets_smaller_batches(app: Flask, receiver: Receiver) -> None:
    peer = add_peer(app, receiver.url)
    ids = publish_many(app, 9)
    receiver.max_envelopes = 2
    result = drain_peer(app, peer, batch_size=9)
    assert not result.failed
    assert receiver.accepted_ids() == ids and max(len(batch) for batch in receiver.batches) <= 2


def test_a_single_envelope_too_large_for_the_peer_is_refused(app: Flask, receiver: Receiver) -> None:
    peer = add_peer(app, receiver.url)
    publish_many(app, 1)
    receiver.max_envelopes = 0
    result = drain_peer(app, peer)
    assert result.reasons == {"too-large": 1} and queued(app, peer) == 0


def test_a_blocked_peer_gets_nothing(app: Flask, receiver: Receiver) -> None:
    peer = add_peer(app, receiver.url)
    publish_many(app, 2)
    with session_scope(app) as db:
        db.execute(update(Peer).where(Peer.id == peer).values(status=PeerStatus.BLOCKED))
    assert not drain_peer(app, peer).leased
    assert receiver.envelopes == []
    assert health(app, peer).health == Health.BLOCKED


# --- one drainer per peer ---------------------------------------------------------------


def test_a_live_lease_keeps_other_drainers_out_and_an_expired_one_is_taken_over(
    app: Flask, receiver: Receiver
) -> None:
    peer = add_peer(app, receiver.url)
    publish_many(app, 2)
    assert outbox.take_lease(app, peer, "a worker that died")
    assert not drain_peer(app, peer).leased
    assert receiver.envelopes == []

    with session_scope(app) as db:
        db.execute(update(Peer).where(Peer.id == peer).values(lease_until=utcnow() - timedelta(seconds=1)))
    assert drain_peer(app, peer).settled == 2
    assert peer_row(app, peer).lease_owner is None


def test_many_drainers_at_once_deliver_each_envelope_once(app: Flask, receiver: Receiver) -> None:
    peer = add_peer(app, receiver.url)
    ids = publish_many(app, 60)
    results: list[Any] = []

    def drainer() -> None:
        results.append(drain_peer(app, peer, batch_size=7))

    threads = [threading.Thread(target=drainer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert [item["id"] for item in receiver.envelopes] == ids  # each once, in order
    assert sum(result.settled for result in results) == 60
    assert queued(app, peer) == 0


def test_rows_queued_while_the_lease_was_held_are_not_left_behind(app: Flask, receiver: Receiver) -> None:
    peer = add_peer(app, receiver.url)
    publish_many(app, 1)
    original = receiver.handle

    def handle_and_publish(request: Any) -> Any:
        # A publish (and its wake) lands while the drainer holds the lease: the wake finds
        # the lease taken; the drainer must still see the row after letting go.
        if len(receiver.batches) == 0:
            publish_many(app, 1)
            assert not drain_peer(app, peer).leased
        return original(request)

    receiver.handle = handle_and_publish  # type: ignore[method-assign]
    drain_peer(app, peer)
    assert len(receiver.envelopes) == 2 and queued(app, peer) == 0


def test_a_drain_stops_at_its_time_budget_and_says_there_is_more(app: Flask, receiver: Receiver) -> None:
    peer = add_peer(app, receiver.url)
    publish_many(app, 5)
    result = drain_peer(app, peer, budget=0)
    assert result.leased and result.sent == 0 and result.more
    assert drain_peer(app, peer).settled == 5


# --- backoff and health -----------------------------------------------------------------


def test_backoff_grows_with_jitter_and_is_capped_per_attempt() -> None:
    for failures in range(1, 200):
        wait = backoff(failures, 1.0, 3600.0)
        assert 1.0 <= wait <= min(3600.0, 2.0 ** (failures - 1))
    late = [backoff(40, 1.0, 3600.0) for _ in range(200)]
    assert max(late) <= 3600 and len(set(late)) > 100  # spread out, so peers do not stampede


def test_health_of_a_peer_silent_for_a_day_is_unreachable(app: Flask) -> None:
    peer = add_peer(app, "http://a.test")
    with session_scope(app) as db:
        db.execute(
            update(Peer)
            .where(Peer.id == peer)
            .values(consecutive_failures=1, last_success_at=utcnow() - timedelta(days=2))
        )
        report = peer_health(db, app.config["MUTUALAID"], [peer])
    assert report[peer].health == Health.UNREACHABLE
    data = report[peer].as_dict()
    assert data["health"] == "unreachable" and isinstance(data["last_success_at"], str)


def test_lag_counts_and_ages_the_queue(app: Flask) -> None:
    peer = add_peer(app, "http://a.test")
    other = add_peer(app, "http://b.test")
    publish_many(app, 3)
    with session_scope(app) as db:
        db.execute(
            update(Delivery).where(Delivery.peer_id == peer).values(created_at=utcnow() - timedelta(hours=1))
        )
        report = peer_health(db, app.config["MUTUALAID"])
        assert db.scalar(select(func.count()).select_from(Delivery)) == 6
    assert report[peer].pending == 3 and report[peer].oldest_pending_age is not None
    assert 3500 < report[peer].oldest_pending_age < 3700
    assert report[other].pending == 3 and report[other].oldest_pending_age < 60  # type: ignore[operator]
