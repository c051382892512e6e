from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from node.db import session_scope
from node.members.models import Member
from node.projects.models import Assignment, AssignmentSource, Feedback, LedgerEntry
from tests.projects.helpers import CELL, add_role, add_shift, count, join, make_project, problem


def test_ledger_is_readable_by_all_and_corrected_not_edited(app: Any, make_member: Any) -> None:
    alice, ben = make_member("alice"), make_member("ben")
    project = make_project(alice, template="community_kitchen")
    url = f"/projects/{project['id']}/ledger"
    first = alice.post(
        url,
        json={
            "direction": "in",
            "kind": "food",
            "quantity": 10,
            "unit": "kg",
            "description": "Surplus from the market",
        },
    )
    assert first.status_code == 201, first.json
    alice.post(url, json={"direction": "out", "kind": "meals", "quantity": 40, "unit": "meal"})
    before = count(app, LedgerEntry)
    problem(ben.post(url, json={"direction": "in", "kind": "food", "quantity": 1, "unit": "kg"}), 403)
    problem(
        alice.post(url, json={"direction": "in", "kind": "gold", "quantity": 1, "unit": "kg"}),
        422,
        "kind",
        "this project records",
    )
    problem(
        alice.post(url, json={"direction": "in", "kind": "food", "quantity": -1, "unit": "kg"}),
        422,
        "quantity",
    )
    assert count(app, LedgerEntry) == before
    fix = alice.post(
        url,
        json={"direction": "in", "kind": "food", "quantity": 8, "unit": "kg", "corrects": first.json["id"]},
    )
    assert fix.status_code == 201
    problem(
        alice.post(
            url,
            json={
                "direction": "in",
                "kind": "food",
                "quantity": 7,
                "unit": "kg",
                "corrects": first.json["id"],
            },
        ),
        409,
        "corrects",
        "already corrected",
    )
    entries = {e["id"]: e for e in ben.get(url).json["items"]}
    assert entries[first.json["id"]]["corrected_by"] == fix.json["id"]
    totals = {(t["direction"], t["kind"]): t["quantity"] for t in ben.get(f"{url}/totals").json["totals"]}
    assert totals == {("in", "food"): 8.0, ("out", "meals"): 40.0}
    public = app.test_client().get("/api/v1/public/projects/kitchen/ledger/totals")
    assert public.status_code == 404
    alice.patch(f"/projects/{project['id']}", json={"ledger_public": True})
    public = app.test_client().get("/api/v1/public/projects/kitchen/ledger/totals")
    assert public.status_code == 200 and len(public.json["totals"]) == 2


def test_reports_to_the_assembly_carry_figures(make_member: Any) -> None:
    alice, ben = make_member("alice"), make_member("ben")
    project = make_project(alice, template="community_kitchen")
    join(ben, project)
    alice.post(
        f"/projects/{project['id']}/ledger",
        json={"direction": "out", "kind": "meals", "quantity": 25, "unit": "meal"},
    )
    today = date.today()
    r = alice.post(
        f"/projects/{project['id']}/reports",
        json={
            "period_start": (today - timedelta(days=30)).isoformat(),
            "period_end": today.isoformat(),
            "summary": "We cooked every Wednesday.",
            "requests": "A bigger pot.",
        },
    )
    assert r.status_code == 201, r.json
    figures = r.json["figures"]
    assert figures["participants"] == 2
    meals = {"direction": "out", "kind": "meals", "unit": "meal", "quantity": 25.0, "entries": 1}
    assert meals in figures["ledger"]
    problem(
        alice.post(
            f"/projects/{project['id']}/reports",
            json={
                "period_start": today.isoformat(),
                "period_end": (today - timedelta(days=1)).isoformat(),
                "summary": "Backwards",
            },
        ),
        422,
    )
    assert [x["summary"] for x in ben.get(f"/projects/{project['id']}/reports").json["items"]] == [
        "We cooked every Wednesday."
    ]


def test_both_sides_of_a_match_give_feedback(app: Any, make_member: Any) -> None:
    alice, ben, sam = make_member("alice"), make_member("ben"), make_member("sam", steward=True)
    need = alice.post("/needs", json={"category": "food", "title": "Rice", "h3_cell": CELL}).json
    offer = ben.post("/offers", json={"category": "food", "title": "Rice", "h3_cell": CELL}).json
    match = ben.post("/matches", json={"need_id": need["id"], "offer_id": offer["id"]}).json
    body = {"subject": "match", "subject_id": match["id"], "rating": 5, "comment": "Lovely"}
    problem(alice.post("/feedback", json=body), 409, "subject_id", "the match is proposed")
    alice.post(f"/matches/{match['id']}/accept")
    assert alice.post("/feedback", json=body).status_code == 201
    problem(alice.post("/feedback", json=body), 409, "subject_id", "already said")
    r = ben.post("/feedback", json={**body, "rating": 4, "anonymous": True})
    assert r.status_code == 201 and r.json["side"] == "giver"
    problem(sam.post("/feedback", json=body), 403)
    problem(alice.post("/feedback", json={**body, "rating": 6}), 422, "rating")
    problem(alice.post("/feedback", json={**body, "subject_id": str(uuid.uuid4())}), 404, "subject_id")
    gathered = sam.get("/feedback").json
    assert gathered["count"] == 2 and gathered["mean_rating"] == 4.5
    assert {s["side"]: s["count"] for s in gathered["by_side"]} == {"giver": 1, "receiver": 1}
    assert sorted(str(i["author"]) for i in gathered["items"]) == ["None", "alice"]
    problem(alice.get("/feedback"), 403)
    assert count(app, Feedback) == 2


def test_shift_and_loan_feedback_is_gathered_for_the_project(app: Any, make_member: Any) -> None:
    alice, ben, cleo = make_member("alice"), make_member("ben"), make_member("cleo")
    project = make_project(alice, "tools", template="tool_library")
    join(ben, project)
    role = add_role(alice, project, "helper")
    past = add_shift(alice, project, role, datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3))
    with session_scope(app) as db:
        ben_id = db.query(Member).filter_by(handle="ben").one().id
        db.add(Assignment(shift_id=uuid.UUID(past["id"]), member_id=ben_id, source=AssignmentSource.SIGNUP))
    r = ben.post(
        "/feedback",
        json={"subject": "shift", "subject_id": past["id"], "rating": 3, "comment": "Too few hands"},
    )
    assert r.status_code == 201 and r.json["side"] == "giver"
    r = cleo.post("/feedback", json={"subject": "shift", "subject_id": past["id"], "rating": 5})
    assert r.json["side"] == "receiver"
    future = add_shift(alice, project, role, datetime.now(UTC) + timedelta(days=2))
    problem(
        cleo.post("/feedback", json={"subject": "shift", "subject_id": future["id"], "rating": 5}),
        409,
        "subject_id",
        "has not happened",
    )
    item = alice.post(f"/projects/{project['id']}/items", json={"name": "Spade"}).json
    loan = cleo.post(f"/items/{item['id']}/loans", json={}).json
    assert (
        cleo.post(
            "/feedback", json={"subject": "loan", "subject_id": loan["id"], "rating": 4, "anonymous": True}
        ).status_code
        == 201
    )
    problem(
        make_member("dan").post("/feedback", json={"subject": "loan", "subject_id": loan["id"], "rating": 1}),
        403,
    )
    gathered = alice.get(f"/projects/{project['id']}/feedback").json
    assert gathered["count"] == 3
    assert gathered["by_subject"] == {"shift": 2, "loan": 1}
    assert [i["author"] for i in gathered["items"] if i["subject"] == "loan"] == [None]
    problem(cleo.get(f"/projects/{project['id']}/feedback"), 403)
