"""The owning node's pledge ledger: many nodes pledge against one surplus, none over-allocates."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from federation.relief.ledger import Pledge, Refusal, SurplusLedger
from federation.relief.matching import GlobalId, Posting, match

NOW = datetime(2024, 7, 14, 6, 0, tzinfo=UTC)
BOAT = GlobalId("riverside", "boat-1")


def pledge(pid: str, quantity: float, minutes: int = 30, node: str = "hill") -> Pledge:
    return Pledge(pid, BOAT, GlobalId(node, f"need-{pid}"), quantity, NOW + timedelta(minutes=minutes))


def test_the_same_boat_is_never_promised_twice() -> None:
    ledger = SurplusLedger(BOAT, 1)
    first = ledger.offer(pledge("p1", 1, node="hill"), NOW)
    second = ledger.offer(pledge("p2", 1, node="valley"), NOW)
    assert first.accepted and first.available == 0
    assert not second.accepted and second.reason == Refusal.ALREADY_ALLOCATED


def test_refusals_name_their_reason() -> None:
    ledger = SurplusLedger(BOAT, 10)
    assert ledger.offer(pledge("a", 6), NOW).accepted
    too_much = ledger.offer(pledge("b", 5), NOW)
    assert (too_much.accepted, too_much.reason, too_much.detail) == (
        False,
        Refusal.MORE_THAN_AVAILABLE,
        "only 4 is left",
    )
    assert ledger.offer(pledge("c", 2, minutes=0), NOW).reason == Refusal.LEASE_EXPIRED
    assert ledger.offer(pledge("d", 0), NOW).reason == Refusal.BAD_QUANTITY
    assert ledger.offer(pledge("e", math.nan), NOW).reason == Refusal.BAD_QUANTITY
    other = Pledge("f", GlobalId("x", "y"), GlobalId("hill", "n"), 1, NOW + timedelta(hours=1))
    assert ledger.offer(other, NOW).reason == Refusal.WRONG_SURPLUS
    assert ledger.offer(pledge("a", 3), NOW).reason == Refusal.PLEDGE_CHANGED
    closed = SurplusLedger(BOAT, 10, open=False)
    assert closed.offer(pledge("g", 1), NOW).reason == Refusal.SURPLUS_CLOSED
    assert ledger.confirm("nope", NOW).reason == Refusal.UNKNOWN_PLEDGE
    assert ledger.release("nope", NOW).reason == Refusal.UNKNOWN_PLEDGE


def test_a_retried_pledge_gets_the_same_answer_and_holds_once() -> None:
    ledger = SurplusLedger(BOAT, 5)
    assert ledger.offer(pledge("p", 3), NOW).accepted
    again = ledger.offer(pledge("p", 3), NOW + timedelta(minutes=1))
    assert again.accepted and again.available == 2 and again.quantity == 3


def test_partial_acceptance_takes_what_is_left() -> None:
    ledger = SurplusLedger(BOAT, 5)
    assert ledger.offer(pledge("a", 4), NOW).quantity == 4
    part = ledger.offer(pledge("b", 3), NOW, partial=True)
    assert (part.accepted, part.quantity, part.available) == (True, 1, 0)
    # A relayed copy of the same pledge asks for 3 again: it still holds 1, once.
    assert ledger.offer(pledge("b", 3), NOW, partial=True).quantity == 1
    assert ledger.offer(pledge("c", 1), NOW, partial=True).reason == Refusal.ALREADY_ALLOCATED


def test_unconfirmed_pledges_return_to_the_pool() -> None:
    ledger = SurplusLedger(BOAT, 5)
    assert ledger.offer(pledge("slow", 5, minutes=10), NOW).accepted
    assert ledger.offer(pledge("quick", 5, minutes=60), NOW).reason == Refusal.ALREADY_ALLOCATED
    later = NOW + timedelta(minutes=10)
    assert ledger.available(later) == 5
    late = ledger.confirm("slow", later)
    assert late.reason == Refusal.LEASE_EXPIRED and "back in the pool" in late.detail
    assert ledger.offer(pledge("quick", 5, minutes=60), later).accepted
    assert ledger.confirm("quick", later + timedelta(minutes=5)).accepted
    # Confirmed holds no longer lapse.
    assert ledger.available(later + timedelta(days=30)) == 0
    assert ledger.release("quick", later).accepted
    assert ledger.available(later) == 5


def test_sweep_and_holds_feed_the_matching_engine() -> None:
    ledger = SurplusLedger(BOAT, 4)
    ledger.offer(pledge("a", 1, minutes=5), NOW)
    ledger.offer(pledge("b", 2, minutes=50), NOW)
    later = NOW + timedelta(minutes=5)
    cell = "881f1d4815fffff"
    surplus = Posting("riverside", "boat-1", "transport", 4, "boat", cell)
    need = Posting("valley", "n", "transport", 4, "boat", cell, urgency="emergency")
    result = match([need], [surplus], now=later, holds=ledger.live_holds(later))
    assert [p.quantity for p in result.proposals] == [2]  # 4, less the 2 still held by b
    assert ledger.sweep(later) == ["a"]
    assert list(ledger.holds) == ["b"]


events = st.lists(
    st.tuples(
        st.integers(0, 120),  # minute it reaches the owner
        st.sampled_from(["north", "south", "east", "west", "hill"]),  # pledging node
        st.sampled_from(["offer", "offer", "offer", "confirm", "release"]),
        st.integers(0, 12),  # pledge number
        st.one_of(st.integers(1, 6).map(float), st.floats(0.1, 6)),
        st.integers(-5, 40),  # lease, minutes from arrival
        st.booleans(),  # may the owner accept part?
    ),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(quantity=st.integers(1, 15).map(float), events=events)
def test_many_nodes_pledging_at_once_never_over_allocate(quantity: float, events: list[Any]) -> None:
    """Pledges from many nodes arrive interleaved; the owner decides them one by one."""
    ledger = SurplusLedger(BOAT, quantity)
    for minute, node, op, number, amount, lease, partial in sorted(events, key=lambda e: e[0]):
        now = NOW + timedelta(minutes=minute)
        pid = f"{node}-{number}"
        before = ledger.available(now)
        if op == "offer":
            p = Pledge(pid, BOAT, GlobalId(node, f"need-{number}"), amount, now + timedelta(minutes=lease))
            held_already = ledger.holds.get(pid)
            retry = held_already is not None and held_already.live(now)
            decision = ledger.offer(p, now, partial=partial)
            if retry:
                assert decision.accepted == (held_already.quantity <= amount)
                assert decision.available == before
            elif decision.accepted:
                assert decision.reason is None
                assert lease > 0
                assert decision.quantity == (min(amount, before) if partial else amount)
            elif decision.reason == Refusal.MORE_THAN_AVAILABLE:
                assert 0 < before < amount and not partial
            elif decision.reason == Refusal.ALREADY_ALLOCATED:
                assert before == 0
            elif decision.reason == Refusal.LEASE_EXPIRED:
                assert lease <= 0
            else:
                raise AssertionError(f"unexpected refusal {decision.reason}")
        elif op == "confirm":
            ledger.confirm(pid, now)
        else:
            ledger.release(pid, now)
        held = math.fsum(h.quantity for h in ledger.live_holds(now))
        assert held <= quantity * (1 + 1e-12), "the surplus is promised more than it has"
        assert math.isclose(ledger.available(now) + held, quantity, rel_tol=1e-9, abs_tol=1e-9)


@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_two_federations_proposing_from_stale_views_still_never_over_allocate(data: st.DataObject) -> None:
    """Each federation matches without knowing the other's pledges; the owners keep the count."""
    cells = ["881f1d4815fffff", "881f1d4817fffff", "881f1d4811fffff"]
    amounts = st.integers(1, 9).map(float)
    surpluses = [
        Posting(f"node{i % 3}", f"s{i}", "food", data.draw(amounts), "kg", data.draw(st.sampled_from(cells)))
        for i in range(data.draw(st.integers(1, 6)))
    ]
    ledgers = {s.gid: SurplusLedger(s.gid, s.quantity) for s in surpluses}
    pledges = []
    for federation in ("city", "region"):
        needs = [
            Posting(
                f"{federation}{i}",
                f"n{i}",
                "food",
                data.draw(amounts),
                "kg",
                data.draw(st.sampled_from(cells)),
                urgency="urgent",
            )
            for i in range(data.draw(st.integers(1, 6)))
        ]
        for n, proposal in enumerate(match(needs, surpluses, now=NOW).proposals):
            pledges.append(
                Pledge(
                    f"{federation}-{n}",
                    proposal.surplus,
                    proposal.need,
                    proposal.quantity,
                    proposal.lease_until,
                )
            )
    for p in data.draw(st.permutations(pledges)):
        ledgers[p.surplus].offer(p, NOW)
    for surplus in surpluses:
        held = math.fsum(h.quantity for h in ledgers[surplus.gid].live_holds(NOW))
        assert held <= surplus.quantity
