"""The inbox under attack and in the ordinary case: every refusal has its reason and leaves
nothing behind; good envelopes in the same batch still apply."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from federation import keys, registry, signing
from federation.bodies import Body
from federation.envelope import make_envelope, now
from federation.identity import LocalIdentity, local_identity
from federation.models import Envelope, PeerStatus, RemoteListing, SenderCursor
from federation.peers import set_status
from federation.registry import ApplyContext, register
from node.db import session_scope
from tests.federation.network import Network, post_batch, row_counts
from tests.node.factories import assert_problem

CELL = "881f1d4815fffff"


def listing(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "listing_id": str(uuid.uuid4()),
        "category": "food",
        "title": "Rice",
        "quantity": 2,
        "unit": "kg",
        "urgency": "urgent",
        "h3_cell": CELL,
        "handle": "ana",
    }
    body.update(changes)
    return body


def stranger() -> LocalIdentity:
    key = keys.generate()
    public = signing.public_key_text(key)
    return LocalIdentity(keys.node_id_for(public), key, public)


def raw_signed(identity: LocalIdentity, type: str, body: dict[str, Any], seq: int) -> dict[str, Any]:
    """An envelope signed without checking its body (what a buggy or hostile node sends)."""
    good = make_envelope(identity, "need.published", listing(), seq)
    good.update(type=type, body=body)
    return signing.sign(good, identity.key)


@pytest.fixture
def pair(network: Network) -> Network:
    network.node("a")
    network.node("b")
    network.peer("a", "b")
    return network


def results(response: Any) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.get_data(as_text=True)
    found: list[dict[str, Any]] = response.get_json()["results"]
    return found


def refused(app: Flask, envelope: Any, reason: str, status: str = "rejected") -> dict[str, Any]:
    """Post one envelope; assert it is refused for `reason` and that no row changed."""
    before = row_counts(app)
    [result] = results(post_batch(app, [envelope]))
    assert (result["status"], result.get("reason")) == (status, reason), result
    assert result.get("detail")
    assert row_counts(app) == before
    return result


def test_a_good_envelope_is_applied_once_and_recorded(pair: Network) -> None:
    a, b = pair.nodes["a"], pair.nodes["b"]
    body = listing()
    doc = make_envelope(local_identity(a), "need.published", body, 1)
    [result] = results(post_batch(b, [doc], hop=pair.id("a")))
    assert result == {"id": doc["id"], "status": "accepted"}
    with session_scope(b) as db:
        row = db.get(RemoteListing, (pair.id("a"), uuid.UUID(body["listing_id"])))
        assert row is not None and (row.title, row.quantity, row.status) == ("Rice", 2.0, "open")
        stored = db.get(Envelope, uuid.UUID(doc["id"]))
        assert stored is not None and stored.outcome == "applied" and stored.via == pair.id("a")
        assert json.loads(stored.raw) == doc
        cursor = db.get(SenderCursor, pair.id("a"))
        assert cursor is not None and (cursor.contiguous_seq, cursor.highest_seq) == (1, 1)
    refused(b, doc, "duplicate", status="duplicate")


def test_attacks_are_refused_each_with_its_reason_and_leave_nothing(pair: Network) -> None:
    a, b = pair.nodes["a"], pair.nodes["b"]
    me = local_identity(a)
    valid = make_envelope(me, "need.published", listing(), 1)

    forged = make_envelope(stranger(), "need.published", listing(), 1)
    forged = signing.sign(dict(forged, sender=me.node_id), stranger().key)
    refused(b, forged, "bad-signature")

    tampered = json.loads(json.dumps(valid))
    tampered["body"]["quantity"] = 500
    refused(b, tampered, "bad-signature")

    refused(b, dict(valid, sig="AAAA"), "bad-signature")

    past = now() - timedelta(days=3)
    expired = make_envelope(me, "need.published", listing(), 2, created=past, ttl=timedelta(days=1))
    refused(b, expired, "expired")

    future = make_envelope(me, "need.published", listing(), 3, created=now() + timedelta(hours=1))
    refused(b, future, "not-yet-valid")

    refused(b, make_envelope(stranger(), "need.published", listing(), 1), "unknown-sender")

    refused(b, dict(valid, seq="1"), "malformed")
    refused(b, {"hello": "world"}, "malformed")
    refused(b, [1, 2], "malformed")

    refused(b, raw_signed(me, "need.published", listing(quantity="lots"), 4), "invalid-body")
    refused(b, raw_signed(me, "need.published", listing(email="ana@example.org"), 5), "invalid-body")
    refused(b, raw_signed(me, "gossip.spread", {"who": "ana"}, 6), "unknown-type")
    refused(b, raw_signed(me, "need.published", listing(description="x" * 70_000), 7), "too-large")

    # Nothing above was applied; the real one still is, and a replay of it is a duplicate.
    [ok] = results(post_batch(b, [valid]))
    assert ok["status"] == "accepted"
    refused(b, valid, "duplicate", status="duplicate")
    # The same seq under a new id is a replay too.
    again = make_envelope(me, "need.published", listing(), 1)
    refused(b, again, "duplicate", status="duplicate")


def test_a_blocked_sender_is_refused(pair: Network) -> None:
    a, b = pair.nodes["a"], pair.nodes["b"]
    with session_scope(b) as db:
        set_status(db, pair.id("a"), PeerStatus.BLOCKED)
    refused(b, make_envelope(local_identity(a), "need.published", listing(), 1), "blocked-sender")


def test_a_node_never_takes_its_own_envelopes_back_unless_it_has_them(pair: Network) -> None:
    b = pair.nodes["b"]
    refused(b, make_envelope(local_identity(b), "need.published", listing(), 99), "unknown-sender")


def test_good_envelopes_apply_while_bad_ones_in_the_same_batch_are_refused(pair: Network) -> None:
    a, b = pair.nodes["a"], pair.nodes["b"]
    me = local_identity(a)
    good1 = make_envelope(me, "need.published", listing(title="One"), 1)
    bad = make_envelope(me, "need.published", listing(title="Two"), 2)
    bad["body"]["title"] = "Changed"
    good2 = make_envelope(me, "surplus.published", listing(title="Three"), 3)
    answers = results(post_batch(b, [good1, bad, "junk", good2]))
    assert [r["status"] for r in answers] == ["accepted", "rejected", "rejected", "accepted"]
    assert [r.get("reason") for r in answers] == [None, "bad-signature", "malformed", None]
    with session_scope(b) as db:
        titles = sorted(db.scalars(select(RemoteListing.title)))
        cursor = db.get(SenderCursor, pair.id("a"))
        assert cursor is not None and (cursor.contiguous_seq, cursor.highest_seq) == (1, 3)
    assert titles == ["One", "Three"]


def rejection_counts(app: Flask) -> dict[str, float]:
    """The node's `mutualaid_inbox_rejections_total` by reason, read from its /metrics page."""
    response = app.test_client().get("/metrics")
    assert response.status_code == 200
    return {
        sample.labels["reason"]: sample.value
        for family in text_string_to_metric_families(response.get_data(as_text=True))
        for sample in family.samples
        if sample.name == "mutualaid_inbox_rejections_total"
    }


def test_the_inbox_counts_each_refusal_by_reason_in_the_metrics(pair: Network) -> None:
    a, b = pair.nodes["a"], pair.nodes["b"]
    me = local_identity(a)
    good = make_envelope(me, "need.published", listing(), 1)
    tampered = make_envelope(me, "need.published", listing(), 2)
    tampered["body"]["title"] = "Changed"
    forged = signing.sign(make_envelope(me, "need.published", listing(), 3), stranger().key)
    expired = make_envelope(me, "need.published", listing(), 4, created=now() - timedelta(days=3),
                            ttl=timedelta(days=1))
    before = rejection_counts(b)
    answers = results(post_batch(b, [good, tampered, forged, "junk", expired, good], hop=pair.id("a")))
    assert [r["status"] for r in answers] == ["accepted", "rejected", "rejected", "rejected", "rejected",
                                              "duplicate"]
    after = rejection_counts(b)

    def delta(reason: str) -> float:
        return after.get(reason, 0.0) - before.get(reason, 0.0)

    assert (delta("bad-signature"), delta("malformed"), delta("expired")) == (2, 1, 1)
    # A duplicate is settled, not refused: a retry or a second relay path is no attack.
    assert delta("duplicate") == 0


def test_a_batch_that_is_not_a_batch_is_a_problem(pair: Network) -> None:
    b = pair.nodes["b"]
    client = b.test_client()
    before = row_counts(b)
    response = client.post("/federation/inbox", data="{not json", content_type="application/json")
    assert_problem(response, 400, "malformed")
    response = client.post("/federation/inbox", json={"envelopes": {}, "more": 1})
    assert_problem(response, 400, "malformed")
    response = client.post("/federation/inbox", data="x", content_type="text/plain")
    assert_problem(response, 415, "unsupported-media-type")
    assert row_counts(b) == before


def test_oversize_batches_are_refused_whole(network: Network) -> None:
    network.node("a")
    b = network.node("b", inbox_max_envelopes=3, inbox_max_bytes=70_000)
    network.peer("a", "b")
    me = local_identity(network.nodes["a"])
    docs = [make_envelope(me, "need.published", listing(), seq) for seq in range(1, 5)]
    before = row_counts(b)
    assert_problem(post_batch(b, docs), 413, "too-large")
    big = [make_envelope(me, "need.published", listing(description="y" * 3900), 1)] * 3
    padded = {"envelopes": big, "pad": "z" * 70_000}
    response = b.test_client().post(
        "/federation/inbox", data=json.dumps(padded), content_type="application/json"
    )
    assert_problem(response, 413, "too-large")
    assert row_counts(b) == before
    assert results(post_batch(b, docs[:3]))[2]["status"] == "accepted"


def test_each_sending_node_is_rate_limited(network: Network) -> None:
    network.node("a")
    b = network.node("b", inbox_rate_limit="2 per minute")
    network.peer("a", "b")
    hop = network.id("a")
    assert post_batch(b, [], hop=hop).status_code == 200
    assert post_batch(b, [], hop=hop).status_code == 200
    assert_problem(post_batch(b, [], hop=hop), 429, "rate-limited")
    assert post_batch(b, [], hop=network.id("b")).status_code == 200  # another hop has its own


def test_an_envelope_for_someone_else_is_recorded_but_not_applied(pair: Network) -> None:
    a, b = pair.nodes["a"], pair.nodes["b"]
    doc = make_envelope(local_identity(a), "need.published", listing(), 1, audience=[stranger().node_id])
    [result] = results(post_batch(b, [doc]))
    assert result["status"] == "accepted"
    with session_scope(b) as db:
        assert db.scalar(select(RemoteListing.title)) is None
        stored = db.get(Envelope, uuid.UUID(doc["id"]))
        assert stored is not None and stored.outcome == "ignored: not addressed to this node"


def test_an_older_update_never_overwrites_a_newer_one(pair: Network) -> None:
    a, b = pair.nodes["a"], pair.nodes["b"]
    me = local_identity(a)
    body = listing(title="First")
    first = make_envelope(me, "need.published", body, 1)
    newer = make_envelope(me, "need.updated", dict(body, title="Third"), 3)
    older = make_envelope(me, "need.updated", dict(body, title="Second"), 2)
    closed = make_envelope(me, "need.withdrawn", {"listing_id": body["listing_id"]}, 4)
    results(post_batch(b, [first, newer, older]))
    with session_scope(b) as db:
        assert db.scalar(select(RemoteListing.title)) == "Third"
        stored = db.get(Envelope, uuid.UUID(older["id"]))
        assert stored is not None and stored.outcome.startswith("ignored: a later envelope")
    results(post_batch(b, [closed]))
    with session_scope(b) as db:
        assert db.scalar(select(RemoteListing.status)) == "withdrawn"


def test_a_close_that_overtakes_its_publication_wins(pair: Network) -> None:
    a, b = pair.nodes["a"], pair.nodes["b"]
    me = local_identity(a)
    body = listing()
    published = make_envelope(me, "need.published", body, 1)
    closed = make_envelope(me, "need.withdrawn", {"listing_id": body["listing_id"], "status": "fulfilled"}, 2)
    results(post_batch(b, [closed, published]))
    with session_scope(b) as db:
        assert list(db.execute(select(RemoteListing.status, RemoteListing.version_seq))) == [("fulfilled", 2)]


def test_one_envelope_refused_while_applying_does_not_undo_the_rest(pair: Network) -> None:
    a, b = pair.nodes["a"], pair.nodes["b"]
    me = local_identity(a)
    first = make_envelope(me, "need.published", listing(title="Before"), 1)
    pledge = make_envelope(
        me,
        "pledge.offered",
        {
            "pledge_id": str(uuid.uuid4()),
            "owner": pair.id("b"),
            "listing_id": str(uuid.uuid4()),
            "listing_kind": "need",
            "quantity": 1,
            "unit": "kg",
            "lease_until": "2099-01-01T00:00:00Z",
        },
        2,
        audience=[pair.id("b")],
    )
    last = make_envelope(me, "need.published", listing(title="After"), 3)
    answers = results(post_batch(b, [first, pledge, last, first]))
    assert [(r["status"], r.get("reason")) for r in answers] == [
        ("accepted", None),
        ("rejected", "not-owner"),
        ("accepted", None),
        ("duplicate", "duplicate"),
    ]
    with session_scope(b) as db:
        assert sorted(db.scalars(select(RemoteListing.title))) == ["After", "Before"]
        assert db.get(Envelope, uuid.UUID(pledge["id"])) is None
        cursor = db.get(SenderCursor, pair.id("a"))
        assert cursor is not None and (cursor.contiguous_seq, cursor.highest_seq) == (1, 3)


class Probe(Body):
    """A body for a type that only looks at what the batch wrote before it."""

    note: str


SEEN_BY_PROBE: list[list[str]] = []


def _probe(ctx: ApplyContext, body: Probe) -> str:
    SEEN_BY_PROBE.append(sorted(ctx.db.scalars(select(RemoteListing.title))))
    return "applied"


def test_listings_new_in_a_batch_are_written_before_another_type_reads(
    pair: Network, monkeypatch: pytest.MonkeyPatch
) -> None:
    """New listings of a batch are inserted together; a handler of another type that runs
    between them sees every one written so far, and later updates of them still apply."""
    monkeypatch.setattr(registry, "_TYPES", dict(registry._TYPES))  # the probe type is this test's
    register("probe.look", Probe, _probe)
    a, b = pair.nodes["a"], pair.nodes["b"]
    me = local_identity(a)
    rice, tent = listing(title="Rice"), listing(title="Tent")
    batch = [
        make_envelope(me, "need.published", rice, 1),
        make_envelope(me, "surplus.published", tent, 2),
        make_envelope(me, "probe.look", {"note": "look"}, 3),
        make_envelope(me, "need.updated", dict(rice, title="Rice for 6"), 4),
        make_envelope(me, "need.withdrawn", {"listing_id": listing()["listing_id"]}, 5),
        make_envelope(me, "probe.look", {"note": "again"}, 6),
    ]
    SEEN_BY_PROBE.clear()
    assert [r["status"] for r in results(post_batch(b, batch, hop=me.node_id))] == ["accepted"] * 6
    assert SEEN_BY_PROBE == [["Rice", "Tent"], ["", "Rice for 6", "Tent"]]
    with session_scope(b) as db:
        columns = (RemoteListing.title, RemoteListing.status, RemoteListing.version_seq)
        rows = sorted(tuple(row) for row in db.execute(select(*columns)))
    assert rows == [("", "withdrawn", 5), ("Rice for 6", "open", 4), ("Tent", "open", 2)]


def test_an_id_that_is_not_valid_text_is_refused_and_echoed_not_a_500(pair: Network) -> None:
    b = pair.nodes["b"]
    before = row_counts(b)
    # Valid JSON whose id decodes to a lone surrogate, which no UTF-8 text can hold.
    raw = '{"envelopes": [{"id": "\\ud800x"}]}'
    response = b.test_client().post("/federation/inbox", data=raw, content_type="application/json")
    assert response.status_code == 200
    [result] = results(response)
    assert result["id"] == "\ud800x" and result["status"] == "rejected"
    assert row_counts(b) == before
