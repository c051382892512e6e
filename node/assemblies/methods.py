"""Decision methods: which positions each allows and how a set of positions is tallied.

Pure functions over plain values, so that a neighbourhood assembly and a federation council of
delegates count the same way.
"""

from __future__ import annotations

import enum
import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field


class Method(enum.StrEnum):
    CONSENSUS = "consensus"  # agreement; stand-asides allowed; one block stops it
    CONSENT = "consent"  # passes unless someone raises a reasoned objection
    MAJORITY = "majority"  # more for than against
    SUPERMAJORITY = "supermajority"  # at least the threshold share of for among for + against


class Stance(enum.StrEnum):
    FOR = "for"  # "agree" in consensus, "consent" in consent
    AGAINST = "against"
    ABSTAIN = "abstain"
    STAND_ASIDE = "stand_aside"
    BLOCK = "block"
    OBJECT = "object"


class Outcome(enum.StrEnum):
    PASSED = "passed"
    REJECTED = "rejected"
    BLOCKED = "blocked"
    NO_QUORUM = "no_quorum"


ALLOWED: dict[Method, frozenset[Stance]] = {
    Method.CONSENSUS: frozenset({Stance.FOR, Stance.STAND_ASIDE, Stance.BLOCK}),
    Method.CONSENT: frozenset({Stance.FOR, Stance.OBJECT, Stance.ABSTAIN}),
    Method.MAJORITY: frozenset({Stance.FOR, Stance.AGAINST, Stance.ABSTAIN}),
    Method.SUPERMAJORITY: frozenset({Stance.FOR, Stance.AGAINST, Stance.ABSTAIN}),
}
# A block or an objection must say why, so that the group can address it.
NEEDS_REASON = frozenset({Stance.BLOCK, Stance.OBJECT})


@dataclass(frozen=True)
class Rules:
    """How one body decides: its method, the participants it needs, and the method's limits."""

    method: Method
    quorum: int = 1
    # The share of for among for + against that a supermajority needs, as a fraction.
    supermajority: tuple[int, int] = (2, 3)
    max_stand_asides: int | None = None


@dataclass(frozen=True)
class Tally:
    """The count of positions and the outcome it gives."""

    outcome: Outcome
    counts: dict[str, int] = field(default_factory=dict)
    participants: int = 0
    quorum: int = 0
    explanation: str = ""

    def as_dict(self) -> dict[str, object]:
        """The tally as JSON-ready data."""
        return {
            "outcome": self.outcome.value, "counts": dict(self.counts),
            "participants": self.participants, "quorum": self.quorum,
            "explanation": self.explanation,
        }


def stance_problem(method: Method, stance: Stance, reason: str) -> str | None:
    """Why this position cannot be taken under the method, or None when it can."""
    if stance not in ALLOWED[method]:
        allowed = ", ".join(sorted(s.value for s in ALLOWED[method]))
        return f"{method.value} takes one of: {allowed}"
    if stance in NEEDS_REASON and not reason.strip():
        return f"a {stance.value.replace('_', ' ')} must give its reason"
    return None


def required_quorum(count: int, percent: int, eligible: int) -> int:
    """Participants needed: the larger of a fixed number and a share of those eligible."""
    return max(1, count, math.ceil(percent * eligible / 100))


def tally(rules: Rules, stances: Iterable[Stance]) -> Tally:
    """Count the positions and decide the outcome under the rules."""
    counts = Counter(stances)
    participants = sum(counts.values())
    shown = {stance.value: counts.get(stance, 0) for stance in sorted(ALLOWED[rules.method])}
    if participants < rules.quorum:
        outcome, why = Outcome.NO_QUORUM, f"{participants} of {rules.quorum} needed"
    else:
        outcome, why = _decide(rules, counts)
    return Tally(outcome, shown, participants, rules.quorum, why)


def _decide(rules: Rules, counts: Counter[Stance]) -> tuple[Outcome, str]:
    yes, no = counts[Stance.FOR], counts[Stance.AGAINST]
    if rules.method is Method.CONSENSUS:
        if counts[Stance.BLOCK]:
            return Outcome.BLOCKED, f"{counts[Stance.BLOCK]} block(s)"
        if rules.max_stand_asides is not None and counts[Stance.STAND_ASIDE] > rules.max_stand_asides:
            return Outcome.REJECTED, "too many stand-asides for consensus"
        return (Outcome.PASSED, "consensus") if yes else (Outcome.REJECTED, "nobody agreed")
    if rules.method is Method.CONSENT:
        if counts[Stance.OBJECT]:
            return Outcome.REJECTED, f"{counts[Stance.OBJECT]} reasoned objection(s)"
        return (Outcome.PASSED, "no objection") if yes else (Outcome.REJECTED, "nobody consented")
    if rules.method is Method.MAJORITY:
        return (Outcome.PASSED, f"{yes} for, {no} against") if yes > no else (
            Outcome.REJECTED, f"{yes} for, {no} against")
    # Integer arithmetic on a fraction, so that two thirds means exactly two thirds.
    num, den = rules.supermajority
    enough = yes > 0 and yes * den >= num * (yes + no)
    why = f"{yes} for, {no} against; {num}/{den} needed"
    return (Outcome.PASSED if enough else Outcome.REJECTED), why
