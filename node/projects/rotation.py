"""The rotation engine: who takes which shift, as a plain function of its input (no database).

Rules every plan keeps (plan 3.4):

- a shift never has more people than places, nor the same person twice;
- nobody holds two shifts that overlap in time;
- a role that needs a skill goes only to someone who has it;
- the engine assigns only within a member's weekly availability (no windows means any time);
- nobody holds a coordinating role for more consecutive occurrences than the term limit.

Within those rules the engine spreads hours evenly: each open place goes to the eligible member
with the fewest hours so far, then moves from the most loaded to the least loaded while that
narrows the gap. Ties are broken by member id, and the input is sorted first, so the same input
always gives the same plan whatever order it came in.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, tzinfo
from zoneinfo import ZoneInfo

RULE_PLACES = "places"
RULE_OVERLAP = "overlap"
RULE_SKILL = "skill"
RULE_AVAILABILITY = "availability"
RULE_TERM_LIMIT = "term_limit"
ALL_RULES = frozenset({RULE_PLACES, RULE_OVERLAP, RULE_SKILL, RULE_AVAILABILITY, RULE_TERM_LIMIT})
# Moves that even out the load stop after this many, whatever happens; each strictly lowers
# the sum of squared hours, so in practice they stop much earlier.
MAX_MOVES = 10_000


@dataclass(frozen=True)
class Window:
    """A weekly window of availability in the node's local time; end may be 24:00."""

    weekday: int
    start: time
    end_minutes: int

    @classmethod
    def parse(cls, weekday: int, start: str, end: str) -> Window:
        """A window from "HH:MM" strings."""
        hours, minutes = (int(part) for part in end.split(":"))
        return cls(weekday, time.fromisoformat(start), hours * 60 + minutes)

    def covers(self, starts_at: datetime, ends_at: datetime, zone: tzinfo) -> bool:
        """Whether a shift lies inside this window on its local start day."""
        start, end = starts_at.astimezone(zone), ends_at.astimezone(zone)
        if start.weekday() != self.weekday:
            return False
        start_minutes = start.hour * 60 + start.minute
        end_minutes = (end - start.replace(hour=0, minute=0, second=0, microsecond=0)).total_seconds() / 60
        window_start = self.start.hour * 60 + self.start.minute
        return window_start <= start_minutes and end_minutes <= self.end_minutes


@dataclass(frozen=True)
class RoleSpec:
    """A role: the skill it needs, if any, and whether it coordinates (and so has a term limit)."""

    name: str
    skill: str | None = None
    coordinating: bool = False


@dataclass(frozen=True)
class Volunteer:
    """A member who takes part in the rotation."""

    id: str
    skills: frozenset[str] = frozenset()
    windows: tuple[Window, ...] = ()

    def available(self, starts_at: datetime, ends_at: datetime, zone: tzinfo) -> bool:
        """Whether the shift falls in one of the member's windows (always, without windows)."""
        return not self.windows or any(w.covers(starts_at, ends_at, zone) for w in self.windows)


@dataclass(frozen=True)
class ShiftSpec:
    """A shift: its role and time, its places, who holds them, and whether to fill it now."""

    id: str
    role: str
    starts_at: datetime
    ends_at: datetime
    slots: int = 1
    holders: tuple[str, ...] = ()
    fill: bool = False

    @property
    def hours(self) -> float:
        return (self.ends_at - self.starts_at).total_seconds() / 3600


@dataclass(frozen=True)
class RotationInput:
    """Everything the engine looks at: shifts (past, held and open), roles, people, the limit."""

    shifts: tuple[ShiftSpec, ...]
    roles: Mapping[str, RoleSpec]
    volunteers: tuple[Volunteer, ...]
    term_limit: int
    zone: tzinfo = field(default_factory=lambda: ZoneInfo("UTC"))


@dataclass(frozen=True)
class Placement:
    """One new assignment: a member on a shift."""

    shift_id: str
    member: str


@dataclass(frozen=True)
class Unfilled:
    """Places the engine could not fill, and why."""

    shift_id: str
    missing: int
    reason: str


@dataclass(frozen=True)
class Violation:
    """A rule a plan breaks, for whom, and a reason people can read."""

    shift_id: str
    member: str
    rule: str
    reason: str


@dataclass(frozen=True)
class Spread:
    """How even the load is: hours per member and their summary."""

    hours: dict[str, float]
    minimum: float
    maximum: float
    mean: float
    stddev: float

    @property
    def gap(self) -> float:
        return self.maximum - self.minimum


@dataclass
class RotationResult:
    """The engine's answer: new placements, places left open, and the resulting load."""

    placements: list[Placement]
    unfilled: list[Unfilled]
    spread: Spread


Plan = dict[str, list[str]]


def assign(data: RotationInput) -> RotationResult:
    """Fill the open places of the shifts marked `fill`, keeping every rule and evening the load."""
    ordered = _sorted(data)
    plan: Plan = {s.id: sorted(set(s.holders)) for s in ordered.shifts}
    members = {v.id: v for v in ordered.volunteers}
    hours = _hours(ordered, plan, members)
    new: list[Placement] = []
    unfilled: list[Unfilled] = []
    for shift in ordered.shifts:
        if not shift.fill:
            continue
        while len(plan[shift.id]) < shift.slots:
            candidates = [m for m in members if m not in plan[shift.id]
                          and not _breaks(ordered, plan, shift, members[m])]
            if not candidates:
                missing = shift.slots - len(plan[shift.id])
                unfilled.append(Unfilled(shift.id, missing, _why_none(ordered, plan, shift, members)))
                break
            chosen = min(candidates, key=lambda m: (round(hours[m], 6), m))
            plan[shift.id] = sorted([*plan[shift.id], chosen])
            hours[chosen] += shift.hours
            new.append(Placement(shift.id, chosen))
    new = _even_out(ordered, plan, members, hours, new)
    position = {s.id: index for index, s in enumerate(ordered.shifts)}
    return RotationResult(
        placements=sorted(new, key=lambda p: (position[p.shift_id], p.member)),
        unfilled=unfilled,
        spread=spread_of(hours),
    )


def violations(
    data: RotationInput, plan: Mapping[str, Iterable[str]], only: Iterable[str] | None = None,
    rules: frozenset[str] = ALL_RULES,
) -> list[Violation]:
    """Every rule the plan breaks on the given shifts (all shifts when `only` is None)."""
    ordered = _sorted(data)
    full: Plan = {s.id: list(s.holders) for s in ordered.shifts}
    full.update({key: list(value) for key, value in plan.items()})
    members = {v.id: v for v in ordered.volunteers}
    targets = set(only) if only is not None else {s.id for s in ordered.shifts}
    found: list[Violation] = []
    for shift in ordered.shifts:
        if shift.id not in targets:
            continue
        holders = full.get(shift.id, [])
        if RULE_PLACES in rules:
            found.extend(_place_violations(shift, holders))
        for member_id in sorted(set(holders)):
            volunteer = members.get(member_id, Volunteer(member_id))
            for rule, reason in _rule_failures(ordered, full, shift, volunteer, rules):
                found.append(Violation(shift.id, member_id, rule, reason))
    return found


def spread_of(hours: Mapping[str, float]) -> Spread:
    """Minimum, maximum, mean and standard deviation of hours per member."""
    values = [hours[key] for key in sorted(hours)]
    if not values:
        return Spread({}, 0.0, 0.0, 0.0, 0.0)
    mean = sum(values) / len(values)
    variance = sum((v - mean) ** 2 for v in values) / len(values)
    rounded = {key: round(hours[key], 4) for key in sorted(hours)}
    return Spread(rounded, round(min(values), 4), round(max(values), 4), round(mean, 4),
                  round(math.sqrt(variance), 4))


# --- internals -----------------------------------------------------------------------------

def _sorted(data: RotationInput) -> RotationInput:
    shifts = tuple(sorted(data.shifts, key=lambda s: (s.starts_at, s.ends_at, s.id)))
    volunteers = tuple(sorted(data.volunteers, key=lambda v: v.id))
    return RotationInput(shifts, data.roles, volunteers, data.term_limit, data.zone)


def _hours(data: RotationInput, plan: Plan, members: Mapping[str, Volunteer]) -> dict[str, float]:
    hours = dict.fromkeys(members, 0.0)
    for shift in data.shifts:
        for member in plan[shift.id]:
            if member in hours:
                hours[member] += shift.hours
    return hours


def _breaks(data: RotationInput, plan: Plan, shift: ShiftSpec, volunteer: Volunteer) -> bool:
    trial = {**plan, shift.id: [*plan[shift.id], volunteer.id]}
    return bool(_rule_failures(data, trial, shift, volunteer, ALL_RULES))


def _place_violations(shift: ShiftSpec, holders: list[str]) -> list[Violation]:
    found = []
    if len(holders) > shift.slots:
        found.append(Violation(shift.id, "", RULE_PLACES,
                               f"the shift has {shift.slots} places and {len(holders)} people"))
    for member in sorted({m for m in holders if holders.count(m) > 1}):
        found.append(Violation(shift.id, member, RULE_PLACES, "already on this shift"))
    return found


def _rule_failures(
    data: RotationInput, plan: Plan, shift: ShiftSpec, volunteer: Volunteer, rules: frozenset[str]
) -> list[tuple[str, str]]:
    failures: list[tuple[str, str]] = []
    role = data.roles.get(shift.role, RoleSpec(shift.role))
    if RULE_SKILL in rules and role.skill and role.skill not in volunteer.skills:
        failures.append((RULE_SKILL, f"the {role.name} role needs the skill '{role.skill}'"))
    if RULE_AVAILABILITY in rules and not volunteer.available(shift.starts_at, shift.ends_at, data.zone):
        failures.append((RULE_AVAILABILITY, "outside the member's available hours"))
    if RULE_OVERLAP in rules:
        clash = _overlapping(data, plan, shift, volunteer.id)
        if clash is not None:
            failures.append((RULE_OVERLAP, f"already on a shift at the same time ({clash.role} "
                                           f"from {clash.starts_at.isoformat()})"))
    if RULE_TERM_LIMIT in rules and role.coordinating:
        run = _run_length(data, plan, shift, volunteer.id)
        if run > data.term_limit:
            failures.append((RULE_TERM_LIMIT, f"would hold the coordinating role {role.name} for {run} "
                                              f"terms in a row; the limit is {data.term_limit}"))
    return failures


def _overlapping(data: RotationInput, plan: Plan, shift: ShiftSpec, member: str) -> ShiftSpec | None:
    for other in data.shifts:
        if other.id == shift.id or member not in plan.get(other.id, ()):
            continue
        if other.starts_at < shift.ends_at and shift.starts_at < other.ends_at:
            return other
    return None


def _run_length(data: RotationInput, plan: Plan, shift: ShiftSpec, member: str) -> int:
    """Consecutive occurrences of the shift's role held by `member`, through this shift."""
    timeline = [s for s in data.shifts if s.role == shift.role]
    index = next(i for i, s in enumerate(timeline) if s.id == shift.id)
    held = [member in plan.get(s.id, ()) for s in timeline]
    held[index] = True
    before = 0
    for value in reversed(held[:index]):
        if not value:
            break
        before += 1
    after = 0
    for value in held[index + 1:]:
        if not value:
            break
        after += 1
    return before + 1 + after


def _why_none(data: RotationInput, plan: Plan, shift: ShiftSpec, members: Mapping[str, Volunteer]) -> str:
    if not members:
        return "nobody in the project takes part in the rotation"
    counts: dict[str, int] = {}
    for member_id, volunteer in members.items():
        if member_id in plan[shift.id]:
            continue
        trial = {**plan, shift.id: [*plan[shift.id], member_id]}
        for rule, _ in _rule_failures(data, trial, shift, volunteer, ALL_RULES):
            counts[rule] = counts.get(rule, 0) + 1
    parts = [f"{rule}: {count}" for rule, count in sorted(counts.items())]
    return "no eligible member (members ruled out by " + ", ".join(parts) + ")" if parts else (
        "no eligible member left")


def _even_out(
    data: RotationInput, plan: Plan, members: Mapping[str, Volunteer], hours: dict[str, float],
    new: list[Placement],
) -> list[Placement]:
    """Move new placements from the most to the least loaded member while it narrows the gap."""
    placed = list(new)
    shifts = {s.id: s for s in data.shifts}
    for _ in range(MAX_MOVES):
        move = _best_move(data, plan, members, hours, placed, shifts)
        if move is None:
            break
        index, target = move
        old = placed[index]
        shift = shifts[old.shift_id]
        plan[shift.id] = sorted([m for m in plan[shift.id] if m != old.member] + [target])
        hours[old.member] -= shift.hours
        hours[target] += shift.hours
        placed[index] = Placement(shift.id, target)
    return placed


def _best_move(
    data: RotationInput, plan: Plan, members: Mapping[str, Volunteer], hours: dict[str, float],
    placed: list[Placement], shifts: Mapping[str, ShiftSpec],
) -> tuple[int, str] | None:
    by_load = sorted(members, key=lambda m: (-round(hours[m], 6), m))
    for giver in by_load:
        receivers = sorted(members, key=lambda m: (round(hours[m], 6), m))
        for index, placement in enumerate(placed):
            if placement.member != giver:
                continue
            shift = shifts[placement.shift_id]
            for receiver in receivers:
                # Only a move that leaves both below the giver's old load narrows the gap.
                if hours[receiver] + shift.hours >= hours[giver] - 1e-9:
                    break
                if receiver in plan[shift.id]:
                    continue
                without = {**plan, shift.id: [m for m in plan[shift.id] if m != giver]}
                if not _breaks(data, without, shift, members[receiver]):
                    return index, receiver
    return None
