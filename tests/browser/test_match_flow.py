"""In a real browser on a real node: a member joins, posts a need, another offers, they match."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.browser.steps import answer_need, join, log_in, post_need, unique


def test_a_member_joins_posts_a_need_another_offers_and_they_match(people: Any) -> None:
    ana, ben = people(), people()
    ana_handle, ben_handle = unique("ana"), unique("ben")
    join(ana, ana_handle, "Ana")
    need = post_need(ana, "Rice for four")
    join(ben, ben_handle, "Ben")
    answer_need(ben, "Rice for four", "A bag of rice")
    expect(ben.page.get_by_text(f"Waiting for @{ana_handle} to answer.")).to_be_visible()

    page = ana.open("/")
    expect(page.get_by_role("heading", name="1 proposal waits for your answer")).to_be_visible()
    page.get_by_role("link", name="Rice for four ↔ A bag of rice").click()
    ana.check()
    expect(page.get_by_text("I can bring it tonight")).to_be_visible()
    page.get_by_role("button", name="Agree").click()
    expect(page.get_by_role("status")).to_contain_text("You agreed. Now get in touch.")
    expect(page.get_by_role("heading", name="How to reach Ben")).to_be_visible()
    expect(page.get_by_role("link", name=f"{ben_handle}@example.org")).to_be_visible()
    ana.check()

    ben.page.reload()
    expect(ben.page.get_by_role("link", name=f"{ana_handle}@example.org")).to_be_visible()
    ben.page.get_by_label("How did it go?").fill("Delivered, thanks")
    ben.page.get_by_role("button", name="It happened: mark as done").click()
    expect(ben.page.get_by_role("status")).to_contain_text("Marked as done.")
    ben.check()

    ana.open(need)
    expect(ana.page.get_by_text("Done", exact=True).first).to_be_visible()
    ana.check()


def test_the_same_flow_works_without_javascript(people: Any) -> None:
    cat, dan = people(java_script_enabled=False), people(java_script_enabled=False)
    cat_handle = unique("cat")
    join(cat, cat_handle, "Cat")
    post_need(cat, "A ladder for Saturday", quantity="1", unit="item")
    join(dan, unique("dan"), "Dan")
    answer_need(dan, "A ladder for Saturday", "My ladder")
    log_in(cat, cat_handle)
    page = cat.open("/matches")
    page.get_by_role("link", name="A ladder for Saturday ↔ My ladder").click()
    page.get_by_role("button", name="Agree").click()
    expect(page.get_by_role("heading", name="How to reach Dan")).to_be_visible()


def test_spanish_speakers_get_the_pages_in_spanish(people: Any) -> None:
    eva = people(locale="es-ES")
    page = eva.open("/")
    expect(page.locator("html")).to_have_attribute("lang", "es")
    page.get_by_role("link", name="Unirse").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Únete a")
    eva.check()
