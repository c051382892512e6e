"""In a real browser on a real node: a delegate sees the mandate, takes it up and reports back;
another member petitions for a vote to recall them."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.browser.server import NodeServer
from tests.browser.steps import join, unique


def test_a_delegate_sees_the_mandate(people: Any, node: NodeServer) -> None:
    uma, handle = people(), unique("uma")
    join(uma, handle, "Uma")
    node.python("tests.web.seeds", handle)
    page = uma.open("/")
    page.get_by_role("link", name="Delegates").click()
    uma.check()
    expect(page.get_by_role("heading", name="Your mandates")).to_be_visible()
    page.get_by_role("link", name=f"@{handle} to").click()
    uma.check()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Your mandate to")
    expect(page.get_by_text("Share the generators")).to_be_visible()
    expect(page.get_by_text("Waiting for the delegate's key")).to_be_visible()
    page.get_by_role("button", name="Make my key and issue the mandate").click()
    expect(page.get_by_text("it is shown only now")).to_be_visible()
    expect(page.locator(".facts strong").first).to_have_text("Live")
    uma.check()
    page.get_by_label("Report back to the assembly").fill("The council agreed to share the generators.")
    page.get_by_role("button", name="Send the report").click()
    expect(page.get_by_role("status")).to_contain_text("Your report is in the assembly's minutes.")
    expect(page.get_by_text("The council agreed to share the generators.")).to_be_visible()
    uma.check()
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Delegates").click()
    page.get_by_role("link", name="The federation council").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Federation council")
    uma.check()
    vic = people()
    join(vic, unique("vic"), "Vic")
    page = vic.open("/council")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Delegates").click()
    page.get_by_role("link", name=f"@{handle} to").click()
    page.get_by_label("Why should the delegate be recalled?").fill("Voted against the mandate")
    page.get_by_role("button", name="Open a petition and sign it").click()
    expect(page.get_by_role("status")).to_contain_text("You signed the petition.")
    expect(page.get_by_text("1 of 3 signatures needed.")).to_be_visible()
    vic.check()
