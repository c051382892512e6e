"""Councils in one process: delegates' statements and proposals, quorum of member nodes,
closing on time, a new delegate after a recall, and a member node that counted differently."""

from __future__ import annotations

import uuid
from datetime import timedelta

from click.testing import CliRunner
from sqlalchemy import delete, update

from delegates import council
from delegates.models import Act, CouncilProposal
from node.cli import cli
from node.db import session_scope, utcnow
from tests.conftest import TEST_SECRET
from tests.delegates.conftest import Region, member, ok
from tests.node.factories import assert_problem


def test_a_delegate_proposes_and_another_makes_a_statement(region: Region) -> None:
    nadia = region.elect("north", "nadia", scope=["relief", "housing"])
    sami = region.elect("south", "sami", scope=["housing"])
    region.pump()
    act = sami.act("proposal", title="Open the school gym", text="As a shelter.", topic="housing")
    ok(sami.send(act), 201)
    region.pump()
    proposals = ok(region.stewards["north"].get("/council/proposals"))["items"]
    assert [p["title"] for p in proposals] == ["Open the school gym"]
    opened = proposals[0]
    assert opened["proposed_by_node"] == region.id("south")
    assert opened["document"]["proposed_by"]["mandate"] == sami.mandate_id
    assert opened["method"] == "majority"
    ok(nadia.send(nadia.act("statement", proposal=opened["id"], text="North can staff it at night.")), 201)
    region.pump()
    for name in ("north", "south", "city"):
        seen = region.council(name, opened["id"])
        statements = [a for a in seen["acts"] if a["kind"] == "statement"]
        assert [(a["delegate"], a["text"]) for a in statements] == [("nadia", "North can staff it at night.")]
        assert seen["tally"]["participants"] == 0


def test_quorum_is_a_share_of_member_nodes(region: Region) -> None:
    nadia = region.elect("north", "nadia")
    sami = region.elect("south", "sami")
    proposal = region.open_proposal(quorum_percent=100)
    assert proposal["quorum"] == 2
    region.pump()
    ok(nadia.send(nadia.vote(proposal["id"], "for")), 201)
    region.pump()
    assert region.council("city", proposal["id"])["tally"]["outcome"] == "no_quorum"
    ok(sami.send(sami.vote(proposal["id"], "for")), 201)
    region.pump()
    assert region.council("south", proposal["id"])["tally"]["outcome"] == "passed"


def test_closing_time_and_late_votes(region: Region) -> None:
    nadia = region.elect("north", "nadia")
    proposal = region.open_proposal(closes_at=(utcnow() + timedelta(hours=1)).isoformat())
    region.pump()
    ok(nadia.send(nadia.vote(proposal["id"], "for")), 201)
    region.pump()
    city = region.app("city")
    with session_scope(city) as db:
        assert council.close_due(db, city) == 0
        db.execute(
            update(CouncilProposal)
            .where(CouncilProposal.id == uuid.UUID(proposal["id"]))
            .values(closes_at=utcnow() - timedelta(seconds=1))
        )
    with session_scope(city) as db:
        assert council.close_due(db, city) == 1
    region.pump()
    decided = region.council("north", proposal["id"])
    assert decided["status"] == "decided" and decided["outcome"] == "passed"
    sami = region.elect("south", "sami")
    region.pump()
    body = ok(sami.send(sami.vote(proposal["id"], "against")), 422)
    assert body["reason"] == "proposal-closed"
    assert_problem(region.stewards["city"].post(f"/council/proposals/{proposal['id']}/close"), 422, "refused")


def test_after_a_recall_the_node_votes_through_its_new_delegate(region: Region) -> None:
    nadia = region.elect("north", "nadia")
    proposal = region.open_proposal()
    region.pump()
    ok(nadia.send(nadia.vote(proposal["id"], "against")), 201)
    north = region.stewards["north"]
    recall = ok(north.post(f"/mandates/{nadia.mandate_id}/recall-proposals", json={"reason": "r"}), 201)
    region.decide("north", recall, [north])
    nico = region.elect("north", "nico")
    region.pump()
    ok(nico.send(nico.vote(proposal["id"], "for")), 201)
    region.pump()
    for name in ("north", "south", "city"):
        tally = region.council(name, proposal["id"])["tally"]
        assert tally["counts"]["for"] == 1 and tally["counts"]["against"] == 0, name


def test_a_member_node_that_counted_differently_keeps_the_federations_decision(region: Region) -> None:
    nadia = region.elect("north", "nadia")
    proposal = region.open_proposal()
    region.pump()
    ok(nadia.send(nadia.vote(proposal["id"], "for")), 201)
    region.pump()
    with session_scope(region.app("south")) as db:  # south lost the vote somehow
        db.execute(delete(Act))
    ok(region.stewards["city"].post(f"/council/proposals/{proposal['id']}/close"))
    region.pump()
    seen = region.council("south", proposal["id"])
    assert seen["outcome"] == "passed" and seen["status"] == "decided"
    assert seen["disagreement"].startswith("this node counted no_quorum with 0 vote(s)")


def test_only_a_federation_has_a_council(region: Region) -> None:
    body = {"title": "x", "text": "y", "topic": "relief"}
    assert_problem(region.stewards["north"].post("/council/proposals", json=body), 422, "validation")
    plain = member(region.app("city"), "visitor")
    assert_problem(plain.post("/council/proposals", json=body), 403, "forbidden")
    proposal = region.open_proposal()
    region.pump()
    closing = region.stewards["north"].post(f"/council/proposals/{proposal['id']}/close")
    assert_problem(closing, 422, "validation", "proposal")
    assert_problem(plain.get(f"/council/proposals/{uuid.uuid4()}"), 404, "not-found")
    assert ok(plain.get("/council/proposals?status=open"))["total"] == 1


def test_close_due_command(region: Region) -> None:
    proposal = region.open_proposal(closes_at=(utcnow() + timedelta(hours=1)).isoformat())
    city = region.app("city")
    with session_scope(city) as db:
        db.execute(
            update(CouncilProposal)
            .where(CouncilProposal.id == uuid.UUID(proposal["id"]))
            .values(closes_at=utcnow() - timedelta(seconds=1))
        )
    settings = city.config["MUTUALAID"]
    env = {
        "MUTUALAID_DATABASE_URL": settings.sqlalchemy_url,
        "MUTUALAID_ROLE": "federation",
        "MUTUALAID_SECRET_KEY": TEST_SECRET,
        "MUTUALAID_INSTANCE_PATH": None,
    }
    result = CliRunner().invoke(cli, ["--instance", str(settings.instance_path), "close-due"], env=env)
    assert result.exit_code == 0, result.output
    assert "closed 1 council proposal(s)" in result.output
    assert region.council("city", proposal["id"])["status"] == "decided"
