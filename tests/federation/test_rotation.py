"""Key rotation in the middle of a stream: nothing in flight is refused, the old key stops
verifying at the stated time, and the node id stays."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from federation import keys
from federation.envelope import make_envelope, now
from federation.identity import local_identity
from federation.models import NodeKey, PeerKey, Rejection, RemoteListing
from federation.rotation import rotate_key
from node.db import session_scope
from tests.federation.network import Network, member, post_batch
from tests.node.factories import need


def test_rotation_mid_stream_rejects_nothing_in_flight(network: Network) -> None:
    a, b = network.node("a"), network.node("b")
    network.peer("a", "b")
    ana = member(a, "ana")
    for n in range(3):
        ana.post("/needs", json=need(title=f"Before {n}"))  # signed with the old key, not yet sent
    old = local_identity(a)
    done = rotate_key(a, timedelta(days=7))
    new = local_identity(a)  # the key file changed: this process signs with the new key now
    assert (new.node_id, new.public_key) == (old.node_id, done.new_key) and done.old_key == old.public_key
    for n in range(2):
        ana.post("/needs", json=need(title=f"After {n}"))
    network.pump()
    with session_scope(a) as db:
        assert db.scalar(select(Rejection.reason)) is None
        retired = db.scalar(select(NodeKey).where(NodeKey.public_key == old.public_key))
        assert retired is not None and retired.valid_until == done.old_valid_until
    with session_scope(b) as db:
        assert len(list(db.scalars(select(RemoteListing.title)))) == 5
        keys_at_b = {
            k.public_key: k.valid_until for k in db.scalars(select(PeerKey)) if k.peer_id == old.node_id
        }
    assert keys_at_b == {old.public_key: done.old_valid_until, new.public_key: None}
    batch = json.loads(network.sent[old.node_id][-1])["envelopes"]
    # The priority lane: the new key is announced before anything signed with it.
    assert batch[0]["type"] == "node.key_rotated" and len(batch) == 6
    document = a.test_client().get("/.well-known/mutualaid").get_json()
    listed = [(k["key"], k["current"]) for k in document["keys"]]
    assert listed == [(old.public_key, False), (new.public_key, True)]
    assert document["id"] == old.node_id == keys.node_id_for(old.public_key)


def test_the_old_key_stops_verifying_at_the_stated_time(network: Network) -> None:
    a, b = network.node("a"), network.node("b")
    network.peer("a", "b")
    old = local_identity(a)
    rotate_key(a, timedelta(hours=1))
    network.pump()
    late = make_envelope(old, "need.published", _listing(), 40)
    with session_scope(b) as db:
        db.execute(
            update(PeerKey)
            .where(PeerKey.public_key == old.public_key)
            .values(valid_until=now() - timedelta(seconds=1))
        )
    [result] = post_batch(b, [late]).get_json()["results"]
    assert (result["status"], result["reason"]) == ("rejected", "bad-signature")
    fresh = make_envelope(local_identity(a), "need.published", _listing(), 41)
    assert post_batch(b, [fresh]).get_json()["results"][0]["status"] == "accepted"


def test_a_rotation_must_be_signed_by_the_key_it_retires(network: Network) -> None:
    a, b = network.node("a"), network.node("b")
    network.peer("a", "b")
    me = local_identity(a)
    other = keys.generate()
    from federation.signing import public_key_text

    body = {
        "new_key": public_key_text(other),
        "old_key": public_key_text(keys.generate()),
        "old_valid_until": "2099-01-01T00:00:00Z",
    }
    [result] = post_batch(b, [make_envelope(me, "node.key_rotated", body, 5)]).get_json()["results"]
    assert (result["status"], result["reason"]) == ("rejected", "invalid-body")
    with session_scope(b) as db:
        assert len(list(db.scalars(select(PeerKey).where(PeerKey.peer_id == me.node_id)))) == 1


def test_too_short_an_overlap_is_refused(network: Network) -> None:
    a = network.node("a")
    with pytest.raises(ValueError, match="at least"):
        rotate_key(a, timedelta(seconds=10))
    assert json.loads(a.test_client().get("/.well-known/mutualaid").get_data())["keys"][0]["current"]


def _listing() -> dict[str, object]:
    import uuid

    return {
        "listing_id": str(uuid.uuid4()),
        "category": "food",
        "title": "Rice",
        "quantity": 1,
        "unit": "kg",
        "urgency": "soon",
        "h3_cell": "881f1d4815fffff",
        "handle": "ana",
    }
