from __future__ import annotations

from typing import Any

from node.db import session_scope
from node.projects.models import (
    Feedback,
    Hold,
    HoldStatus,
    LedgerEntry,
    Loan,
    ProjectMember,
    Story,
    SurveyResponse,
    Upload,
)
from tests.conftest import PASSWORD
from tests.projects.helpers import CELL, add_role, add_shift, count, join, make_project, soon

PNG = b"\x89PNG\r\n\x1a\n" + bytes(64)


def busy_member(app: Any, make_member: Any) -> tuple[Any, Any, dict[str, Any]]:
    """Ben takes part in everything the projects area holds."""
    alice, ben = make_member("alice"), make_member("ben")
    project = make_project(alice, "tools", template="tool_library", h3_cell=CELL)
    join(ben, project, skills=["repairs"])
    role = add_role(alice, project, "helper")
    shift = add_shift(alice, project, role, soon(2))
    assert ben.post(f"/shifts/{shift['id']}/signup").status_code == 201
    ben.post(
        f"/projects/{project['id']}/ledger",
        json={"direction": "in", "kind": "tools", "quantity": 1, "unit": "item"},
    )
    drill = alice.post(f"/projects/{project['id']}/items", json={"name": "Drill"}).json
    saw = alice.post(f"/projects/{project['id']}/items", json={"name": "Saw"}).json
    ben.post(f"/items/{drill['id']}/loans", json={})
    ben.post(f"/items/{saw['id']}/holds")
    ben.client.post(
        f"/api/v1/items/{drill['id']}/photos",
        data=PNG,
        headers={"Authorization": f"Bearer {ben.token}", "Content-Type": "image/png"},
    )
    story = ben.post("/stories", json={"title": "Fixed a bike", "body": "With the new tools."}).json
    ben.client.post(
        f"/api/v1/stories/{story['id']}/photos",
        data=PNG,
        headers={"Authorization": f"Bearer {ben.token}", "Content-Type": "image/png"},
    )
    loan = ben.get("/me/loans").json["items"][0]
    ben.post("/feedback", json={"subject": "loan", "subject_id": loan["id"], "rating": 5})
    survey = alice.post(
        f"/projects/{project['id']}/surveys",
        json={"title": "Tools", "questions": [{"id": "which", "type": "text", "text": "Which tools?"}]},
    ).json
    ben.post(f"/surveys/{survey['id']}/responses", json={"answers": {"which": "a ladder"}})
    ben.post("/me/calendar")
    return alice, ben, project


def test_export_covers_projects_data(app: Any, make_member: Any) -> None:
    _, ben, _ = busy_member(app, make_member)
    data = ben.get("/me/export").json["projects"]
    assert [g["project"] for g in data["working_groups"]] == ["tools"]
    assert data["working_groups"][0]["skills"] == ["repairs"]
    assert [s["role"] for s in data["shifts"]] == ["helper"]
    assert [loan["item"] for loan in data["loans"]] == ["Drill"]
    assert [h["status"] for h in data["holds"]] == ["ready"]
    assert [f["rating"] for f in data["feedback"]] == [5]
    assert [s["title"] for s in data["stories"]] == ["Fixed a bike"]
    assert len(data["photos"]) == 2
    assert data["survey_answers"][0]["answers"] == {"which": "a ladder"}
    assert [e["kind"] for e in data["ledger_entries_recorded"]] == ["tools"]


def test_erase_removes_what_is_theirs_and_unlinks_shared_records(app: Any, make_member: Any) -> None:
    alice, ben, project = busy_member(app, make_member)
    cleo = make_member("cleo")
    saw = next(i for i in alice.get(f"/projects/{project['id']}/items").json["items"] if i["name"] == "Saw")
    cleo.post(f"/items/{saw['id']}/holds")
    uploads_dir = app.config["MUTUALAID"].instance_path / "uploads"
    assert len(list(uploads_dir.iterdir())) == 2
    r = ben.post("/me/erase", json={"password": PASSWORD})
    assert r.status_code == 204, r.json
    assert list(uploads_dir.iterdir()) == []
    for model in (Story, Upload, Feedback, SurveyResponse):
        assert count(app, model) == 0, model
    assert count(app, ProjectMember) == 1
    with session_scope(app) as db:
        loan = db.query(Loan).one()
        assert loan.borrower_id is None and loan.returned_at is None  # the drill is still out
        assert {e.recorded_by_id is None for e in db.query(LedgerEntry)} == {True, False}
        [hold] = db.query(Hold).all()
        assert hold.status == HoldStatus.READY  # the saw went on to the next in line
