"""What people do on the pages, step by step, as they would with their thumbs."""

from __future__ import annotations

import itertools

from playwright.sync_api import Page, expect

from tests.browser.conftest import Person

PASSWORD = "a long enough password"
CELL = "881f1d4815fffff"
_numbers = itertools.count(1)


def unique(handle: str) -> str:
    """A handle not used before on the module's node."""
    return f"{handle}{next(_numbers)}"


def join(person: Person, handle: str, name: str, path: str = "/join") -> None:
    """Fill in the join form and land on the home page."""
    page = person.open(path)
    person.check()
    page.get_by_label("Your name").fill(name)
    page.get_by_label("Short name").fill(handle)
    page.get_by_label("Email").fill(f"{handle}@example.org")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Join").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Hello, {name}")
    person.check()


def log_in(person: Person, handle: str) -> None:
    page = person.open("/login")
    page.get_by_label("Email").fill(f"{handle}@example.org")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Hello")


def post_need(person: Person, title: str, quantity: str = "2", unit: str = "kg", offer: bool = False) -> str:
    """Post a need (or an offer) from the home page; returns its address."""
    page = person.open("/")
    page.get_by_role("link", name="I can share something" if offer else "I need something").click()
    person.check()
    page.get_by_label("In a few words").fill(title)
    page.get_by_label("Kind").select_option("food")
    page.get_by_label("How many").fill(quantity)
    page.get_by_label("Of what").fill(unit)
    page.get_by_label("How urgent").select_option("urgent")
    page.get_by_label("Area").fill(CELL)
    page.get_by_role("button", name="Post").click()
    expect(page.get_by_role("status")).to_contain_text(
        "Your offer is posted." if offer else "Your need is posted."
    )
    person.check()
    return page.url


def answer_need(person: Person, title: str, what: str) -> None:
    """Find a need in the list and offer to help with it."""
    page = person.open("/needs")
    person.check()
    page.get_by_role("link", name=title).click()
    person.check()
    page.get_by_label("What you give").fill(what)
    page.get_by_label("A note for them").fill("I can bring it tonight")
    page.get_by_role("button", name="Offer to help").click()
    expect(page.get_by_role("status")).to_contain_text("Your proposal is sent.")
    person.check()


def open_page(page: Page, person: Person, path: str) -> None:
    person.open(path)
    person.check()
