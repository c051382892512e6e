"""Every main page, in English and Spanish, checked with axe-core for WCAG 2.2 A and AA."""

from __future__ import annotations

import json
import re
from typing import Any

from playwright.sync_api import Browser, expect

from tests.browser import chromium
from tests.browser.server import NodeServer
from tests.browser.steps import answer_need, join, post_need, unique

PAGES = [
    "/",
    "/needs",
    "/offers",
    "/needs/new",
    "/offers/new",
    "/matches",
    "/inventory",
    "/inventory/new",
    "/me",
    "/me/erase",
    "/invite",
]


def test_axe_finds_a_known_violation(browser: Browser) -> None:
    context = browser.new_context()
    page = context.new_page()
    page.set_content('<html lang="en"><title>t</title><main><img src="data:,"><input></main></html>')
    rules = {v["id"] for v in chromium.axe_violations(page)}
    context.close()
    assert {"image-alt", "label"} <= rules


def test_main_pages_are_accessible_in_each_language(people: Any) -> None:
    visitor = people()
    for path in ("/", "/login", "/join", "/join?lang=es", "/login"):
        visitor.open(path)
        visitor.check()
    fay, gus = people(), people()
    join(fay, unique("fay"), "Fay")
    need = post_need(fay, "Nappies, size 4")
    join(gus, unique("gus"), "Gus")
    answer_need(gus, "Nappies, size 4", "A pack of nappies")
    match = gus.page.url
    for lang in ("en", "es"):
        for path in [*PAGES, need, need + "/edit"]:
            fay.open(f"{path}{'&' if '?' in path else '?'}lang={lang}")
            expect(fay.page.locator("html")).to_have_attribute("lang", lang)
            fay.check()
        gus.open(f"{match}?lang={lang}")
        gus.check()


def test_project_pages_are_accessible_in_each_language(people: Any, node: NodeServer) -> None:
    kit, visitor = people(), people()
    handle = unique("kit")
    join(kit, handle, "Kit")
    pages = json.loads(node.python("tests.web.project_seeds", handle))
    for lang in ("en", "es"):
        for path in ["/projects", "/stories", *pages["member"]]:
            kit.open(f"{path}?lang={lang}")
            expect(kit.page.locator("html")).to_have_attribute("lang", lang)
            kit.check()
        visitor.open(f"{pages['neighbour']}?lang={lang}")  # no account: through the link
        visitor.check()
    page = kit.open(pages["member"][2] + "?lang=en")  # needs chosen, but no area: the reason is announced
    page.get_by_label("Tools to borrow").check()
    page.get_by_label("Area").fill("")
    page.get_by_role("button", name="Send my answers").click()
    expect(page.get_by_role("alert")).to_be_visible()
    expect(page.get_by_label("Tools to borrow")).to_be_checked()
    kit.check()


def test_form_errors_are_announced_and_linked(people: Any) -> None:
    hal = people()
    join(hal, unique("hal"), "Hal")
    page = hal.open("/needs/new")
    page.get_by_label("In a few words").fill("")
    page.get_by_role("button", name="Post").click()
    summary = page.get_by_role("alert")
    expect(summary).to_be_visible()
    expect(summary).to_be_focused()
    page.get_by_role("link", name="Fill this in.").click()
    expect(page.get_by_label("In a few words")).to_be_focused()
    expect(page.get_by_label("In a few words")).to_have_attribute("aria-invalid", "true")
    hal.check()


def test_pages_load_nothing_from_elsewhere_and_break_no_policy(people: Any, node: Any) -> None:
    ivy = people()
    requested: list[str] = []
    ivy.page.on("request", lambda request: requested.append(request.url))
    join(ivy, unique("ivy"), "Ivy")
    post_need(ivy, "Bread")
    ivy.open("/offers")
    ivy.check()  # a CSP refusal would be a console error
    assert requested and all(
        re.match(re.escape(node.url) + r"/", url) or url.startswith("data:") for url in requested
    ), requested


def test_delegate_and_relief_pages_are_accessible_in_each_language(people: Any, node: NodeServer) -> None:
    dot = people()
    handle = unique("dot")
    join(dot, handle, "Dot")
    pages = json.loads(node.python("tests.web.delegate_seeds", handle))
    for lang in ("en", "es"):
        for path in ["/mandates", "/council", "/situation", "/pledges", *pages.values()]:
            dot.open(f"{path}{'&' if '?' in path else '?'}lang={lang}")
            expect(dot.page.locator("html")).to_have_attribute("lang", lang)
            dot.check()
    page = dot.open(f"{pages['council']}?lang=en")
    page.get_by_label("For", exact=True).check()
    page.get_by_role("button", name="Prepare it for signing").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign and send")
    dot.check()
    page.get_by_label("Paste the signed act").fill("not signed")
    page.get_by_role("button", name="Send to the federation").click()
    expect(page.get_by_role("alert")).to_be_visible()
    dot.check()
    page = dot.open(pages["elect"])
    page.get_by_label("Questions the mandate covers").fill("")
    page.get_by_role("button", name="Propose the election").click()
    expect(page.get_by_role("alert")).to_be_visible()
    dot.check()
    page = dot.open(pages["pledge"])
    page.get_by_label("How much this node gives").fill("400")
    page.get_by_role("button", name="Send the pledge").click()
    expect(page.get_by_role("alert")).to_be_visible()
    dot.check()
