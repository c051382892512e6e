"""Assemblies through the pages: calling one, proposing, taking positions, deciding."""

from __future__ import annotations

import re
from typing import Any

from tests.web.pages import location, member_pages, text


def _call(steward: Any, **kw: Any) -> str:
    form = {
        "title": "Monthly assembly",
        "description": "Everything about the street",
        "kind": "standing",
        "method": "majority",
    }
    form.update(kw)
    return location(steward.post("/assemblies/new", form, token_from="/assemblies/new"))


def _propose(member: Any, assembly: str, title: str = "Buy a shared freezer") -> str:
    form = {"title": title, "text": "For the community kitchen.\nUp to 300 euros."}
    return location(member.post(assembly + "/proposals", form, token_from=assembly))


def test_only_stewards_call_assemblies(app: Any) -> None:
    ann = member_pages(app, "ann")
    assert ann.get("/assemblies/new").status_code == 403
    assert "Call an assembly" not in text(ann.get("/assemblies"))
    stew = member_pages(app, "stew", steward=True)
    assert "Call an assembly" in text(stew.get("/assemblies"))
    bad = stew.post(
        "/assemblies/new",
        {"title": "", "kind": "scheduled", "method": "majority"},
        token_from="/assemblies/new",
    )
    assert bad.status_code == 422 and "Fill this in." in text(bad)


def test_an_assembly_votes(app: Any) -> None:
    stew, ann, ben = (
        member_pages(app, "stew", steward=True),
        member_pages(app, "ann"),
        member_pages(app, "ben"),
    )
    assembly = _call(stew)
    page = text(ann.get(assembly))
    assert "In session" in page and "Majority: more for than against" in page
    assert "Monthly assembly" in text(ann.get("/assemblies"))
    proposal = _propose(ann, assembly)
    assert re.fullmatch(r"/proposals/[0-9a-f-]{36}", proposal)
    assert "Buy a shared freezer" in text(ben.get(assembly))
    for member, stance in ((ann, "for"), (ben, "for"), (stew, "against")):
        response = member.post(proposal + "/position", {"stance": stance}, token_from=proposal)
        assert location(response) == proposal
    again = ben.post(proposal + "/position", {"stance": "against"}, token_from=proposal)
    assert again.status_code == 422
    page = text(ann.get(proposal))
    assert "You said: For." in page and "If it were decided now: Passed" in page and "@ben: For" in page
    assert location(ann.post(proposal + "/close", token_from=proposal)) == proposal
    decided = text(stew.get(proposal))
    assert "Decision" in decided and "Passed" in decided
    assert "Decided" in text(stew.get(assembly)) and "proposed" in text(stew.get(assembly))


def test_consensus_block_needs_a_reason_and_stops_it(app: Any) -> None:
    stew, ann = member_pages(app, "stew", steward=True), member_pages(app, "ann")
    assembly = _call(stew, method="consensus")
    proposal = _propose(stew, assembly)
    page = text(ann.get(proposal))
    assert "Agree" in page and "Block" in page and "Against" not in page
    refused = ann.post(proposal + "/position", {"stance": "block"}, token_from=proposal)
    assert refused.status_code == 422
    blocked = ann.post(
        proposal + "/position", {"stance": "block", "reason": "Too expensive"}, token_from=proposal
    )
    assert location(blocked) == proposal
    assert location(stew.post(proposal + "/close", token_from=proposal)) == proposal
    assert "Blocked" in text(ann.get(proposal))


def test_agenda_withdraw_and_closing_the_assembly(app: Any) -> None:
    stew, ann = member_pages(app, "stew", steward=True), member_pages(app, "ann")
    assembly = _call(stew)
    assert (
        location(ann.post(assembly + "/agenda", {"point": "Street party"}, token_from=assembly)) == assembly
    )
    assert "Street party" in text(stew.get(assembly))
    proposal = _propose(ann, assembly)
    assert ann.post(assembly + "/close", token_from=assembly).status_code == 403
    assert location(ann.post(proposal + "/withdraw", token_from=proposal)) == proposal
    assert "Withdrawn" in text(stew.get(proposal))
    assert location(stew.post(assembly + "/close", token_from=assembly)) == assembly
    assert "Make a proposal" not in text(ann.get(assembly))


def test_scheduled_assembly_opens_by_hand(app: Any) -> None:
    stew = member_pages(app, "stew", steward=True)
    assembly = _call(stew, kind="scheduled", starts_at="2031-05-01T18:00", location="Community hall")
    page = text(stew.get(assembly))
    assert "Coming up" in page and "Community hall" in page and "2031" in page
    assert location(stew.post(assembly + "/open", token_from=assembly)) == assembly
    assert "In session" in text(stew.get(assembly))
