"""In a real browser on a real node: an assembly is called, members take positions, it decides."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.browser.server import NodeServer
from tests.browser.steps import PASSWORD, join, log_in, unique


def test_an_assembly_votes(people: Any, node: NodeServer) -> None:
    convener = unique("rosa")
    node.run(
        "add-member",
        convener,
        f"{convener}@example.org",
        "--name",
        "Rosa",
        "--password",
        PASSWORD,
        "--steward-days",
        "30",
    )
    rosa, sam, tia = people(), people(), people()
    log_in(rosa, convener)
    page = rosa.open("/assemblies")
    rosa.check()
    page.get_by_role("link", name="Call an assembly").click()
    rosa.check()
    page.get_by_label("Name").fill("Street assembly")
    page.get_by_label("How we decide").select_option("majority")
    page.get_by_role("button", name="Call it").click()
    expect(page.get_by_role("status")).to_contain_text("The assembly is called.")
    rosa.check()
    page.get_by_label("In a few words").fill("Plant trees on the corner")
    page.get_by_label("The proposal").fill("Four trees, planted together in March.")
    page.get_by_role("button", name="Propose").click()
    expect(page.get_by_role("status")).to_contain_text("Your proposal is put to the assembly.")
    proposal = page.url
    rosa.check()

    for person, handle, stance in ((sam, unique("sam"), "For"), (tia, unique("tia"), "Against")):
        join(person, handle, handle.title())
        view = person.open("/assemblies")
        view.get_by_role("link", name="Street assembly").click()
        view.get_by_role("link", name="Plant trees on the corner").click()
        person.check()
        view.get_by_label(stance, exact=True).check()
        view.get_by_role("button", name="Take this position").click()
        expect(view.get_by_role("status")).to_contain_text("Your position is counted.")
        expect(view.get_by_text(f"You said: {stance}.")).to_be_visible()
        person.check()

    page = rosa.open(proposal)
    page.get_by_label("For", exact=True).check()
    page.get_by_role("button", name="Take this position").click()
    page.get_by_role("button", name="Count and decide now").click()
    expect(page.get_by_role("status")).to_contain_text("the decision is recorded")
    expect(page.get_by_role("heading", name="Decision")).to_be_visible()
    expect(page.get_by_text("Passed").first).to_be_visible()
    rosa.check()
