"""Decision methods counted on plain values."""

from __future__ import annotations

import pytest

from node.assemblies.methods import (
    Method,
    Outcome,
    Rules,
    Stance,
    required_quorum,
    stance_problem,
    tally,
)

F, A, AB, SA, B, OB = (
    Stance.FOR,
    Stance.AGAINST,
    Stance.ABSTAIN,
    Stance.STAND_ASIDE,
    Stance.BLOCK,
    Stance.OBJECT,
)


@pytest.mark.parametrize(
    ("method", "stances", "outcome"),
    [
        (Method.CONSENSUS, [F, F, SA], Outcome.PASSED),
        (Method.CONSENSUS, [F, F, F, B], Outcome.BLOCKED),
        (Method.CONSENSUS, [SA, SA], Outcome.REJECTED),
        (Method.CONSENT, [F, AB, AB], Outcome.PASSED),
        (Method.CONSENT, [F, F, F, OB], Outcome.REJECTED),
        (Method.CONSENT, [AB, AB], Outcome.REJECTED),
        (Method.MAJORITY, [F, F, A], Outcome.PASSED),
        (Method.MAJORITY, [F, A], Outcome.REJECTED),
        (Method.MAJORITY, [F, AB, AB, AB], Outcome.PASSED),
        (Method.SUPERMAJORITY, [F, F, A], Outcome.PASSED),  # exactly two thirds
        (Method.SUPERMAJORITY, [F, F, A, A], Outcome.REJECTED),
        (Method.SUPERMAJORITY, [AB, AB], Outcome.REJECTED),
    ],
)
def test_outcomes(method: Method, stances: list[Stance], outcome: Outcome) -> None:
    assert tally(Rules(method), stances).outcome is outcome


def test_quorum_comes_first() -> None:
    result = tally(Rules(Method.MAJORITY, quorum=4), [F, F, F])
    assert result.outcome is Outcome.NO_QUORUM
    assert result.participants == 3 and result.quorum == 4
    assert tally(Rules(Method.MAJORITY, quorum=3), [F, F, AB]).outcome is Outcome.PASSED


def test_stand_aside_limit() -> None:
    rules = Rules(Method.CONSENSUS, max_stand_asides=1)
    assert tally(rules, [F, SA]).outcome is Outcome.PASSED
    assert tally(rules, [F, F, SA, SA]).outcome is Outcome.REJECTED


def test_supermajority_fraction() -> None:
    rules = Rules(Method.SUPERMAJORITY, supermajority=(3, 4))
    assert tally(rules, [F, F, F, A]).outcome is Outcome.PASSED
    assert tally(rules, [F, F, A]).outcome is Outcome.REJECTED


def test_counts_name_every_allowed_stance() -> None:
    result = tally(Rules(Method.CONSENSUS), [F])
    assert result.counts == {"block": 0, "for": 1, "stand_aside": 0}


def test_stances_allowed_per_method() -> None:
    assert stance_problem(Method.MAJORITY, B, "no") is not None
    assert stance_problem(Method.CONSENSUS, A, "") is not None
    assert stance_problem(Method.CONSENSUS, B, "  ") == "a block must give its reason"
    assert stance_problem(Method.CONSENT, OB, "unsafe for children") is None


def test_required_quorum() -> None:
    assert required_quorum(1, 0, 100) == 1
    assert required_quorum(3, 10, 100) == 10
    assert required_quorum(3, 10, 5) == 3
    assert required_quorum(0, 0, 0) == 1
