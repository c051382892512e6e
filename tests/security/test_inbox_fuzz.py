"""The inbox fed generated garbage: over 10,000 envelopes in batches, each refused with a reason
slug, never a 5xx, and nothing written.

The envelopes are cheap mutations of one good envelope of a known peer (fields dropped, added,
retyped, huge or deeply nested; lone surrogates; valid signatures over invalid bodies; the same
envelope twice in a batch), so hypothesis spends its time on the inbox, not on generating.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from federation import signing
from federation.envelope import FIELDS, make_envelope
from federation.identity import local_identity
from tests.federation.network import Network, row_counts

REASONS = {
    "malformed", "too-large", "unknown-sender", "blocked-sender", "bad-signature", "expired",
    "not-yet-valid", "duplicate", "unknown-type", "invalid-body", "not-owner",
}
CELL = "881f1d4815fffff"
GOAL = 10_000
BATCHES = 160
KINDS = ["garbage", "drop", "extra", "retype", "huge", "deep", "surrogate",
         "signed-bad-body", "unsigned-body"]

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False), st.text(max_size=12),
    st.sampled_from(["\ud800", "\udfff caf\u00e9", "\x00", "ma1" + "a" * 32, "2026-01-01T00:00:00Z"]),
)
json_values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)
), max_leaves=4)


def listing(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "listing_id": str(uuid.uuid4()), "category": "food", "title": "Rice", "quantity": 2,
        "unit": "kg", "urgency": "urgent", "h3_cell": CELL, "handle": "ana",
    }
    body.update(changes)
    return body


def nested(depth: int) -> Any:
    value: Any = "deep"
    for _ in range(depth):
        value = [value]
    return value


@st.composite
def mutation(draw: st.DrawFn) -> tuple[str, Any]:
    """One way to spoil an envelope, as (kind, argument)."""
    kind = draw(st.sampled_from(KINDS))
    if kind == "garbage":
        return kind, draw(json_values)
    if kind in ("drop", "retype"):
        return kind, (draw(st.sampled_from(FIELDS)), draw(json_values))
    if kind == "extra":
        name = draw(st.text(min_size=1, max_size=8).filter(lambda k: k not in FIELDS))
        return kind, (name, draw(json_values))
    if kind == "huge":
        return kind, (draw(st.sampled_from(FIELDS)), draw(st.integers(min_value=1, max_value=70_000)))
    if kind == "deep":
        return kind, draw(st.integers(min_value=10, max_value=200))
    if kind == "signed-bad-body":
        field = draw(st.sampled_from(sorted(listing())) | st.just("email"))
        return kind, (field, draw(json_values))
    return kind, draw(st.sampled_from(["body", "type", "seq", "audience"]))


class Spoiler:
    """Builds spoiled envelopes of one real peer from mutations."""

    def __init__(self, network: Network) -> None:
        self.me = local_identity(network.nodes["a"])
        self.good = make_envelope(self.me, "need.published", listing(), 1)
        self.seq = 1_000

    def build(self, kind: str, arg: Any) -> Any:
        doc = copy.deepcopy(self.good)
        if kind == "garbage":
            return arg
        if kind == "drop":
            doc.pop(arg[0], None)
        elif kind in ("extra", "retype"):
            doc[arg[0]] = arg[1]
        elif kind == "huge":
            doc[arg[0]] = "\u00e9" * arg[1]
        elif kind == "deep":
            doc["body"] = {"title": nested(arg)}
        elif kind == "surrogate":
            doc["body"] = dict(doc["body"], title="\ud800broken")
        elif kind == "signed-bad-body":
            # A valid signature of a real peer over a body its type refuses.
            self.seq += 1
            field, value = arg
            body = listing()
            body[field] = value if field == "email" or value is not None else {"not": "valid"}
            if field not in ("email",) and isinstance(value, type(body.get(field))) and value == body[field]:
                body["unexpected"] = True
            doc.update(id=str(uuid.uuid4()), seq=self.seq, body=body)
            try:
                return signing.sign(doc, self.me.key)
            except signing.SignatureError:  # a lone surrogate cannot be signed; send it unsigned
                return doc
        elif kind == "unsigned-body":
            doc[arg] = {"changed": True} if arg == "body" else "need.withdrawn"
        return doc


def federation_rows(network: Network) -> dict[str, int]:
    return row_counts(network.nodes["b"])


def test_ten_thousand_spoiled_envelopes_are_each_refused_with_a_reason(
    network: Network, capsys: pytest.CaptureFixture[str]
) -> None:
    network.node("a")
    b = network.node("b", inbox_rate_limit="1000000 per minute")
    network.peer("a", "b")
    spoiler = Spoiler(network)
    client = b.test_client()
    before = federation_rows(network)
    seen = {"envelopes": 0, "batches": 0, "refused": 0}
    kinds: Counter[str] = Counter()

    @settings(max_examples=BATCHES, deadline=None, derandomize=True, database=None, phases=[Phase.generate],
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(st.lists(mutation(), min_size=21, max_size=24), st.lists(st.integers(0, 71), max_size=4))
    def batch(mutations: list[tuple[str, Any]], repeats: list[int]) -> None:
        # Each mutation is built three times (fresh seqs for the signed ones): cheap volume.
        envelopes = [spoiler.build(kind, arg) for kind, arg in mutations for _ in range(3)]
        kinds.update(kind for kind, _arg in mutations for _ in range(3))
        envelopes += [envelopes[i % len(envelopes)] for i in repeats]  # the same one twice
        payload = json.dumps({"envelopes": envelopes})
        response = client.post("/federation/inbox", data=payload, content_type="application/json")
        seen["envelopes"] += len(envelopes)
        seen["batches"] += 1
        assert response.status_code < 500, response.get_data(as_text=True)[:500]
        if response.status_code != 200:
            assert response.mimetype == "application/problem+json"
            seen["refused"] += len(envelopes)
            return
        results = response.get_json()["results"]
        assert len(results) == len(envelopes)
        for result in results:
            assert result["status"] in ("rejected", "duplicate"), result
            assert result.get("reason") in REASONS, result
            assert result.get("detail"), result
        seen["refused"] += len(results)

    batch()
    assert federation_rows(network) == before
    # The volume is counted, not assumed: every envelope sent was answered, and every way of
    # spoiling one was tried hundreds of times.
    assert seen["envelopes"] >= GOAL and seen["batches"] == BATCHES, seen
    assert seen["refused"] == seen["envelopes"], seen
    assert set(kinds) == set(KINDS) and min(kinds.values()) >= 500, kinds
    with capsys.disabled():  # the count, in the run's output
        print(f"\ninbox fuzz: {seen['envelopes']} envelopes in {seen['batches']} batches, each refused "
              f"with a reason; {min(kinds.values())} or more of each of {len(KINDS)} kinds")


def test_batches_that_are_not_json_or_not_utf8_are_problems(network: Network) -> None:
    network.node("a")
    b = network.node("b", inbox_rate_limit="1000000 per minute")
    network.peer("a", "b")
    client = b.test_client()
    before = federation_rows(network)
    good = json.dumps({"envelopes": [make_envelope(local_identity(network.nodes["a"]), "need.published",
                                                   listing(), 1)]}).encode()

    @settings(max_examples=300, deadline=None, derandomize=True, database=None)
    @given(st.one_of(
        st.binary(max_size=200),
        st.binary(max_size=50).map(lambda tail: good[: len(good) // 2] + tail),
        st.text(max_size=50).map(lambda t: t.encode("latin-1", "replace") + b"\xff\xfe"),
        st.sampled_from([b"[" * 100_000, b'{"envelopes":' + b"[" * 50_000, good.decode().encode("utf-16")]),
    ))
    def raw(body: bytes) -> None:
        response = client.post("/federation/inbox", data=body, content_type="application/json")
        assert response.status_code in (400, 413), response.get_data(as_text=True)[:300]
        assert response.mimetype == "application/problem+json"

    raw()
    assert federation_rows(network) == before
