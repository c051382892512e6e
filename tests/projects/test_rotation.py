"""The rotation engine's invariants, checked on generated inputs, and a few worked examples."""

from __future__ import annotations

import random
from datetime import UTC, datetime, time, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from node.projects.rotation import (
    RULE_OVERLAP,
    RULE_TERM_LIMIT,
    RoleSpec,
    RotationInput,
    ShiftSpec,
    Volunteer,
    Window,
    assign,
    spread_of,
    violations,
)

BASE = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday
ROLES = {
    "cook": RoleSpec("cook"),
    "driver": RoleSpec("driver", skill="driving"),
    "coordinator": RoleSpec("coordinator", coordinating=True),
    "facilitator": RoleSpec("facilitator", skill="facilitation", coordinating=True),
}
MEMBERS = [f"m{n:02d}" for n in range(12)]


@st.composite
def rotation_inputs(draw: st.DrawFn) -> RotationInput:
    """Shifts of random roles and lengths (some already held), people with random skills."""
    members = draw(st.lists(st.sampled_from(MEMBERS), min_size=0, max_size=8, unique=True))
    volunteers = []
    for member in members:
        skills = draw(st.frozensets(st.sampled_from(["driving", "facilitation", "first_aid"])))
        windows = draw(
            st.lists(
                st.builds(
                    Window,
                    st.integers(0, 6),
                    st.sampled_from([time(8), time(12), time(17)]),
                    st.sampled_from([13 * 60, 20 * 60, 24 * 60]),
                ),
                max_size=3,
            )
        )
        volunteers.append(Volunteer(member, skills, tuple(windows)))
    count = draw(st.integers(0, 18))
    shifts = []
    for n in range(count):
        start = BASE + timedelta(hours=draw(st.integers(0, 24 * 14)))
        hours = draw(st.sampled_from([1, 2, 3, 4]))
        slots = draw(st.integers(1, 3))
        fill = draw(st.booleans())
        holders: tuple[str, ...] = ()
        if not fill and members:
            holders = tuple(draw(st.lists(st.sampled_from(members), max_size=slots, unique=True)))
        shifts.append(
            ShiftSpec(
                f"s{n:02d}",
                draw(st.sampled_from(sorted(ROLES))),
                start,
                start + timedelta(hours=hours),
                slots,
                holders,
                fill,
            )
        )
    return RotationInput(tuple(shifts), ROLES, tuple(volunteers), draw(st.integers(1, 3)))


def final_plan(data: RotationInput, placements: list) -> dict[str, list[str]]:
    plan = {s.id: list(s.holders) for s in data.shifts}
    for placement in placements:
        plan[placement.shift_id].append(placement.member)
    return plan


@settings(max_examples=150, deadline=None)
@given(rotation_inputs())
def test_new_placements_break_no_rule(data: RotationInput) -> None:
    result = assign(data)
    plan = final_plan(data, result.placements)
    before = {(v.shift_id, v.member, v.rule) for v in violations(data, {})}
    after = {(v.shift_id, v.member, v.rule) for v in violations(data, plan)}
    assert after <= before, after - before
    for placement in result.placements:
        shift = next(s for s in data.shifts if s.id == placement.shift_id)
        assert shift.fill
        assert plan[shift.id].count(placement.member) == 1
        assert len(plan[shift.id]) <= shift.slots


@settings(max_examples=100, deadline=None)
@given(rotation_inputs(), st.randoms(use_true_random=False))
def test_same_input_in_any_order_gives_same_plan(data: RotationInput, rnd: random.Random) -> None:
    shifts, volunteers = list(data.shifts), list(data.volunteers)
    rnd.shuffle(shifts)
    rnd.shuffle(volunteers)
    shuffled = RotationInput(tuple(shifts), data.roles, tuple(volunteers), data.term_limit)
    first, second = assign(data), assign(shuffled)
    assert first.placements == second.placements
    assert first.unfilled == second.unfilled
    assert first.spread == second.spread


@settings(max_examples=100, deadline=None)
@given(rotation_inputs())
def test_coordinators_never_exceed_the_term_limit(data: RotationInput) -> None:
    # Start from a history that keeps the limit; the plan must keep it too.
    clean = RotationInput(
        tuple(
            s
            if not ROLES[s.role].coordinating
            else ShiftSpec(s.id, s.role, s.starts_at, s.ends_at, s.slots, (), s.fill)
            for s in data.shifts
        ),
        data.roles,
        data.volunteers,
        data.term_limit,
    )
    plan = final_plan(clean, assign(clean).placements)
    for role in ("coordinator", "facilitator"):
        timeline = sorted((s for s in clean.shifts if s.role == role), key=lambda s: (s.starts_at, s.id))
        for member in MEMBERS:
            run = longest = 0
            for shift in timeline:
                run = run + 1 if member in plan[shift.id] else 0
                longest = max(longest, run)
            assert longest <= clean.term_limit


@st.composite
def open_inputs(draw: st.DrawFn) -> RotationInput:
    """No constraints: one-place shifts that never overlap, everyone eligible, some past load."""
    members = draw(st.lists(st.sampled_from(MEMBERS), min_size=1, max_size=8, unique=True))
    history_hours = draw(st.lists(st.integers(0, 6), min_size=len(members), max_size=len(members)))
    shifts = []
    start = BASE
    for n, member in enumerate(members):
        if history_hours[n]:
            end = start + timedelta(hours=history_hours[n])
            shifts.append(ShiftSpec(f"h{n:02d}", "cook", start, end, 1, (member,), False))
            start = end
    for n in range(draw(st.integers(0, 30))):
        hours = draw(st.integers(1, 4))
        shifts.append(ShiftSpec(f"s{n:02d}", "cook", start, start + timedelta(hours=hours), 1, (), True))
        start += timedelta(hours=hours)
    return RotationInput(tuple(shifts), ROLES, tuple(Volunteer(m) for m in members), 2)


@settings(max_examples=150, deadline=None)
@given(open_inputs())
def test_load_is_spread_evenly_when_nothing_constrains_it(data: RotationInput) -> None:
    result = assign(data)
    assert result.unfilled == []
    assert len(result.placements) == sum(1 for s in data.shifts if s.fill)
    past: dict[str, float] = {v.id: 0.0 for v in data.volunteers}
    for shift in data.shifts:
        for member in shift.holders:
            past[member] += shift.hours
    initial_gap = spread_of(past).gap
    longest = max((s.hours for s in data.shifts if s.fill), default=0.0)
    assert result.spread.gap <= max(initial_gap, longest) + 1e-9


def shift(
    n: int,
    role: str = "cook",
    day: int = 0,
    hours: int = 2,
    holders: tuple[str, ...] = (),
    fill: bool = True,
    slots: int = 1,
    start_hour: int = 18,
) -> ShiftSpec:
    start = BASE + timedelta(days=day, hours=start_hour)
    return ShiftSpec(f"s{n:02d}", role, start, start + timedelta(hours=hours), slots, holders, fill)


def test_least_loaded_member_goes_first() -> None:
    data = RotationInput(
        (shift(0, day=0, holders=("ana",), fill=False), shift(1, day=1)),
        ROLES,
        (Volunteer("ana"), Volunteer("ben")),
        2,
    )
    assert [(p.shift_id, p.member) for p in assign(data).placements] == [("s01", "ben")]


def test_term_limit_counts_past_terms() -> None:
    past = tuple(shift(n, "coordinator", day=n, holders=("ana",), fill=False) for n in range(2))
    data = RotationInput(
        (*past, shift(2, "coordinator", day=2)),
        ROLES,
        (Volunteer("ana"),),
        2,
    )
    result = assign(data)
    assert result.placements == []
    assert result.unfilled[0].reason.startswith("no eligible member")
    assert "term_limit: 1" in result.unfilled[0].reason


def test_skill_and_availability_are_respected() -> None:
    evenings = (Window.parse(0, "17:00", "22:00"),)
    data = RotationInput(
        (shift(0, "driver", day=0), shift(1, "cook", day=0, start_hour=9)),
        ROLES,
        (Volunteer("ana", frozenset({"driving"}), evenings), Volunteer("ben")),
        2,
    )
    placed = {(p.shift_id, p.member) for p in assign(data).placements}
    assert placed == {("s00", "ana"), ("s01", "ben")}


def test_violations_name_the_rule_and_reason() -> None:
    data = RotationInput(
        (
            shift(0, "coordinator", day=0, holders=("ana",), fill=False),
            shift(1, "coordinator", day=1, holders=("ana",), fill=False),
            shift(2, "coordinator", day=2),
            shift(3, "cook", day=2),
        ),
        ROLES,
        (Volunteer("ana"), Volunteer("ben")),
        2,
    )
    found = violations(data, {"s02": ["ana"], "s03": ["ana"]}, only={"s02"})
    rules = {v.rule for v in found}
    assert rules == {RULE_TERM_LIMIT, RULE_OVERLAP}
    assert any("3 terms in a row; the limit is 2" in v.reason for v in found)
