"""The relief situation of the node's area and the pledges between nodes, as pages."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from federation.models import Pledge, PledgeStatus
from node.db import session_scope, utcnow
from tests.web.pages import location, member_pages, need_form, text


def test_situation_counts_open_needs_and_maps_them(app: Any) -> None:
    ada = member_pages(app, "ada")
    empty = text(ada.get("/situation"))
    assert "0 needs are open on this node." in empty and "<svg" in empty
    for urgency in ("emergency", "urgent", "routine"):
        ada.post(
            "/needs/new", need_form(title=f"Water ({urgency})", urgency=urgency), token_from="/needs/new"
        )
    response = ada.get("/situation")
    page = text(response)
    assert "3 needs are open on this node." in page
    assert "Water (emergency)" in page and "Water (routine)" not in page.split("Urgent, waiting longest")[1]
    assert 'role="img"' in page and "3 open needs in 1 areas" in page
    assert len(response.data) < 100 * 1024
    assert "Hay 3 necesidades abiertas en este nodo." in text(ada.get("/situation?lang=es"))


def test_pledges_made_and_received(app: Any) -> None:
    ada = member_pages(app, "ada")
    with session_scope(app) as db:
        db.add(
            Pledge(
                id=uuid.uuid4(),
                owner_node="ma1" + "b" * 32,
                listing_id=uuid.uuid4(),
                listing_kind="need",
                pledger_node="ma1" + "c" * 32,
                quantity=20,
                unit="litre",
                status=PledgeStatus.ACCEPTED,
                lease_until=utcnow() + timedelta(hours=1),
            )
        )
    page = text(ada.get("/pledges"))
    assert "Received from other nodes" in page and "20 litres" in page and "Accepted" in page


def test_an_incident_situation_view(app: Any) -> None:
    from federation.incidents import Incident
    from tests.web.pages import CELL

    ada = member_pages(app, "ada")
    incident_id = uuid.uuid4()
    with session_scope(app) as db:
        db.add(
            Incident(
                id=incident_id,
                federation="ma1" + "d" * 32,
                kind="flood",
                title="River flood",
                cells=[CELL],
                starts_at=utcnow() - timedelta(hours=1),
                ends_at=utcnow() + timedelta(days=2),
                authority="council",
            )
        )
    listed = text(ada.get("/situation"))
    assert "River flood" in listed and "Live" in listed
    response = ada.get(f"/incidents/{incident_id}")
    page = text(response)
    assert response.status_code == 200 and "River flood" in page and "Unmet need by area" in page
    assert "needs not yet met" in page and "<svg" in page
    assert len(response.data) < 100 * 1024
    assert ada.get(f"/incidents/{uuid.uuid4()}").status_code == 404


def _federation_node(app_factory: Any) -> Any:
    from tests.incidents.helpers import AREA

    return app_factory(role="federation", federation_area_cells=[AREA])


def _responder(app: Any, handle: str) -> Any:
    """A member on the federation's rapid-response roster, logged in."""
    from sqlalchemy import select

    from federation.incidents import RAPID_RESPONSE
    from node.members.models import Member
    from node.projects import schemas as project_schemas
    from node.projects import service as projects

    browser = member_pages(app, handle)
    with session_scope(app) as db:
        person = db.scalars(select(Member).where(Member.handle == handle)).one()
        projects.create_project(
            db,
            app.config["MUTUALAID"],
            person,
            project_schemas.ProjectIn(
                name="Rapid response", slug="rapid-response", template=RAPID_RESPONSE, create_shifts=False
            ),
        )
    return browser


def test_stewards_declare_an_incident_by_council_decision_and_close_it(app_factory: Any) -> None:
    from tests.incidents.helpers import AREA, OUTSIDE, passed_decision

    fed = _federation_node(app_factory)
    stew, walt = member_pages(fed, "stew", steward=True), member_pages(fed, "walt")
    assert "Declare an incident" in text(stew.get("/situation"))
    assert "Declare an incident" not in text(walt.get("/situation"))
    assert walt.get("/incidents/new").status_code == 403
    form = text(stew.get("/incidents/new"))
    assert (
        AREA in form and "The council, by a decision it passed" in form and "rapid-response team" not in form
    )
    declaration = {
        "title": "Spree flood",
        "kind": "flood",
        "cells": AREA,
        "starts": "2030-01-01T10:00",
        "ends": "2030-01-04T10:00",
        "authority": "council",
    }
    no_decision = stew.post("/incidents/new", declaration, token_from="/incidents/new")
    assert no_decision.status_code == 422 and "Choose the council&#39;s decision" in text(no_decision)
    decision = passed_decision(fed)
    outside = stew.post(
        "/incidents/new", {**declaration, "decision": decision, "cells": OUTSIDE}, token_from="/incidents/new"
    )
    assert outside.status_code == 422 and "outside the federation&#39;s area" in text(outside)
    backwards = stew.post(
        "/incidents/new",
        {**declaration, "decision": decision, "ends": "2029-12-31T10:00"},
        token_from="/incidents/new",
    )
    assert backwards.status_code == 422 and "The end must come after the start." in text(backwards)
    path = location(
        stew.post("/incidents/new", {**declaration, "decision": decision}, token_from="/incidents/new")
    )
    page = text(stew.get(path))
    assert "Spree flood" in page and "Close with the council" in page and "Ratify" not in page
    assert "Close the incident" not in text(walt.get(path))
    assert walt.post(path + "/close", {"decision": decision}, token_from=path).status_code == 403
    closed = stew.post(
        path + "/close", {"decision": decision, "reason": "The water is down"}, token_from=path
    )
    assert location(closed) == path
    assert "Closed" in text(stew.get(path)) and "Close the incident" not in text(stew.get(path))


def test_the_rapid_response_team_declares_under_the_emergency_rule_and_the_council_ratifies(
    app_factory: Any,
) -> None:
    from tests.incidents.helpers import AREA, passed_decision

    fed = _federation_node(app_factory)
    rita, stew = _responder(fed, "rita"), member_pages(fed, "stew", steward=True)
    form = text(rita.get("/incidents/new"))
    assert "under the emergency rule" in form and "The council, by a decision it passed" not in form
    declaration = {
        "title": "Power cut",
        "kind": "power_cut",
        "cells": AREA,
        "starts": "2030-01-01T10:00",
        "ends": "2030-01-02T10:00",
        "authority": "emergency",
    }
    bad_kind = rita.post("/incidents/new", {**declaration, "kind": "Power cut!"}, token_from="/incidents/new")
    assert bad_kind.status_code == 422 and "One word in small letters" in text(bad_kind)
    path = location(rita.post("/incidents/new", declaration, token_from="/incidents/new"))
    assert "Power cut" in text(rita.get(path))
    assert "Ratify" not in text(stew.get(path))  # not yet started: pending, nothing to ratify
    assert "Declarar un incidente" in text(rita.get("/situation?lang=es"))
    declared_now = {**declaration, "title": "Storm", "kind": "storm", "starts": "2020-01-01T10:00"}
    storm = location(rita.post("/incidents/new", declared_now, token_from="/incidents/new"))
    assert "The council has passed no decision yet" in text(stew.get(storm))
    decision = passed_decision(fed)
    assert "Ratify with the council" in text(stew.get(storm))
    assert location(stew.post(storm + "/ratify", {"decision": decision}, token_from=storm)) == storm
    assert "Live" in text(stew.get(storm))


def test_a_member_pledges_against_a_need_of_another_node(app: Any) -> None:
    from federation.models import Peer, Relation, RemoteListing
    from tests.federation.outbox_support import new_node_id

    ada = member_pages(app, "ada")
    owner, listing = new_node_id(), uuid.uuid4()
    with session_scope(app) as db:
        db.add(Peer(id=owner, name="Riverside", url=None, relation=Relation.PEER, fingerprint="x"))
        db.add(
            RemoteListing(
                node_id=owner,
                listing_id=listing,
                kind="need",
                category="water",
                title="Drinking water",
                quantity=40,
                unit="litre",
                urgency="urgent",
                h3_cell="881f1d4815fffff",
                handle="river1",
                version_seq=1,
            )
        )
    page = text(ada.get("/pledges"))
    assert "Needs on other nodes" in page and "Drinking water" in page and "Riverside" in page
    form = f"/pledges/new?node={owner}&listing={listing}"
    assert "40 litres" in text(ada.get(form))
    assert ada.get(f"/pledges/new?node={owner}&listing={uuid.uuid4()}").status_code == 404
    assert ada.get(f"/pledges/new?node={owner}&listing=nope").status_code == 404
    offer = {"node": owner, "listing": str(listing), "quantity": "50"}
    too_much = ada.post("/pledges/new", offer, token_from=form)
    assert too_much.status_code == 422 and "at most 40" in text(too_much)
    sent = ada.post("/pledges/new", {**offer, "quantity": "20", "note": "Two crates"}, token_from=form)
    assert location(sent) == "/pledges"
    page = text(ada.get("/pledges"))
    assert "Made by this node" in page
    assert "20 litres · Riverside · <strong>Waiting for an answer</strong>" in page
    with session_scope(app) as db:
        from sqlalchemy import select

        pledge = db.scalars(select(Pledge)).one()
        assert (pledge.owner_node, pledge.listing_id, pledge.quantity, pledge.note) == (
            owner,
            listing,
            20,
            "Two crates",
        )


def test_the_federation_pages_the_browser_checks_answer(app_factory: Any) -> None:
    from tests.web.delegate_seeds import federation_pages

    fed = _federation_node(app_factory)
    rita = member_pages(fed, "rita")
    pages = federation_pages(fed, "rita")
    declare = text(rita.get(pages["declare"]))
    assert "The council, by a decision it passed" in declare and "under the emergency rule" in declare
    assert "Declare the flood" in declare
    incident = text(rita.get(pages["incident"]))
    assert "Ratify with the council" in incident and "Close with the council" in incident
