"""The cross-node matching engine: ranking, partial allocation, leases, and no over-allocation."""

from __future__ import annotations

import math
import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import h3
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from federation.relief.matching import (
    DEFAULT_LEASE,
    GlobalId,
    Hold,
    MatchResult,
    Posting,
    match,
    normal_unit,
)

NOW = datetime(2024, 7, 14, 6, 0, tzinfo=UTC)
HOME = h3.latlng_to_cell(50.9375, 6.9603, 8)  # Cologne
NEAR = h3.grid_ring(HOME, 1)[0]
FAR = h3.latlng_to_cell(50.7374, 7.0982, 8)  # Bonn, about 24 km away
CELLS = [*sorted(h3.grid_disk(HOME, 3)), FAR, h3.cell_to_parent(FAR, 7)]


def need(resource: str, quantity: float = 5, **kw: object) -> Posting:
    values: dict[str, object] = {
        "node": "a",
        "resource": resource,
        "category": "food",
        "quantity": quantity,
        "unit": "kg",
        "cell": HOME,
        "urgency": "urgent",
    }
    values.update(kw)
    return Posting(**values)  # type: ignore[arg-type]


def surplus(resource: str, quantity: float = 5, **kw: object) -> Posting:
    values: dict[str, object] = {
        "node": "b",
        "resource": resource,
        "category": "food",
        "quantity": quantity,
        "unit": "kg",
        "cell": HOME,
    }
    values.update(kw)
    return Posting(**values)  # type: ignore[arg-type]


def pledged(result: MatchResult) -> list[tuple[str, str, float]]:
    return [(p.surplus.resource, p.need.resource, p.quantity) for p in result.proposals]


def test_nearest_first_with_partial_allocation() -> None:
    result = match([need("n1", 5)], [surplus("far", 4, cell=FAR), surplus("near", 3, cell=NEAR)], now=NOW)
    assert pledged(result) == [("near", "n1", 3), ("far", "n1", 2)]
    assert result.left == {GlobalId("b", "far"): 2}
    assert result.unmet == {}
    assert result.proposals[0].distance_km < 1.5 < 20 < result.proposals[1].distance_km < 30


def test_more_urgent_need_is_served_first() -> None:
    needs = [need("calm", 4, urgency="routine"), need("flood", 4, urgency="emergency")]
    result = match(needs, [surplus("s", 5)], now=NOW)
    assert pledged(result) == [("s", "flood", 4), ("s", "calm", 1)]
    assert result.unmet == {GlobalId("a", "calm"): 3}


def test_sooner_expiring_need_goes_first_among_equals() -> None:
    needs = [
        need("later", 4, expires_at=NOW + timedelta(days=2)),
        need("sooner", 4, expires_at=NOW + timedelta(hours=3)),
    ]
    assert pledged(match(needs, [surplus("s", 4)], now=NOW)) == [("s", "sooner", 4)]


def test_same_category_before_a_related_one() -> None:
    needs = [
        need("hungry", 6, unit="portion", urgency="routine"),
        need("starving", 6, category="meals", unit="portion", urgency="emergency"),
    ]
    surpluses = [
        surplus("stew", 6, category="meals", unit="portion"),
        surplus("bread", 6, unit="portion", cell=FAR),
    ]
    result = match(needs, surpluses, now=NOW)
    assert pledged(result) == [("stew", "starving", 6), ("bread", "hungry", 6)]
    assert [p.exact_category for p in result.proposals] == [True, True]
    stew = surplus("stew", 6, category="meals", unit="portion")
    fallback = match([need("hungry", 6, unit="portion")], [stew], now=NOW)
    assert pledged(fallback) == [("stew", "hungry", 6)]
    assert not fallback.proposals[0].exact_category
    assert match([need("x", 1)], [surplus("y", 1, category="meals")], now=NOW, related={}).proposals == []


def test_units_must_agree_but_spellings_do_not_matter() -> None:
    assert normal_unit(" Kgs ") == "kg" == normal_unit("kilograms")
    result = match([need("n", 2, unit="Kilos")], [surplus("s", 3, unit="kg")], now=NOW)
    assert pledged(result) == [("s", "n", 2)]
    assert match([need("n", 2, unit="l")], [surplus("s", 3, unit="kg")], now=NOW).proposals == []


def test_expired_postings_take_no_part_and_leases_end_with_them() -> None:
    gone = NOW - timedelta(seconds=1)
    assert match([need("n")], [surplus("s", expires_at=gone)], now=NOW).proposals == []
    assert match([need("n", expires_at=gone)], [surplus("s")], now=NOW).proposals == []
    soon = NOW + timedelta(minutes=30)
    result = match([need("n")], [surplus("s", expires_at=soon), surplus("t")], now=NOW)
    assert [p.lease_until for p in result.proposals] == [soon]
    result = match([need("n")], [surplus("t")], now=NOW, lease=timedelta(hours=5))
    assert result.proposals[0].lease_until == NOW + timedelta(hours=5)
    assert timedelta(0) < DEFAULT_LEASE


def test_live_holds_count_and_lapsed_leases_return_to_the_pool() -> None:
    held = Hold(GlobalId("b", "s"), GlobalId("a", "other"), 4, lease_until=NOW + timedelta(minutes=5))
    result = match([need("n", 5)], [surplus("s", 5)], now=NOW, holds=[held])
    assert pledged(result) == [("s", "n", 1)]
    lapsed = Hold(GlobalId("b", "s"), GlobalId("a", "other"), 4, lease_until=NOW)
    assert pledged(match([need("n", 5)], [surplus("s", 5)], now=NOW, holds=[lapsed])) == [("s", "n", 5)]
    accepted = Hold(GlobalId("b", "x"), GlobalId("a", "n"), 3)
    assert pledged(match([need("n", 5)], [surplus("s", 5)], now=NOW, holds=[accepted])) == [("s", "n", 2)]


def test_reach_limits_distance() -> None:
    result = match([need("n", 5)], [surplus("far", 5, cell=FAR)], now=NOW, max_km=10)
    assert result.proposals == []
    assert result.unmet == {GlobalId("a", "n"): 5}
    assert len(match([need("n", 5)], [surplus("far", 5, cell=FAR)], now=NOW, max_km=40).proposals) == 1


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="twice"):
        match([need("n"), need("n")], [], now=NOW)
    with pytest.raises(ValueError, match="not a valid H3 cell"):
        match([need("n")], [surplus("s", cell="8f")], now=NOW)
    nothing = match([need("n", 0), need("m", math.nan)], [surplus("s", -1)], now=NOW)
    assert nothing == MatchResult()


def test_same_input_in_any_order_gives_the_same_pledges() -> None:
    rng = random.Random(3)
    needs = [
        need(f"n{i}", rng.randint(1, 9), cell=rng.choice(CELLS), urgency=rng.choice(["soon", "urgent"]))
        for i in range(40)
    ]
    surpluses = [surplus(f"s{i}", rng.randint(1, 9), cell=rng.choice(CELLS)) for i in range(40)]
    first = match(needs, surpluses, now=NOW)
    rng.shuffle(needs)
    rng.shuffle(surpluses)
    assert match(needs, surpluses, now=NOW) == first


def test_many_cells_use_the_shortlist_and_then_the_rest() -> None:
    ring = sorted(h3.grid_disk(HOME, 6))  # 127 cells, more than a need's shortlist
    surpluses = [surplus(f"s{i:03d}", 1, cell=c) for i, c in enumerate(ring)]
    result = match([need("n", 100)], surpluses, now=NOW)
    assert sum(p.quantity for p in result.proposals) == 100
    distances = [p.distance_km for p in result.proposals]
    assert distances == sorted(distances)
    assert result.proposals[0].distance_km == 0


categories = st.sampled_from(["food", "meals", "tools", "repairs", "medical"])
units = st.sampled_from(["kg", "item", "Items"])
quantities = st.one_of(st.integers(1, 20).map(float), st.floats(0.01, 50, allow_nan=False))


@st.composite
def postings(draw: st.DrawFn, kind: str) -> list[Posting]:
    count = draw(st.integers(0, 25))
    nodes = draw(st.lists(st.sampled_from(["n1", "n2", "n3", "n4"]), min_size=count, max_size=count))
    return [
        Posting(
            node=node,
            resource=f"{kind}{i}",
            category=draw(categories),
            quantity=draw(quantities),
            unit=draw(units),
            cell=draw(st.sampled_from(CELLS)),
            urgency=draw(st.sampled_from(["routine", "soon", "urgent", "emergency"])),
            expires_at=draw(st.none() | st.integers(-5, 50).map(lambda h: NOW + timedelta(hours=h))),
        )
        for i, node in enumerate(nodes)
    ]


@st.composite
def holds_for(draw: st.DrawFn, needs: list[Posting], surpluses: list[Posting]) -> list[Hold]:
    if not needs or not surpluses:
        return []
    count = draw(st.integers(0, 6))
    return [
        Hold(
            draw(st.sampled_from(surpluses)).gid,
            draw(st.sampled_from(needs)).gid,
            draw(quantities),
            draw(st.none() | st.integers(-3, 3).map(lambda h: NOW + timedelta(hours=h))),
        )
        for _ in range(count)
    ]


def available(postings: list[Posting], holds: list[Hold], side: str) -> dict[GlobalId, float]:
    """What each live posting has to give or still needs, after the live holds."""
    held: dict[GlobalId, float] = defaultdict(float)
    for hold in holds:
        if hold.live(NOW):
            held[getattr(hold, side)] += hold.quantity
    return {
        p.gid: max(0.0, p.quantity - held[p.gid])
        for p in postings
        if p.expires_at is None or p.expires_at > NOW
    }


def close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_never_over_allocates_and_conserves_quantities(data: st.DataObject) -> None:
    needs, surpluses = data.draw(postings("need")), data.draw(postings("surplus"))
    holds = data.draw(holds_for(needs, surpluses))
    result = match(needs, surpluses, now=NOW, holds=holds)

    given_out: dict[GlobalId, float] = defaultdict(float)
    received: dict[GlobalId, float] = defaultdict(float)
    for p in result.proposals:
        assert p.quantity > 0
        assert p.lease_until > NOW
        given_out[p.surplus] += p.quantity
        received[p.need] += p.quantity
    has = available(surpluses, holds, "surplus")
    wants = available(needs, holds, "need")
    for gid, quantity in has.items():
        assert given_out[gid] <= quantity * (1 + 1e-12), "a surplus is over-allocated"
        assert close(given_out[gid] + result.left.get(gid, 0.0), quantity), "surplus quantity not conserved"
    for gid, quantity in wants.items():
        assert received[gid] <= quantity * (1 + 1e-12), "a need is over-allocated"
        assert close(received[gid] + result.unmet.get(gid, 0.0), quantity), "need quantity not conserved"
    assert set(given_out) <= set(has) and set(received) <= set(wants)


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_no_need_is_left_unmet_while_a_matching_surplus_is_left(data: st.DataObject) -> None:
    needs, surpluses = data.draw(postings("need")), data.draw(postings("surplus"))
    result = match(needs, surpluses, now=NOW)
    left_kinds = {(p.category, normal_unit(p.unit)) for p in surpluses if p.gid in result.left}
    for p in needs:
        if p.gid in result.unmet:
            assert (p.category, normal_unit(p.unit)) not in left_kinds


@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_whole_quantities_stay_whole(data: st.DataObject) -> None:
    whole = st.integers(1, 30).map(float)
    needs = [need(f"n{i}", data.draw(whole), cell=data.draw(st.sampled_from(CELLS))) for i in range(8)]
    surpluses = [surplus(f"s{i}", data.draw(whole), cell=data.draw(st.sampled_from(CELLS))) for i in range(8)]
    for p in match(needs, surpluses, now=NOW).proposals:
        assert p.quantity == int(p.quantity)
