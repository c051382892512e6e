"""A delegate's pages: the mandate, taking it up with a key, report-backs, the council."""

from __future__ import annotations

import re
import uuid
from typing import Any

from sqlalchemy import select

from node.assemblies.models import Minute
from node.db import session_scope
from tests.web import seeds
from tests.web.pages import location, member_pages, text


def test_a_delegate_sees_the_mandate_takes_it_up_and_reports_back(app: Any) -> None:
    dee, eli = member_pages(app, "dee"), member_pages(app, "eli")
    mandate_id = seeds.mandate(app, "dee")
    path = f"/mandates/{mandate_id}"
    listed = text(dee.get("/mandates"))
    assert "Your mandates" in listed and path in listed and "Waiting for the delegate's key" in listed
    page = text(dee.get(path))
    assert "Your mandate to" in page and "relief" in page and "housing" in page
    assert "On relief: <strong>For</strong>, “Share the generators”" in page
    assert "your own judgement" in page
    assert eli.post(path + "/key", token_from=path).status_code == 403
    issued = dee.post(path + "/key", token_from=path)
    assert issued.status_code == 200
    issued_page = text(issued)
    assert "shown only now" in issued_page and "<strong>Live</strong>" in issued_page
    assert "@dee to" in text(eli.get("/mandates"))
    assert eli.post(path + "/report", {"text": "Hi"}, token_from=path).status_code == 403
    empty = dee.post(path + "/report", {"text": " "}, token_from=path)
    assert empty.status_code == 422 and "Fill this in." in text(empty)
    sent = dee.post(path + "/report", {"text": "The council shares the generators."}, token_from=path)
    assert location(sent) == path
    assert "The council shares the generators." in text(eli.get(path))
    with session_scope(app) as db:
        assert db.scalars(select(Minute.text).where(Minute.kind == "report")).all() == [
            "The council shares the generators."
        ]


def test_council_pages_and_spanish(app: Any) -> None:
    dee = member_pages(app, "dee")
    page = text(dee.get("/council"))
    assert "Federation council" in page and "No open question." in page
    assert dee.get("/council/00000000-0000-0000-0000-000000000000").status_code == 404
    assert "Delegados" in text(dee.get("/mandates?lang=es"))


def test_members_petition_for_a_recall_and_the_vote_opens_at_the_threshold(app: Any) -> None:
    dee, eli, fay, gus = (member_pages(app, h) for h in ("dee", "eli", "fay", "gus"))
    mandate_id = seeds.mandate(app, "dee")
    path = f"/mandates/{mandate_id}"
    page = text(eli.get(path))
    assert "Recall this delegate" in page and "Open a petition and sign it" in page
    empty = eli.post(path + "/petition", {"petition_reason": " "}, token_from=path)
    assert empty.status_code == 422 and "Fill this in." in text(empty)
    assert eli.client.post(path + "/petition", data={"petition_reason": "x"}).status_code == 400
    opened = eli.post(path + "/petition", {"petition_reason": "Missed three councils"}, token_from=path)
    assert location(opened) == path + "#recall-h"
    page = text(eli.get(path))
    assert (
        "“Missed three councils”" in page and "1 of 3 signatures needed." in page and "You signed it." in page
    )
    again = eli.post(path + "/petition", {"petition_reason": "Again"}, token_from=path)
    assert again.status_code == 422 and "already open" in text(again)
    sign = re.search(r'action="(/petitions/[^"]+/sign)"', fay.get(path).get_data(as_text=True))
    assert sign is not None
    assert location(fay.post(sign.group(1), token_from=path)) == path + "#recall-h"
    twice = fay.post(sign.group(1), token_from=path)
    assert twice.status_code == 422 and "already signed" in text(twice)
    assert location(gus.get(sign.group(1).removesuffix("/sign"))) == path + "#recall-h"
    vote = location(gus.post(sign.group(1), token_from=path))
    assert vote.startswith("/proposals/")
    proposal = text(gus.get(vote))
    assert "Recall dee" in proposal and "Missed three councils" in proposal
    assert "A recall vote is open." in text(dee.get(path))
    assert "Hay una votación de revocación abierta." in text(dee.get(path + "?lang=es"))


def test_a_member_puts_a_recall_straight_to_the_assembly(app: Any) -> None:
    member_pages(app, "dee")
    eli = member_pages(app, "eli")
    mandate_id = seeds.mandate(app, "dee")
    path = f"/mandates/{mandate_id}"
    missing = eli.post(path + "/recall", {"recall_reason": ""}, token_from=path)
    assert missing.status_code == 422 and "Fill this in." in text(missing)
    vote = location(
        eli.post(path + "/recall", {"recall_reason": "Voted against the mandate"}, token_from=path)
    )
    assert "Voted against the mandate" in text(eli.get(vote))
    page = text(eli.get(path))
    assert "A recall vote is open." in page and "Put the recall to the assembly now" not in page
    with session_scope(app) as db:
        assert db.scalars(select(Minute.kind).where(Minute.kind == "proposal")).all()


def _federation(app: Any) -> str:
    from federation.models import Peer, Relation
    from tests.federation.outbox_support import new_node_id

    node_id = new_node_id()
    with session_scope(app) as db:
        db.add(
            Peer(id=node_id, name="City federation", url=None, relation=Relation.FEDERATION, fingerprint="x")
        )
    return node_id


def test_an_assembly_elects_a_delegate_with_a_mandate(app: Any) -> None:
    from delegates.models import Mandate

    ada = member_pages(app, "ada", steward=True)
    member_pages(app, "nadia")
    federation = _federation(app)
    made = ada.post(
        "/assemblies/new",
        {"title": "Street assembly", "kind": "standing", "method": "majority"},
        token_from="/assemblies/new",
    )
    assembly = location(made)
    assert "Elect a delegate to a federation" in text(ada.get(assembly))
    path = assembly + "/elect"
    form = text(ada.get(path))
    assert "City federation" in form and "@nadia" in form and "Positions to carry" in form
    election = {
        "federation": federation,
        "delegate": "nadia",
        "scope": "Relief, housing",
        "term_days": "30",
        "pos0_topic": "relief",
        "pos0_stance": "for",
        "pos0_note": "Share the generators",
        "pos1_topic": "housing",
        "pos1_stance": "free",
        "pos1_allowed": ["for", "abstain"],
    }
    too_long = ada.post(path, {**election, "term_days": "200"}, token_from=path)
    assert too_long.status_code == 422 and "at most 90 days" in text(too_long)
    no_scope = ada.post(path, {**election, "scope": " "}, token_from=path)
    assert no_scope.status_code == 422 and "Write one or more topics" in text(no_scope)
    both = ada.post(
        path, {**election, "pos2_topic": "food", "pos2_question": str(uuid.uuid4())}, token_from=path
    )
    assert both.status_code == 422 and "not both" in text(both)
    assert ada.client.post(path, data=election).status_code == 400
    proposal = location(ada.post(path, election, token_from=path))
    page = text(ada.get(proposal))
    assert "Delegate to City federation: @nadia" in page and "relief, housing" in page
    assert "On relief: <strong>For</strong>, “Share the generators”" in page
    assert "the delegate's own judgement (For, Abstain)" in page
    ada.post(proposal + "/position", {"stance": "for"}, token_from=proposal)
    assert location(ada.post(proposal + "/close", token_from=proposal)) == proposal
    with session_scope(app) as db:
        mandate = db.scalars(select(Mandate)).one()
        assert (mandate.delegate_handle, mandate.federation, mandate.scope) == (
            "nadia",
            federation,
            ["relief", "housing"],
        )
        assert mandate.positions[1] == {
            "topic": "housing",
            "stance": "free",
            "allowed": ["for", "abstain"],
            "note": "",
        }
    again = ada.post(path, election, token_from=path)
    assert again.status_code == 422 and "already holds a live mandate" in text(again)


def test_every_delegate_and_relief_page_answers_in_both_languages(app: Any) -> None:
    from tests.web.delegate_seeds import delegate_pages

    dee = member_pages(app, "dee")
    pages = delegate_pages(app, "dee")
    expected = {
        "mandate": "1 of 3 signatures needed.",
        "elect": "City federation",
        "council": "Act as delegate",
        "incident": "Drinking water",
        "pledge": "Pledge against a need",
    }
    for name, path in pages.items():
        joiner = "&" if "?" in path else "?"
        response = dee.get(f"{path}{joiner}lang=en")
        assert response.status_code == 200 and expected[name] in text(response), name
        assert len(response.data) < 100 * 1024
        assert dee.get(f"{path}{joiner}lang=es").status_code == 200
    dee.get("/?lang=en")
    unsigned = dee.post(
        pages["council"] + "/prepare", {"act": "vote", "stance": "for"}, token_from=pages["council"]
    )
    assert unsigned.status_code == 200 and "The act to sign" in text(unsigned)
