"""Take the screenshots of the main pages shown in the README (docs/screenshots/*.png).

Run `.venv/bin/python -m tests.browser.screenshots`: it starts a node on loopback, fills it
through the pages as members would, and photographs each page at a phone's size.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from playwright.sync_api import Browser, sync_playwright

from tests.browser import chromium
from tests.browser.conftest import Person
from tests.browser.server import NodeServer
from tests.browser.steps import PASSWORD, answer_need, join, log_in, post_need

OUT = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def shoot(person: Person, path: str, name: str) -> None:
    """Open a page and save it, whole, as docs/screenshots/<name>.png."""
    person.open(path)
    person.check()
    person.page.screenshot(path=str(OUT / f"{name}.png"), full_page=True)
    print(f"docs/screenshots/{name}.png  {path}")


def take(browser: Browser, node: NodeServer) -> None:
    """Fill the node through its pages and photograph them."""
    node.run(
        "add-member",
        "rosa",
        "rosa@example.org",
        "--name",
        "Rosa",
        "--password",
        PASSWORD,
        "--steward-days",
        "30",
    )
    ana, ben, rosa = Person(browser, node), Person(browser, node), Person(browser, node)
    shoot(ana, "/", "welcome")
    join(ana, "ana", "Ana")
    post_need(ana, "Rice for a family of four")
    bread = post_need(ana, "Bread for the weekend", quantity="2", unit="item")
    join(ben, "ben", "Ben")
    answer_need(ben, "Rice for a family of four", "A bag of rice")
    match = ben.page.url
    post_need(ben, "Fresh bread every Saturday", quantity="4", unit="item", offer=True)
    ana.open(match)
    ana.page.get_by_role("button", name="Agree").click()
    log_in(rosa, "rosa")
    page = rosa.open("/assemblies/new")
    page.get_by_label("Name").fill("Street assembly")
    page.get_by_label("How we decide").select_option("consensus")
    page.get_by_role("button", name="Call it").click()
    page.get_by_label("In a few words").fill("Plant trees on the corner")
    page.get_by_label("The proposal").fill("Four trees, planted together in March.")
    page.get_by_role("button", name="Propose").click()
    proposal = page.url
    page.get_by_label("Agree", exact=True).check()
    page.get_by_role("button", name="Take this position").click()

    shoot(ana, "/", "home")
    shoot(ben, "/needs", "needs")
    shoot(ana, bread, "need")
    shoot(ana, "/needs/new", "post-need")
    shoot(ben, match, "match")
    shoot(rosa, proposal, "proposal")
    shoot(ana, "/me", "my-data")
    shoot(ben, "/needs?lang=es", "needs-es")
    shoot(rosa, "/situation?lang=en", "situation")
    delegate = json.loads(node.python("tests.web.delegate_seeds", "rosa"))
    shoot(rosa, delegate["elect"], "elect-delegate")
    shoot(rosa, delegate["mandate"], "mandate")
    shoot(rosa, delegate["council"], "council-question")
    for person in (ana, ben, rosa):
        person.close()


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as root:
        node = NodeServer(Path(root), name="Riverside")
        node.start()
        try:
            with sync_playwright() as playwright:
                browser = chromium.launch(playwright)
                take(browser, node)
                browser.close()
        finally:
            node.stop()


if __name__ == "__main__":
    main()
