"""The page tests log members in through the form many times a minute; with Redis the login
limit is counted across every app of the run, so these apps get a generous one unless a test
asks for another (the rate-limit test does)."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def app_factory(app_factory: Any) -> Any:
    def make(**overrides: Any) -> Any:
        overrides.setdefault("login_rate_limit", "10000 per minute")
        return app_factory(**overrides)

    return make
