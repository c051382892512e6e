"""Assemblies through the JSON API: convening, proposals, positions, decisions, the record."""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta
from typing import Any

from flask import Flask
from sqlalchemy import func, select

from node.assemblies import service
from node.assemblies.methods import Stance
from node.assemblies.models import Assembly, Position, Proposal
from node.db import session_scope, utcnow
from node.errors import Conflict
from node.members.models import Member
from node.signals import decision_made
from tests.assemblies.conftest import Assemblies
from tests.conftest import PASSWORD, Api
from tests.node.factories import assert_problem, later, row_counts, set_columns


def test_convene_needs_a_steward(make_member: Any, assemblies: Assemblies) -> None:
    member = make_member("ana")
    assert_problem(member.post("/assemblies", json={"title": "Mine"}), 403, "forbidden")
    created = assemblies.convene(quorum_count=2)
    assert created["status"] == "open" and created["kind"] == "standing"
    assert member.get(f"/assemblies/{created['id']}").get_json()["quorum_count"] == 2


def test_a_proposal_is_decided_and_recorded(make_member: Any, assemblies: Assemblies) -> None:
    ana, ben, cai = make_member("ana"), make_member("ben"), make_member("cai")
    assembly = assemblies.convene(quorum_count=3)
    proposal = assemblies.propose(ana, assembly["id"])
    assert assemblies.take(ana, proposal["id"], "for").status_code == 201
    assert assemblies.take(ben, proposal["id"], "for").status_code == 201
    seen = assemblies.take(cai, proposal["id"], "against").get_json()
    assert seen["tally"]["counts"] == {"abstain": 0, "against": 1, "for": 2}
    assert seen["tally"]["outcome"] == "passed" and seen["my_position"] == "against"
    decision = ana.post(f"/proposals/{proposal['id']}/close").get_json()
    assert decision["outcome"] == "passed" and decision["participants"] == 3
    record = ben.get(f"/assemblies/{assembly['id']}/record").get_json()
    assert [d["id"] for d in record["decisions"]] == [decision["id"]]
    kinds = [m["kind"] for m in record["minutes"]]
    assert kinds == ["convened", "proposal", "decision"]
    assert "passed" in record["minutes"][-1]["text"]
    assert ben.get(f"/decisions/{decision['id']}").get_json()["text"] == proposal["text"]


def test_a_member_takes_a_position_once(app: Flask, make_member: Any, assemblies: Assemblies) -> None:
    ana = make_member("ana")
    proposal = assemblies.propose(ana, assemblies.convene()["id"])
    assert assemblies.take(ana, proposal["id"], "for").status_code == 201
    before = row_counts(app)
    assert_problem(assemblies.take(ana, proposal["id"], "against"), 409, "conflict", "stance")
    assert row_counts(app) == before
    assert ana.get(f"/proposals/{proposal['id']}").get_json()["tally"]["counts"]["for"] == 1


def test_racing_positions_count_once(app: Flask, make_member: Any, assemblies: Assemblies) -> None:
    make_member("ana")
    assembly = assemblies.convene()
    proposal = assemblies.propose(assemblies.steward, assembly["id"])
    outcomes: list[str] = []
    barrier = threading.Barrier(4)

    def vote() -> None:
        barrier.wait()
        try:
            with session_scope(app) as db:
                member = db.scalars(select(Member).where(Member.handle == "ana")).one()
                service.cast_position(db, db.get_one(Proposal, uuid.UUID(proposal["id"])), member, Stance.FOR)
            outcomes.append("ok")
        except Conflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=vote) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["conflict", "conflict", "conflict", "ok"]
    with session_scope(app) as db:
        assert db.scalar(select(func.count()).select_from(Position)) == 1


def test_outsiders_cannot_take_positions(client: Any, assemblies: Assemblies) -> None:
    proposal = assemblies.propose(assemblies.steward, assemblies.convene()["id"])
    anonymous = Api(client, None, "nobody")
    assert_problem(assemblies.take(anonymous, proposal["id"], "for"), 401, "unauthenticated")
    forged = Api(client, "ma_not-a-real-token", "forger")
    assert_problem(assemblies.take(forged, proposal["id"], "for"), 401, "unauthenticated")


def test_positions_must_fit_the_method(make_member: Any, assemblies: Assemblies) -> None:
    ana = make_member("ana")
    consensus = assemblies.convene(method="consensus")
    proposal = assemblies.propose(ana, consensus["id"])
    assert_problem(assemblies.take(ana, proposal["id"], "against"), 422, "validation", "stance")
    assert_problem(assemblies.take(ana, proposal["id"], "block"), 422, "validation", "reason")
    assert assemblies.take(ana, proposal["id"], "block", "the hall is not accessible").status_code == 201
    decision = assemblies.steward.post(f"/proposals/{proposal['id']}/close").get_json()
    assert decision["outcome"] == "blocked"
    record = ana.get(f"/assemblies/{consensus['id']}/record").get_json()
    assert any("the hall is not accessible" in m["text"] for m in record["minutes"])


def test_consent_stops_at_a_reasoned_objection(make_member: Any, assemblies: Assemblies) -> None:
    ana, ben = make_member("ana"), make_member("ben")
    assembly = assemblies.convene(method="consent")
    proposal = assemblies.propose(ana, assembly["id"])
    assemblies.take(ana, proposal["id"], "for")
    assert_problem(assemblies.take(ben, proposal["id"], "object"), 422, "validation", "reason")
    assemblies.take(ben, proposal["id"], "object", "we have no insurance for power tools")
    assert assemblies.steward.post(f"/proposals/{proposal['id']}/close").get_json()["outcome"] == "rejected"


def test_quorum_as_a_share_of_members(make_member: Any, assemblies: Assemblies) -> None:
    members = [make_member(f"m{n}x") for n in range(4)]  # five members with the steward
    assembly = assemblies.convene(quorum_count=1, quorum_percent=60)
    proposal = assemblies.propose(members[0], assembly["id"])
    assemblies.take(members[0], proposal["id"], "for")
    assemblies.take(members[1], proposal["id"], "for")
    seen = members[0].get(f"/proposals/{proposal['id']}").get_json()["tally"]
    assert seen["quorum"] == 3 and seen["outcome"] == "no_quorum"
    decision = assemblies.steward.post(f"/proposals/{proposal['id']}/close").get_json()
    assert decision["outcome"] == "no_quorum"
    assert members[0].get(f"/proposals/{proposal['id']}").get_json()["status"] == "no_quorum"


def test_supermajority_rules(make_member: Any, assemblies: Assemblies) -> None:
    ana, ben, cai = make_member("ana"), make_member("ben"), make_member("cai")
    assembly = assemblies.convene(method="supermajority", supermajority_num=3, supermajority_den=4)
    proposal = assemblies.propose(ana, assembly["id"])
    for member, stance in ((ana, "for"), (ben, "for"), (cai, "against")):
        assemblies.take(member, proposal["id"], stance)
    assert assemblies.steward.post(f"/proposals/{proposal['id']}/close").get_json()["outcome"] == "rejected"
    bad = assemblies.steward.post(
        "/assemblies",
        json={"title": "x", "method": "supermajority", "supermajority_num": 5, "supermajority_den": 4},
    )
    assert_problem(bad, 422, "validation")


def test_a_passed_amendment_changes_the_text(make_member: Any, assemblies: Assemblies) -> None:
    ana, ben = make_member("ana"), make_member("ben")
    assembly = assemblies.convene()
    proposal = assemblies.propose(ana, assembly["id"])
    assemblies.take(ana, proposal["id"], "for")
    amendment = ben.post(
        f"/proposals/{proposal['id']}/amendments", json={"text": "We open a tool library in the school."}
    ).get_json()
    assert amendment["kind"] == "amendment" and amendment["amends_id"] == proposal["id"]
    assemblies.take(ana, amendment["id"], "for")
    assemblies.take(ben, amendment["id"], "for")
    assert assemblies.steward.post(f"/proposals/{amendment['id']}/close").get_json()["outcome"] == "passed"
    amended = ana.get(f"/proposals/{proposal['id']}").get_json()
    assert amended["version"] == 2 and amended["text"].endswith("in the school.")
    # Positions taken on the old text no longer count; ana takes hers again.
    assert amended["tally"]["participants"] == 0 and amended["my_position"] is None
    assert assemblies.take(ana, proposal["id"], "for").status_code == 201
    nested = ben.post(f"/proposals/{amendment['id']}/amendments", json={"text": "x"})
    assert_problem(nested, 409, "invalid-state")


def test_closing_decides_open_amendments_first(make_member: Any, assemblies: Assemblies) -> None:
    ana = make_member("ana")
    proposal = assemblies.propose(ana, assemblies.convene()["id"])
    amendment = ana.post(f"/proposals/{proposal['id']}/amendments", json={"text": "Amended text."}).get_json()
    assemblies.take(ana, amendment["id"], "for")
    decision = assemblies.steward.post(f"/proposals/{proposal['id']}/close").get_json()
    assert decision["text"] == "Amended text."
    assert ana.get(f"/proposals/{amendment['id']}").get_json()["status"] == "passed"


def test_scheduled_assembly_takes_positions_only_in_session(
    app: Flask, make_member: Any, assemblies: Assemblies
) -> None:
    ana = make_member("ana")
    assembly = assemblies.convene(
        kind="scheduled", starts_at=later(days=2), ends_at=later(days=2, hours=2), location="Community hall"
    )
    assert assembly["status"] == "scheduled"
    proposal = assemblies.propose(ana, assembly["id"])
    assert_problem(assemblies.take(ana, proposal["id"], "for"), 409, "invalid-state")
    assert_problem(assemblies.steward.post(f"/proposals/{proposal['id']}/close"), 409, "invalid-state")
    assert assemblies.steward.post(f"/assemblies/{assembly['id']}/open").get_json()["status"] == "open"
    assert assemblies.take(ana, proposal["id"], "for").status_code == 201
    closed = assemblies.steward.post(f"/assemblies/{assembly['id']}/close").get_json()
    assert closed["status"] == "closed"
    assert ana.get(f"/proposals/{proposal['id']}").get_json()["status"] == "passed"
    late = ana.post(f"/assemblies/{assembly['id']}/proposals", json={"title": "Late", "text": "x"})
    assert_problem(late, 409, "invalid-state")


def test_time_opens_and_closes(app: Flask, make_member: Any, assemblies: Assemblies) -> None:
    ana = make_member("ana")
    assembly = assemblies.convene(kind="scheduled", starts_at=later(hours=1))
    proposal = assemblies.propose(ana, assembly["id"], closes_at=later(hours=2))
    set_columns(app, Assembly, uuid.UUID(assembly["id"]), starts_at=utcnow() - timedelta(minutes=1))
    assert assemblies.take(ana, proposal["id"], "for").status_code == 201
    set_columns(app, Proposal, uuid.UUID(proposal["id"]), closes_at=utcnow() - timedelta(seconds=1))
    seen = ana.get(f"/proposals/{proposal['id']}").get_json()
    assert seen["status"] == "passed" and seen["decided_at"] is not None


def test_close_due_decides_what_is_due(app: Flask, make_member: Any, assemblies: Assemblies) -> None:
    ana = make_member("ana")
    proposal = assemblies.propose(ana, assemblies.convene()["id"], closes_at=later(hours=2))
    assemblies.take(ana, proposal["id"], "for")
    with session_scope(app) as db:
        assert service.close_due(db) == 0
    set_columns(app, Proposal, uuid.UUID(proposal["id"]), closes_at=utcnow() - timedelta(seconds=1))
    with session_scope(app) as db:
        assert service.close_due(db) == 1


def test_who_may_close_early(make_member: Any, assemblies: Assemblies) -> None:
    ana, ben = make_member("ana"), make_member("ben")
    assembly = assemblies.convene()
    timed = assemblies.propose(ana, assembly["id"], closes_at=later(hours=3))
    assert_problem(ana.post(f"/proposals/{timed['id']}/close"), 403, "forbidden")
    assert_problem(ben.post(f"/proposals/{timed['id']}/close"), 403, "forbidden")
    untimed = assemblies.propose(ana, assembly["id"])
    assert ana.post(f"/proposals/{untimed['id']}/close").status_code == 200
    assert_problem(ana.post(f"/proposals/{untimed['id']}/close"), 409, "invalid-state")


def test_withdraw(make_member: Any, assemblies: Assemblies) -> None:
    ana, ben = make_member("ana"), make_member("ben")
    proposal = assemblies.propose(ana, assemblies.convene()["id"])
    assert_problem(ben.post(f"/proposals/{proposal['id']}/withdraw"), 403, "forbidden")
    assert ana.post(f"/proposals/{proposal['id']}/withdraw").get_json()["status"] == "withdrawn"
    assert_problem(assemblies.take(ben, proposal["id"], "for"), 409, "invalid-state")


def test_agenda_and_notes(make_member: Any, assemblies: Assemblies) -> None:
    ana = make_member("ana")
    assembly = assemblies.convene()
    first = ana.post(f"/assemblies/{assembly['id']}/agenda", json={"title": "Tool library"}).get_json()
    second = ana.post(f"/assemblies/{assembly['id']}/agenda", json={"title": "Kitchen rota"}).get_json()
    assert (first["position"], second["position"]) == (1, 2)
    proposal = assemblies.propose(ana, assembly["id"], agenda_item_id=second["id"])
    assert proposal["agenda_item_id"] == second["id"]
    other = assemblies.convene()
    wrong = ana.post(
        f"/assemblies/{other['id']}/proposals",
        json={"title": "x", "text": "y", "agenda_item_id": first["id"]},
    )
    assert_problem(wrong, 422, "validation", "agenda_item_id")
    note = ana.post(f"/assemblies/{assembly['id']}/minutes", json={"text": "Kitchen opens at 6"}).get_json()
    assert note["author_handle"] == "ana"
    items = ana.get(f"/assemblies/{assembly['id']}/agenda").get_json()["items"]
    assert [i["title"] for i in items] == ["Tool library", "Kitchen rota"]


def test_rules_can_change_and_the_change_is_minuted(make_member: Any, assemblies: Assemblies) -> None:
    ana = make_member("ana")
    assembly = assemblies.convene()
    assert_problem(ana.patch(f"/assemblies/{assembly['id']}", json={"quorum_count": 1}), 403, "forbidden")
    changed = assemblies.steward.patch(
        f"/assemblies/{assembly['id']}", json={"method": "consent", "delegate_max_terms": 1}
    ).get_json()
    assert changed["method"] == "consent" and changed["delegate_max_terms"] == 1
    record = ana.get(f"/assemblies/{assembly['id']}/record").get_json()
    assert "delegate_max_terms, method" in record["minutes"][-1]["text"]
    nulled = assemblies.steward.patch(f"/assemblies/{assembly['id']}", json={"method": None})
    assert_problem(nulled, 422, "validation", "method")


def test_decision_made_is_announced(make_member: Any, assemblies: Assemblies) -> None:
    ana = make_member("ana")
    proposal = assemblies.propose(ana, assemblies.convene()["id"])
    seen: list[str] = []

    def receiver(_db: Any, **kw: Any) -> None:
        seen.append(kw["decision"].outcome.value)

    with decision_made.connected_to(receiver):
        assemblies.take(ana, proposal["id"], "for")
        ana.post(f"/proposals/{proposal['id']}/close")
    assert seen == ["passed"]


def test_listing_and_filters(make_member: Any, assemblies: Assemblies) -> None:
    ana = make_member("ana")
    first = assemblies.convene(title="First")
    assemblies.convene(title="Second")
    assemblies.steward.post(f"/assemblies/{first['id']}/close")
    page = ana.get("/assemblies?status=open").get_json()
    assert [a["title"] for a in page["items"]] == ["Second"]
    open_page = ana.get(f"/assemblies/{first['id']}/proposals?status=open").get_json()
    assert open_page["total"] == 0
    assert_problem(ana.get("/assemblies/00000000-0000-0000-0000-000000000000"), 404, "not-found")


def test_export_and_erase(make_member: Any, assemblies: Assemblies) -> None:
    ana = make_member("ana")
    assembly = assemblies.convene()
    proposal = assemblies.propose(ana, assembly["id"])
    assemblies.take(ana, proposal["id"], "for")
    ana.post(f"/assemblies/{assembly['id']}/minutes", json={"text": "Thanks all"})
    export = ana.get("/me/export").get_json()
    assert export["assembly_positions"][0]["stance"] == "for"
    assert export["assembly_proposals"][0]["title"] == proposal["title"]
    assert export["assembly_notes"][0]["text"] == "Thanks all"
    assert ana.post("/me/erase", json={"password": PASSWORD}).status_code in (200, 204)
    record = assemblies.steward.get(f"/assemblies/{assembly['id']}/record").get_json()
    assert all(m["author_handle"] != "ana" for m in record["minutes"])
    assert any(m["text"] == "Thanks all" for m in record["minutes"])
