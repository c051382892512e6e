from __future__ import annotations

from datetime import timedelta
from typing import Any

from node.projects.models import Hold, LedgerEntry, Loan, Upload
from tests.projects.helpers import count, make_project, problem, soon

PNG = b"\x89PNG\r\n\x1a\n" + bytes(200)
JPEG = b"\xff\xd8\xff\xe0" + bytes(200)


def library(make_member: Any, *handles: str) -> tuple[dict[str, Any], list[Any], dict[str, Any]]:
    people = [make_member(h) for h in handles]
    project = make_project(people[0], "tools", template="tool_library")
    r = people[0].post(f"/projects/{project['id']}/items", json={"name": "Drill", "condition": "good"})
    assert r.status_code == 201, r.json
    return project, people, r.json


def test_adding_an_item_is_recorded_in_the_ledger(app: Any, make_member: Any) -> None:
    project, (alice,), item = library(make_member, "alice")
    assert item["available"] is True
    entries = alice.get(f"/projects/{project['id']}/ledger").json["items"]
    assert [(e["direction"], e["kind"], e["quantity"]) for e in entries] == [("in", "tools", 1.0)]


def test_lending_refuses_an_item_already_lent(app: Any, make_member: Any) -> None:
    _project, (alice, ben, cleo), item = library(make_member, "alice", "ben", "cleo")
    r = ben.post(f"/items/{item['id']}/loans", json={"due_at": soon(7).isoformat()})
    assert r.status_code == 201, r.json
    assert r.json["borrower"] == "ben"
    before = count(app, Loan)
    problem(cleo.post(f"/items/{item['id']}/loans", json={}), 409, "item_id", "already lent")
    r = alice.post(f"/items/{item['id']}/loans", json={"borrower": "cleo"})
    problem(r, 409, "item_id", "already lent")
    assert count(app, Loan) == before
    assert alice.get(f"/items/{item['id']}").json["available"] is False


def test_lending_checks_due_date_and_who_may_lend(app: Any, make_member: Any) -> None:
    _project, (alice, ben, _cleo), item = library(make_member, "alice", "ben", "cleo")
    problem(ben.post(f"/items/{item['id']}/loans", json={"due_at": soon(90).isoformat()}), 422, "due_at")
    problem(ben.post(f"/items/{item['id']}/loans", json={"borrower": "cleo"}), 403)
    problem(alice.post(f"/items/{item['id']}/loans", json={"borrower": "nobody"}), 422, "borrower")
    assert count(app, Loan) == 0
    r = alice.post(f"/items/{item['id']}/loans", json={"borrower": "cleo"})
    assert r.status_code == 201, r.json


def test_waitlist_passes_the_item_on_in_order(app: Any, make_member: Any) -> None:
    _project, (alice, ben, cleo, dora), item = library(make_member, "alice", "ben", "cleo", "dora")
    loan = ben.post(f"/items/{item['id']}/loans", json={}).json
    first = cleo.post(f"/items/{item['id']}/holds")
    assert first.status_code == 201 and first.json["position"] == 1
    second = dora.post(f"/items/{item['id']}/holds")
    assert second.json["position"] == 2
    problem(cleo.post(f"/items/{item['id']}/holds"), 409, "item_id", "already hold")
    problem(ben.post(f"/items/{item['id']}/holds"), 409, "item_id", "borrowing it now")
    r = ben.post(f"/loans/{loan['id']}/return", json={"condition": "worn", "note": "chuck is loose"})
    assert r.status_code == 200, r.json
    assert cleo.get("/me/holds").json["items"][0]["status"] == "ready"
    problem(dora.post(f"/items/{item['id']}/loans", json={}), 409, "borrower", "first member on the waitlist")
    assert cleo.post(f"/items/{item['id']}/loans", json={}).status_code == 201
    assert dora.get("/me/holds").json["items"][0]["position"] == 1
    detail = alice.get(f"/items/{item['id']}").json
    assert detail["condition"] == "worn"
    assert detail["repairs"][0]["note"] == "chuck is loose"


def test_holds_per_member_are_limited(app_factory: Any, make_member: Any) -> None:
    app = app_factory(library_max_holds=2)
    alice, ben = make_member("alice", target=app), make_member("ben", target=app)
    project = make_project(alice, "tools", template="tool_library")
    items = [alice.post(f"/projects/{project['id']}/items", json={"name": f"Saw {n}"}).json for n in range(3)]
    for item in items[:2]:
        assert ben.post(f"/items/{item['id']}/holds").status_code == 201
    before = count(app, Hold)
    problem(ben.post(f"/items/{items[2]['id']}/holds"), 409, "item_id", "the limit is 2")
    assert count(app, Hold) == before


def test_broken_items_are_not_lent_until_repaired(make_member: Any) -> None:
    _project, (alice, ben), item = library(make_member, "alice", "ben")
    r = alice.post(f"/items/{item['id']}/repairs", json={"note": "motor burnt out", "condition": "broken"})
    assert r.status_code == 201
    problem(ben.post(f"/items/{item['id']}/loans", json={}), 409, "item_id", "broken")
    problem(ben.post(f"/items/{item['id']}/repairs", json={"note": "x" * 5, "condition": "good"}), 403)
    alice.post(f"/items/{item['id']}/repairs", json={"note": "new motor fitted", "condition": "good"})
    assert ben.post(f"/items/{item['id']}/loans", json={}).status_code == 201


def test_photos_are_checked_by_content_and_served_to_members_only(app: Any, make_member: Any) -> None:
    _project, (alice, ben), item = library(make_member, "alice", "ben")
    headers = {"Authorization": f"Bearer {alice.token}", "Content-Type": "image/png"}
    url = f"/api/v1/items/{item['id']}/photos"
    r = alice.client.post(url, data=b"GIF89a" + bytes(100), headers=headers)
    problem(r, 422, "body", "JPEG, PNG or WebP")
    svg = b"<svg onload=alert(1)>"
    r = alice.client.post(url, data=svg, headers={**headers, "Content-Type": "image/jpeg"})
    problem(r, 422, "body")
    assert count(app, Upload) == 0
    r = alice.client.post(url, data=PNG, headers={**headers, "Content-Type": "application/octet-stream"})
    assert r.status_code == 201, r.json
    photo = r.json["photos"][0]
    files = list((app.config["MUTUALAID"].instance_path / "uploads").iterdir())
    assert [f.name for f in files] == [photo.rsplit("/", 1)[1].replace("-", "") + ".png"]
    seen = ben.client.get(photo, headers={"Authorization": f"Bearer {ben.token}"})
    assert seen.status_code == 200 and seen.data == PNG and seen.mimetype == "image/png"
    assert seen.headers["X-Content-Type-Options"] == "nosniff"
    assert app.test_client().get(photo).status_code == 404


def test_photo_size_is_capped(app_factory: Any, make_member: Any) -> None:
    app = app_factory(upload_max_bytes=1024)
    alice = make_member("alice", target=app)
    project = make_project(alice, "tools", template="tool_library")
    item = alice.post(f"/projects/{project['id']}/items", json={"name": "Ladder"}).json
    r = alice.client.post(
        f"/api/v1/items/{item['id']}/photos",
        data=JPEG + bytes(2000),
        headers={"Authorization": f"Bearer {alice.token}", "Content-Type": "image/jpeg"},
    )
    problem(r, 413, "body", "at most 1024 bytes")
    assert count(app, Upload) == 0
    assert not (app.config["MUTUALAID"].instance_path / "uploads").exists()


def test_overdue_reminders_and_uncollected_holds(app: Any, make_member: Any) -> None:
    from node.db import session_scope
    from node.projects.models import Notification
    from node.projects.reminders import queue_reminders

    project, (alice, ben, cleo), item = library(make_member, "alice", "ben", "cleo")
    ben.post(f"/items/{item['id']}/loans", json={"due_at": soon(1).isoformat()})
    settings = app.config["MUTUALAID"]
    with session_scope(app) as db:
        assert queue_reminders(db, settings, soon(1) + timedelta(hours=1)) == 1
        assert queue_reminders(db, settings, soon(2)) == 0  # not again until a few days pass
        assert queue_reminders(db, settings, soon(5)) == 1
    with session_scope(app) as db:
        subjects = [n.subject for n in db.query(Notification).order_by(Notification.created_at)]
    assert subjects == ["Overdue: Drill", "Overdue: Drill"]
    del alice, cleo, project
    assert count(app, LedgerEntry) == 1


def test_uncollected_holds_pass_to_the_next_in_line(app: Any, make_member: Any) -> None:
    from node.db import session_scope
    from node.projects.models import HoldStatus
    from node.projects.reminders import queue_reminders

    _project, (_alice, ben, cleo), item = library(make_member, "alice", "ben", "cleo")
    assert ben.post(f"/items/{item['id']}/holds").json["status"] == "ready"
    assert cleo.post(f"/items/{item['id']}/holds").json["position"] == 2
    problem(cleo.delete(f"/holds/{ben.get('/me/holds').json['items'][0]['id']}"), 403)
    with session_scope(app) as db:
        queue_reminders(db, app.config["MUTUALAID"], soon(4))
    with session_scope(app) as db:
        statuses = sorted(h.status for h in db.query(Hold))
    assert statuses == [HoldStatus.EXPIRED, HoldStatus.READY]
    assert cleo.get("/me/holds").json["items"][0]["status"] == "ready"
    assert ben.get("/me/holds").json["items"] == []
