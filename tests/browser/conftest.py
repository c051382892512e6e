"""A real node process and Debian's Chromium for the browser tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Response, sync_playwright

from tests.browser import chromium
from tests.browser.server import NodeServer


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeServer]:
    """One node process for the module, open to join, with logins not rate limited."""
    server = NodeServer(tmp_path_factory.mktemp("browser"))
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = chromium.launch(playwright)
        yield browser
        browser.close()


class Person:
    """Someone on their phone: a browser profile of their own, with a check of every page."""

    def __init__(self, browser: Browser, node: NodeServer, **options: Any) -> None:
        self.context = chromium.phone(browser, node.url, **options)
        # With scripts off the browser runs none, axe included: those pages are checked elsewhere.
        self.scripts = bool(options.get("java_script_enabled", True))
        self.page = self.context.new_page()
        self.problems: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        self.page.on("response", self._response)

    def _console(self, message: ConsoleMessage) -> None:
        # A script error or a CSP refusal shows up here. A page answered 422 (a form to correct)
        # is logged as a failed load too: responses are checked on their own below.
        if message.type in ("error", "warning") and not message.text.startswith("Failed to load resource"):
            self.problems.append(f"{message.type}: {message.text}")

    def _response(self, response: Response) -> None:
        if response.status >= 400 and response.request.resource_type != "document":
            self.problems.append(f"{response.status} for {response.url}")

    def open(self, path: str) -> Page:
        self.page.goto(path)
        return self.page

    def check(self) -> None:
        """The page in front of them: no console errors, no serious accessibility violation."""
        # A step may end as soon as the new page's heading is in the DOM; its stylesheet may
        # still be on the way, and axe would then measure unstyled links.
        self.page.wait_for_load_state("load")
        assert not self.problems, self.problems
        if self.scripts:
            chromium.assert_accessible(self.page)

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def people(browser: Browser, node: NodeServer) -> Iterator[Any]:
    """Make people with their own browser profiles; closed at the end of the test."""
    made: list[Person] = []

    def make(**options: Any) -> Person:
        person = Person(browser, node, **options)
        made.append(person)
        return person

    yield make
    for person in made:
        person.close()
