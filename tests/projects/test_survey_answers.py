"""Checking answers never fails on anything JSON can carry: it only names what is wrong."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from node.projects.surveys import check_answers
from tests.projects.test_surveys_api import QUESTIONS

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=10,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["needs", "people", "when", "happy", "notes", "other"]), json_values))
def test_any_answers_are_checked_without_error(answers: dict[str, Any]) -> None:
    errors = check_answers(QUESTIONS, answers)
    assert all(e.field.startswith("answers.") and e.reason for e in errors)
    if not errors:
        assert isinstance(answers.get("notes", ""), str)
        assert all(v in ("meals", "food") for v in answers.get("needs") or [])
