"""Declaring, ratifying, lapsing and closing incidents; their news in the priority lane."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from federation import incidents
from federation.envelope import now
from federation.incidents import Incident
from federation.models import Envelope
from node.db import session_scope
from node.errors import Forbidden, InvalidState, NotFound, ValidationFailed
from tests.federation.network import Network, member
from tests.incidents.helpers import AREA, CELL, OUTSIDE, declare, passed_decision, region, responder
from tests.incidents.helpers import steward as steward_of
from tests.node.factories import need


def stored(app: object, incident_id: str) -> Incident | None:
    with session_scope(app) as db:  # type: ignore[arg-type]
        row = db.get(Incident, uuid.UUID(incident_id))
        if row is not None:
            db.expunge(row)
        return row


def test_a_council_declaration_reaches_every_member(network: Network) -> None:
    fed, a, b = region(network)
    declared = declare(fed, decision=passed_decision(fed))
    assert declared["state"] == "live" and declared["authority"] == "council"
    network.pump()
    for app in (a, b):
        row = stored(app, declared["id"])
        assert row is not None and incidents.is_live(row) and row.cells == [AREA]
    with session_scope(fed) as db:
        kinds = {row.type: row.priority for row in db.scalars(select(Envelope))}
    assert kinds["incident.declared"] == 1


def test_an_area_outside_the_federations_is_refused_with_its_reason(network: Network) -> None:
    fed, _, _ = region(network)
    with pytest.raises(ValidationFailed) as caught:
        declare(fed, cells=[AREA, OUTSIDE], emergency=True)
    reasons = [(e.field, e.reason) for e in caught.value.errors]
    assert reasons == [("cells.1", "outside the federation's area")]
    with pytest.raises(ValidationFailed) as caught:
        declare(fed, cells=["not-a-cell"], emergency=True)
    assert caught.value.errors[0].reason == "not a valid H3 cell"
    with session_scope(fed) as db:
        assert db.scalars(select(Incident)).first() is None


def test_a_neighbourhood_node_or_a_federation_without_an_area_cannot_declare(network: Network) -> None:
    region(network)
    bare = network.node("bare", role="federation")
    with pytest.raises(ValidationFailed, match="no area set"):
        declare(bare, emergency=True)
    with pytest.raises(Forbidden):
        declare(network.nodes["a"], emergency=True)


def test_a_declaration_needs_a_passed_decision_or_the_emergency_rule(network: Network) -> None:
    fed, _, _ = region(network)
    with pytest.raises(ValidationFailed, match="council decision or under the emergency rule"):
        declare(fed)
    with pytest.raises(InvalidState, match="not passed"):
        declare(fed, decision=passed_decision(fed, outcome="rejected"))
    with pytest.raises(NotFound):
        declare(fed, decision=str(uuid.uuid4()))
    with pytest.raises(ValidationFailed):
        declare(fed, emergency=True, ends=now() - timedelta(days=1))


def test_an_emergency_declaration_lapses_unless_ratified(network: Network) -> None:
    fed, a, _ = region(network)
    declared = declare(fed, emergency=True)
    assert declared["state"] == "provisional"
    network.pump()
    row = stored(a, declared["id"])
    assert row is not None and row.ratify_by is not None
    assert incidents.is_live(row)
    assert not incidents.is_live(row, row.ratify_by + timedelta(seconds=1))
    assert incidents.state(row, row.ratify_by + timedelta(seconds=1)) == "lapsed"

    with fed.app_context(), session_scope(fed) as db:
        incidents.ratify(db, fed, uuid.UUID(declared["id"]), passed_decision(fed))
    network.pump()
    row = stored(a, declared["id"])
    assert row is not None and row.authority == "council" and row.ratify_by is None
    assert incidents.is_live(row, now() + timedelta(days=1))


def test_closing_is_a_decision_and_reaches_members(network: Network) -> None:
    fed, a, _ = region(network)
    declared = declare(fed, emergency=True)
    incident_id = uuid.UUID(declared["id"])
    with fed.app_context(), session_scope(fed) as db, pytest.raises(InvalidState):
        incidents.close(db, fed, incident_id, passed_decision(fed, outcome="no_quorum"))
    with fed.app_context(), session_scope(fed) as db:
        incidents.close(db, fed, incident_id, passed_decision(fed), reason="water receded")
    network.pump()
    row = stored(a, declared["id"])
    assert row is not None and incidents.state(row) == "closed" and row.close_reason == "water receded"


def test_news_inside_a_live_incident_travels_in_the_priority_lane_at_every_hop(network: Network) -> None:
    fed, a, b = region(network)
    poster = member(a, "ann")
    before = poster.post("/needs", json=need(title="Before", h3_cell=CELL)).get_json()
    declare(fed, decision=passed_decision(fed))
    network.pump()
    during = poster.post("/needs", json=need(title="During", h3_cell=CELL)).get_json()
    network.pump()

    def lanes(app: object) -> dict[str, int]:
        with session_scope(app) as db:  # type: ignore[arg-type]
            rows = db.scalars(select(Envelope).where(Envelope.type == "need.published"))
            return {row.raw.split('"listing_id":"')[1][:36]: row.priority for row in rows}

    for app in (a, fed, b):  # published, relayed, received
        assert lanes(app) == {before["id"]: 0, during["id"]: 1}


def test_the_emergency_rule_is_for_the_rapid_response_team(network: Network) -> None:
    fed, _, _ = region(network)
    member(fed, "walt")  # a member, on no roster
    responder(fed, "kim", template="community_kitchen")  # another project's working group
    for handle in ("walt", "kim"):
        with pytest.raises(Forbidden, match="rapid-response team"):
            declare(fed, by=handle, emergency=True)
    with pytest.raises(Forbidden, match="rapid-response team"):
        declare(fed, emergency=True, by="")  # nobody named
    responder(fed, "rita")
    declared = declare(fed, by="rita", emergency=True)
    assert declared["state"] == "provisional" and declared["authority"] == "emergency"
    # The council ratifies it afterwards.
    with fed.app_context(), session_scope(fed) as db:
        incidents.ratify(db, fed, uuid.UUID(declared["id"]), passed_decision(fed))
        assert incidents.state(db.get(Incident, uuid.UUID(declared["id"]))) == "live"  # type: ignore[arg-type]


def test_a_paused_rapid_response_team_declares_nothing(network: Network) -> None:
    from node.projects.models import Project, ProjectStatus

    fed, _, _ = region(network)
    responder(fed, "rita")
    with session_scope(fed) as db:
        project = db.scalar(select(Project).where(Project.template == incidents.RAPID_RESPONSE))
        assert project is not None
        project.status = ProjectStatus.PAUSED
    with pytest.raises(Forbidden):
        declare(fed, by="rita", emergency=True)
    with session_scope(fed) as db:
        assert db.scalars(select(Incident)).first() is None


def test_the_api_takes_an_emergency_declaration_from_the_roster_only(network: Network) -> None:
    fed, _, _ = region(network)
    body = {"kind": "flood", "title": "Spree flood", "cells": [AREA], "emergency": True,
            "starts": (now() - timedelta(minutes=1)).isoformat(),
            "ends": (now() + timedelta(days=2)).isoformat()}
    steward = steward_of(fed)
    refused = steward.post("/incidents", json=body)  # a steward is not the rapid-response team
    assert refused.status_code == 403, refused.get_json()
    assert "rapid-response team" in refused.get_json()["detail"]
    rita = responder(fed, "rita")
    created = rita.post("/incidents", json=body)
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["state"] == "provisional"
    # A council declaration still takes a steward, roster or not.
    refused = rita.post("/incidents", json={**body, "emergency": False, "decision": passed_decision(fed)})
    assert refused.status_code == 403
    assert steward.post(f"/incidents/{created.get_json()['id']}/ratify",
                        json={"decision": passed_decision(fed)}).status_code == 200


def test_the_cli_declares_an_emergency_for_the_roster_member_it_names(network: Network) -> None:
    import json

    from click.testing import CliRunner, Result

    from node.cli import cli
    from tests.conftest import TEST_SECRET

    fed, _, _ = region(network)
    responder(fed, "rita")
    member(fed, "walt")
    settings = fed.config["MUTUALAID"]
    instance = settings.instance_path
    values = {"env": "testing", "secret_key": TEST_SECRET, "database_url": settings.database_url,
              "public_url": settings.public_url, "role": "federation", "federation_area_cells": [AREA]}
    (instance / "mutualaid.toml").write_text("".join(f"{k} = {json.dumps(v)}\n" for k, v in values.items()))
    env: dict[str, str | None] = {"MUTUALAID_DATABASE_URL": None, "MUTUALAID_SECRET_KEY": None,
                                  "MUTUALAID_INSTANCE_PATH": None}

    def declare_by(*who: str) -> Result:
        args = ["--instance", str(instance), "incident", "declare", "--kind", "flood", "--title", "Flood",
                "--cell", AREA, "--emergency", *who]
        return CliRunner().invoke(cli, args, env=env)

    for who in ((), ("--by", "walt"), ("--by", "nobody")):
        refused = declare_by(*who)
        assert refused.exit_code == 1 and "rapid-response team" in refused.output, refused.output
    declared = declare_by("--by", "rita")
    assert declared.exit_code == 0, declared.output
    assert "(provisional)" in declared.output
    with session_scope(fed) as db:
        assert [row.authority for row in db.scalars(select(Incident))] == ["emergency"]
