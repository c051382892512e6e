"""In a real browser on a real federation node: a steward of the federation, also on its
rapid-response team, declares an incident, and the council's decisions ratify and close one."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.server import NodeServer
from tests.browser.steps import join, unique

AREA = "851f1d4bfffffff"  # a resolution 5 cell in Berlin: the federation's area


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeServer]:
    """A node in the federation role for this module's tests."""
    server = NodeServer(
        tmp_path_factory.mktemp("federation"),
        name="City federation",
        role="federation",
        federation_area_cells=[AREA],
    )
    try:
        server.start()
        yield server
    finally:
        server.stop()


def test_a_federation_declares_ratifies_and_closes_incidents(people: Any, node: NodeServer) -> None:
    ria, handle = people(), unique("ria")
    join(ria, handle, "Ria")
    pages = json.loads(node.python("tests.web.delegate_seeds", handle, "federation"))
    for lang in ("es", "en"):
        for path in ["/situation", *pages.values()]:
            ria.open(f"{path}?lang={lang}")
            expect(ria.page.locator("html")).to_have_attribute("lang", lang)
            ria.check()
    page = ria.open("/situation")
    page.get_by_role("link", name="Declare an incident").click()
    ria.check()
    page.get_by_label("What happened, in a few words").fill("Storm over the city")
    page.get_by_label("Kind").fill("storm")
    page.get_by_label("Until").fill("2030-01-02T10:00")
    page.get_by_role("button", name="Declare the incident").click()
    expect(page.get_by_role("alert")).to_contain_text("Choose the council's decision")
    ria.check()
    page.get_by_label("The council's decision").select_option(index=1)  # the decision the council passed
    page.get_by_role("button", name="Declare the incident").click()
    expect(page.get_by_role("status")).to_contain_text("The incident is declared.")
    expect(page.get_by_role("heading", level=1)).to_have_text("Storm over the city")
    ria.check()
    page = ria.open(pages["incident"])
    page.get_by_role("button", name="Ratify").click()
    expect(page.get_by_role("status")).to_contain_text("The council's decision is recorded")
    expect(page.locator(".facts strong").first).to_have_text("Live")
    page.get_by_label("Why it is over").fill("The water is down")
    page.get_by_role("button", name="Close the incident").click()
    expect(page.get_by_role("status")).to_contain_text("The incident is closed.")
    expect(page.locator(".facts strong").first).to_have_text("Closed")
    ria.check()
