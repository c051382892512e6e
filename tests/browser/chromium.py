"""Debian's Chromium driven by Playwright, and the axe-core accessibility check.

Playwright is used only as a driver: the browser is the system's `/usr/bin/chromium`, and
axe-core comes from the npm package installed beside these tests (`make browser`). When either
is missing the tests fail with the command that installs it; they never skip.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, BrowserContext, Page, Playwright

CHROMIUM = Path("/usr/bin/chromium")
AXE = Path(__file__).resolve().parent / "node_modules" / "axe-core" / "axe.min.js"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]
# A small phone: what most members will hold.
PHONE: dict[str, Any] = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 1,
    "is_mobile": True,
    "has_touch": True,
}
# WCAG 2.0, 2.1 and 2.2 at levels A and AA.
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
FAILING_IMPACTS = ("serious", "critical")


class MissingTool(AssertionError):
    """Something the browser tests need is not installed."""


def launch(playwright: Playwright) -> Browser:
    """Start headless Chromium from Debian's package."""
    if not CHROMIUM.exists():
        raise MissingTool(f"{CHROMIUM} is missing: run `make browser` (apt-get install chromium)")
    return playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)


def phone(browser: Browser, base_url: str, **options: Any) -> BrowserContext:
    """A fresh phone-sized browser profile (its own cookies) pointed at a node."""
    context = browser.new_context(base_url=base_url, **{"locale": "en-GB", **PHONE, **options})
    context.set_default_timeout(15_000)
    return context


def axe_source() -> str:
    """axe-core's script, from the npm package."""
    if not AXE.exists():
        raise MissingTool(f"{AXE} is missing: run `make browser` (npm ci in tests/browser)")
    return AXE.read_text()


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """Run axe-core on the page for WCAG 2.2 A and AA; returns every violation found."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(axe_source())
    run = "async (tags) => await axe.run(document, {runOnly: {type: 'tag', values: tags}})"
    result = page.evaluate(run, AXE_TAGS)
    violations: list[dict[str, Any]] = result["violations"]
    return violations


def assert_accessible(page: Page) -> None:
    """Fail on any serious or critical WCAG violation, naming the rule and the elements."""
    bad = [v for v in axe_violations(page) if v.get("impact") in FAILING_IMPACTS]
    if bad:
        summary = [
            {
                "rule": v["id"],
                "impact": v["impact"],
                "help": v["help"],
                "nodes": [n["target"] for n in v["nodes"][:5]],
            }
            for v in bad
        ]
        raise AssertionError(f"{page.url}: accessibility violations\n{json.dumps(summary, indent=2)}")
