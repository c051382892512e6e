"""A delegate acts at the council from the web pages: the page prepares the act, the delegate
signs it on their own device (`delegates.sign`), pastes it back, and the federation counts it."""

from __future__ import annotations

import html
import io
import json
import re
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from delegates import sign
from node.db import session_scope
from node.members.models import Member
from tests.delegates.conftest import Region, member, ok
from tests.web.pages import Pages, location, text

UNSIGNED = re.compile(r'<textarea id="f-unsigned" rows="10" readonly>(.*?)</textarea>', re.S)


@pytest.fixture
def app_factory(app_factory: Any) -> Any:
    """Nodes whose login limit lets the page tests log in as often as they need."""

    def make(**overrides: Any) -> Any:
        overrides.setdefault("login_rate_limit", "10000 per minute")
        return app_factory(**overrides)

    return make


def pages(app: Flask, handle: str) -> Pages:
    """The member's browser session, logged in through the form."""
    with session_scope(app) as db:
        email = db.scalar(select(Member.email).where(Member.handle == handle))
    browser = Pages(app.test_client(), handle)
    assert browser.login(str(email)).status_code == 303
    return browser


def prepared(response: Any) -> str:
    """The unsigned act a prepare page shows."""
    assert response.status_code == 200, text(response)[:600]
    found = UNSIGNED.search(response.get_data(as_text=True))
    assert found is not None
    return html.unescape(found.group(1))


def test_a_delegate_votes_at_the_council_with_an_act_signed_on_their_device(region: Region) -> None:
    nadia = region.elect("north", "nadia", positions=[{"topic": "relief", "stance": "for"}])
    proposal = region.open_proposal()
    region.pump()
    north = region.app("north")
    browser, path = pages(north, "nadia"), f"/council/{proposal['id']}"
    page = text(browser.get(path))
    assert "Act as delegate" in page and "Your mandate says: <strong>For</strong>" in page
    unsigned = prepared(
        browser.post(path + "/prepare", {"act": "vote", "stance": "against"}, token_from=path)
    )
    assert json.loads(unsigned)["stance"] == "against" and "sig" not in json.loads(unsigned)
    send = f"/mandates/{nadia.mandate_id}/acts"
    against = browser.post(
        send,
        {"unsigned": unsigned, "signed": sign.sign_prepared(unsigned, nadia.private_key)},
        token_from=path,
    )
    assert against.status_code == 422 and "against-mandate" in text(against)
    assert "The federation would refuse this act." in text(against)
    garbage = browser.post(send, {"unsigned": unsigned, "signed": "not json"}, token_from=path)
    assert garbage.status_code == 422 and "Paste the whole signed act" in text(garbage)
    unsigned = prepared(
        browser.post(path + "/prepare", {"act": "vote", "stance": "for", "text": "Yes"}, token_from=path)
    )
    signed = json.loads(sign.sign_prepared(unsigned, nadia.private_key))
    tampered = browser.post(
        send, {"unsigned": unsigned, "signed": json.dumps({**signed, "text": "No"})}, token_from=path
    )
    assert tampered.status_code == 422 and "wrong-key" in text(tampered)
    upload = {"unsigned": unsigned, "signed_file": (io.BytesIO(json.dumps(signed).encode()), "signed.json")}
    sent = browser.post(send, upload, token_from=path, content_type="multipart/form-data")
    assert location(sent) == path
    assert "@nadia" in text(browser.get(path)) and "“Yes”" in text(browser.get(path))
    region.pump()
    assert region.council("city", proposal["id"])["tally"]["counts"]["for"] == 1


def test_only_a_live_delegate_is_offered_the_council_forms(region: Region) -> None:
    region.elect("north", "nadia")
    proposal = region.open_proposal()
    region.pump()
    member(region.app("north"), "omar")
    omar, path = pages(region.app("north"), "omar"), f"/council/{proposal['id']}"
    assert "Act as delegate" not in text(omar.get(path))
    assert "Put a question to the council" not in text(omar.get("/council"))
    assert omar.post(path + "/prepare", {"act": "vote", "stance": "for"}, token_from=path).status_code == 403
    nadia = pages(region.app("north"), "nadia")
    empty = nadia.post(path + "/prepare", {"act": "statement"}, token_from=path)
    assert empty.status_code == 422 and "Fill this in." in text(empty)


def test_a_delegate_puts_a_question_to_the_council(region: Region) -> None:
    nadia = region.elect("north", "nadia", scope=["housing"])
    region.pump()
    browser = pages(region.app("north"), "nadia")
    assert "Put a question to the council" in text(browser.get("/council"))
    bad = browser.post(
        "/council/prepare", {"title": "Gym", "topic": "Housing!", "text": ""}, token_from="/council"
    )
    assert (
        bad.status_code == 422 and "Write a topic like relief" in text(bad) and "Fill this in." in text(bad)
    )
    form = {"title": "Open the school gym", "topic": "housing", "text": "As a shelter."}
    unsigned = prepared(browser.post("/council/prepare", form, token_from="/council"))
    signed = sign.sign_prepared(unsigned, nadia.private_key)
    sent = browser.post(
        f"/mandates/{nadia.mandate_id}/acts", {"unsigned": unsigned, "signed": signed}, token_from="/council"
    )
    assert location(sent) == "/council"
    region.pump()
    titles = [p["title"] for p in ok(region.stewards["north"].get("/council/proposals"))["items"]]
    assert titles == ["Open the school gym"]
    assert "Open the school gym" in text(browser.get("/council"))


def test_the_signing_command_reads_the_key_from_a_file(
    region: Region, tmp_path: Any, capsys: Any, monkeypatch: Any
) -> None:
    nadia = region.elect("north", "nadia")
    proposal = region.open_proposal()
    region.pump()
    browser, path = pages(region.app("north"), "nadia"), f"/council/{proposal['id']}"
    unsigned = prepared(browser.post(path + "/prepare", {"act": "vote", "stance": "for"}, token_from=path))
    key = tmp_path / "key.txt"
    key.write_text(nadia.private_key + "\n")
    monkeypatch.setattr("sys.stdin", io.StringIO(unsigned))
    assert sign.main([str(key)]) == 0
    signed = json.loads(capsys.readouterr().out)
    assert signed["sig"] and {k: v for k, v in signed.items() if k != "sig"} == json.loads(unsigned)
    monkeypatch.setattr("sys.stdin", io.StringIO("[]"))
    assert sign.main([str(key)]) == 1 and "not signed" in capsys.readouterr().err
    assert sign.main([]) == 2
