from __future__ import annotations

from typing import Any

from node.projects.models import Project, ProjectMember, Role, Shift
from node.resources.models import Listing
from tests.projects.helpers import CELL, add_role, add_shift, count, join, make_project, problem, soon


def test_templates_cover_the_plans_pilots(make_member: Any) -> None:
    alice = make_member("alice")
    r = alice.get("/project-templates")
    assert r.status_code == 200
    keys = {t["key"] for t in r.json["items"]}
    assert keys == {"community_kitchen", "tool_library", "first_aid", "childcare_swap", "rapid_response"}


def test_project_from_template_has_roles_principles_and_weekly_shifts(make_member: Any) -> None:
    alice = make_member("alice")
    r = alice.post("/projects", json={"name": "Kitchen", "slug": "kitchen", "template": "community_kitchen"})
    assert r.status_code == 201, r.json
    project = r.json
    assert project["is_member"] and project["members"] == 1
    assert "Services and resources are provided free of charge, based on need." in project["principles"]
    assert "meals" in project["ledger_kinds"]
    roles = {role["name"]: role for role in alice.get(f"/projects/{project['id']}/roles").json["items"]}
    assert roles["coordinator"]["coordinating"] and roles["facilitator"]["coordinating"]
    assert roles["driver"]["skill"] == "driving"
    shifts = alice.get(f"/projects/{project['id']}/shifts?per_page=100").json
    assert shifts["total"] >= 3 * 8 - 3  # three weekly shifts for about eight weeks
    assert {s["role"] for s in shifts["items"]} == {"cook", "driver", "coordinator"}


def test_bad_project_input_is_refused_and_nothing_written(app: Any, make_member: Any) -> None:
    alice = make_member("alice")
    make_project(alice, "kitchen")
    before = (count(app, Project), count(app, Role), count(app, Shift))
    problem(alice.post("/projects", json={"name": "K", "slug": "kitchen"}), 409, "slug", "already used")
    problem(
        alice.post("/projects", json={"name": "K", "slug": "k2", "template": "nope"}),
        422,
        "template",
        "no template",
    )
    problem(alice.post("/projects", json={"name": "K", "slug": "Bad Slug"}), 422, "slug")
    assert (count(app, Project), count(app, Role), count(app, Shift)) == before


def test_joining_and_leaving_the_working_group(app: Any, make_member: Any) -> None:
    alice, ben = make_member("alice"), make_member("ben")
    project = make_project(alice)
    problem(ben.patch(f"/projects/{project['id']}", json={"name": "Mine"}), 403)
    join(ben, project, skills=["driving"], availability=[{"weekday": 0, "start": "17:00", "end": "21:00"}])
    members = alice.get(f"/projects/{project['id']}/members").json["items"]
    assert [m["handle"] for m in members] == ["alice", "ben"]
    assert members[1]["skills"] == ["driving"]
    r = ben.client.put(
        f"/api/v1/projects/{project['id']}/membership",
        json={"availability": [{"weekday": 0, "start": "21:00", "end": "17:00"}]},
        headers={"Authorization": f"Bearer {ben.token}"},
    )
    problem(r, 422, "availability.0", "end must be after start")
    assert ben.delete(f"/projects/{project['id']}/membership").status_code == 204
    assert count(app, ProjectMember) == 1


def test_the_term_limit_comes_from_an_assembly_decision(make_member: Any) -> None:
    alice, ben, steward = make_member("alice"), make_member("ben"), make_member("sam", steward=True)
    project = make_project(alice)
    coordinator = add_role(alice, project, "coordinator", coordinating=True)
    terms = [add_shift(alice, project, coordinator, soon(day)) for day in (2, 3)]
    assembly = steward.post("/assemblies", json={"title": "Spring assembly", "method": "majority"}).json
    # Nobody sets the limit by hand any more.
    assert alice.client.put(f"/api/v1/projects/{project['id']}/term-limit", json={"limit": 1},
                            headers={"Authorization": f"Bearer {alice.token}"}).status_code == 405
    too_low = {"assembly_id": assembly["id"], "limit": 0}
    problem(alice.post(f"/projects/{project['id']}/term-limit", json=too_low), 422, "limit")

    def put_to_the_assembly(stance: str) -> dict[str, Any]:
        body = {"assembly_id": assembly["id"], "limit": 1, "reason": "So more of us learn to coordinate."}
        r = alice.post(f"/projects/{project['id']}/term-limit", json=body)
        assert r.status_code == 201, r.json
        assert r.json["kind"] == "term_limit" and r.json["payload"] == {"project": project["id"], "limit": 1}
        for who in (alice, ben):
            taken = who.post(f"/proposals/{r.json['id']}/positions", json={"stance": stance})
            assert taken.status_code == 201, taken.json
        closed = alice.post(f"/proposals/{r.json['id']}/close")
        assert closed.status_code == 200, closed.json
        return dict(r.json)

    put_to_the_assembly("against")  # a rejected proposal changes nothing
    seen = alice.get(f"/projects/{project['id']}").json
    assert (seen["coordinator_term_limit"], seen["term_limit_decision"]) == (2, "node default")

    proposal = put_to_the_assembly("for")
    seen = alice.get(f"/projects/{project['id']}").json
    assert seen["coordinator_term_limit"] == 1
    assert seen["term_limit_decision"].startswith("Spring assembly, ")
    assert "“Term limit for Kitchen: 1”" in seen["term_limit_decision"]
    record = alice.get(f"/assemblies/{assembly['id']}/record").json
    decision = record["decisions"][-1]
    assert decision["proposal_id"] == proposal["id"] and decision["id"] in seen["term_limit_decision"]
    assert record["minutes"][-1]["text"] == "Kitchen: coordinating roles now rotate after 1 term(s)"
    # The rotation rules now keep the assembly's limit.
    assert alice.post(f"/shifts/{terms[0]['id']}/signup").status_code == 201
    problem(alice.post(f"/shifts/{terms[1]['id']}/signup"), 409, "shift_id", "the limit is 1")


def test_project_needs_go_through_the_needs_service(make_member: Any) -> None:
    alice, ben = make_member("alice"), make_member("ben")
    project = make_project(alice)
    need = {"category": "food", "title": "Onions for Friday", "quantity": 5, "unit": "kg", "h3_cell": CELL}
    problem(ben.post(f"/projects/{project['id']}/needs", json=need), 403)
    r = alice.post(f"/projects/{project['id']}/needs", json=need)
    assert r.status_code == 201, r.json
    assert [n["title"] for n in alice.get("/needs").json["items"]] == ["Onions for Friday"]
    assert [n["title"] for n in ben.get(f"/projects/{project['id']}/needs").json["items"]] == [
        "Onions for Friday"
    ]


def test_callout_reaches_members_as_they_chose(app: Any, make_member: Any) -> None:
    from node.projects.models import Notification

    alice, ben, cleo = make_member("alice"), make_member("ben"), make_member("cleo")
    r = cleo.client.patch(
        "/api/v1/me/notifications", json={"callout": "off"}, headers={"Authorization": f"Bearer {cleo.token}"}
    )
    assert r.status_code == 200, r.json
    project = make_project(alice)
    r = alice.post(f"/projects/{project['id']}/callouts", json={"message": "Cooks wanted Friday"})
    assert r.status_code == 201, r.json
    assert r.json["notified"] == 1
    assert count(app, Notification) == 1
    del ben
    assert count(app, Listing) == 0
