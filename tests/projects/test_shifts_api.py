from __future__ import annotations

from datetime import timedelta
from typing import Any

from icalendar import Calendar

from node.projects.models import Assignment, Swap
from tests.projects.helpers import add_role, add_shift, count, join, make_project, problem, soon


def setup_kitchen(make_member: Any, *handles: str) -> tuple[dict[str, Any], list[Any]]:
    people = [make_member(h) for h in handles]
    project = make_project(people[0])
    for person in people[1:]:
        join(person, project)
    return project, people


def test_signup_refuses_double_booking_and_full_shifts(app: Any, make_member: Any) -> None:
    project, (alice, ben, cleo) = setup_kitchen(make_member, "alice", "ben", "cleo")
    cook = add_role(alice, project, "cook")
    shift = add_shift(alice, project, cook, soon(1))
    overlapping = add_shift(alice, project, cook, soon(1) + timedelta(hours=1))
    r = alice.post(f"/shifts/{shift['id']}/signup")
    assert r.status_code == 201, r.json
    assert [h["handle"] for h in r.json["holders"]] == ["alice"]
    before = count(app, Assignment)
    problem(alice.post(f"/shifts/{shift['id']}/signup"), 409, "shift_id", "already hold a place")
    problem(ben.post(f"/shifts/{shift['id']}/signup"), 409, "shift_id", "all 1 places are taken")
    problem(alice.post(f"/shifts/{overlapping['id']}/signup"), 409, "shift_id", "overlap")
    outsider = make_member("dan")
    problem(outsider.post(f"/shifts/{overlapping['id']}/signup"), 403)
    assert count(app, Assignment) == before
    assert cleo.post(f"/shifts/{overlapping['id']}/signup").status_code == 201
    assert [s["id"] for s in alice.get("/me/shifts").json["items"]] == [shift["id"]]


def test_signup_keeps_skills_and_the_term_limit(app: Any, make_member: Any) -> None:
    project, (alice, ben) = setup_kitchen(make_member, "alice", "ben")
    driver = add_role(alice, project, "driver", skill="driving")
    coordinator = add_role(alice, project, "coordinator", coordinating=True)
    drive = add_shift(alice, project, driver, soon(1))
    problem(ben.post(f"/shifts/{drive['id']}/signup"), 409, "shift_id", "needs the skill 'driving'")
    terms = [add_shift(alice, project, coordinator, soon(day)) for day in (2, 3, 4)]
    for shift in terms[:2]:
        assert alice.post(f"/shifts/{shift['id']}/signup").status_code == 201
    problem(
        alice.post(f"/shifts/{terms[2]['id']}/signup"), 409, "shift_id", "3 terms in a row; the limit is 2"
    )
    assert ben.post(f"/shifts/{terms[2]['id']}/signup").status_code == 201


def test_rotation_fills_fairly_and_shows_the_spread(app: Any, make_member: Any) -> None:
    project, people = setup_kitchen(make_member, "alice", "ben", "cleo", "dora")
    alice = people[0]
    cook = add_role(alice, project, "cook")
    coordinator = add_role(alice, project, "coordinator", coordinating=True)
    for day in range(1, 9):
        add_shift(alice, project, cook, soon(day), hours=3, slots=2)
        add_shift(alice, project, coordinator, soon(day, hour=12), hours=2)
    window = {"start": soon(0, 0).isoformat(), "end": soon(10).isoformat()}
    dry = alice.post(f"/projects/{project['id']}/rotation", json={**window, "dry_run": True})
    assert dry.status_code == 200, dry.json
    assert count(app, Assignment) == 0
    r = alice.post(f"/projects/{project['id']}/rotation", json=window)
    assert r.status_code == 200, r.json
    assert [p["handle"] for p in r.json["placements"]] == [p["handle"] for p in dry.json["placements"]]
    assert r.json["unfilled"] == []
    assert len(r.json["placements"]) == 8 * 3
    load = alice.get(f"/projects/{project['id']}/load").json
    assert {m["handle"] for m in load["members"]} == {"alice", "ben", "cleo", "dora"}
    assert load["gap"] <= 3  # no one more than one shift's hours ahead of anyone
    assert load["maximum"] - load["minimum"] == load["gap"]
    coordinators = [p["handle"] for p in r.json["placements"] if p["role"] == "coordinator"]
    for n in range(len(coordinators) - 2):
        assert len(set(coordinators[n : n + 3])) > 1, coordinators  # term limit 2
    again = alice.post(f"/projects/{project['id']}/rotation", json=window)
    assert again.json["placements"] == []


def test_rotation_reports_places_it_cannot_fill(make_member: Any) -> None:
    project, (alice,) = setup_kitchen(make_member, "alice")
    driver = add_role(alice, project, "driver", skill="driving")
    add_shift(alice, project, driver, soon(1))
    r = alice.post(
        f"/projects/{project['id']}/rotation",
        json={"start": soon(0, 0).isoformat(), "end": soon(3).isoformat()},
    )
    assert r.status_code == 200
    assert r.json["unfilled"][0]["missing"] == 1
    assert "skill: 1" in r.json["unfilled"][0]["reason"]


def test_swaps_keep_the_rules(app: Any, make_member: Any) -> None:
    project, (alice, ben, cleo) = setup_kitchen(make_member, "alice", "ben", "cleo")
    coordinator = add_role(alice, project, "coordinator", coordinating=True)
    shifts = [add_shift(alice, project, coordinator, soon(day)) for day in (1, 2, 3)]
    places = {}
    for who, shift in ((ben, shifts[0]), (ben, shifts[1]), (alice, shifts[2])):
        r = who.post(f"/shifts/{shift['id']}/signup")
        places[shift["id"]] = r.json["holders"][0]["assignment_id"]
    before = (count(app, Swap), count(app, Assignment))
    # Ben already coordinates the two before: a third in a row breaks the term limit.
    r = alice.post("/swaps", json={"assignment_id": places[shifts[2]["id"]], "to": "ben"})
    problem(r, 409, "assignment_id", "term_limit")
    problem(ben.post("/swaps", json={"assignment_id": places[shifts[2]["id"]], "to": "cleo"}), 403, None)
    outsider = make_member("dan")
    problem(
        alice.post("/swaps", json={"assignment_id": places[shifts[2]["id"]], "to": outsider.handle}),
        409,
        "to",
        "not in the project's working group",
    )
    assert (count(app, Swap), count(app, Assignment)) == before
    r = alice.post("/swaps", json={"assignment_id": places[shifts[2]["id"]], "to": "cleo", "note": "ill"})
    assert r.status_code == 201, r.json
    swap = r.json
    problem(alice.post(f"/swaps/{swap['id']}/accept"), 403)
    assert [s["id"] for s in cleo.get("/swaps").json["items"]] == [swap["id"]]
    r = cleo.post(f"/swaps/{swap['id']}/accept")
    assert r.status_code == 200, r.json
    assert r.json["status"] == "accepted"
    assert [h["handle"] for h in r.json["shift"]["holders"]] == ["cleo"]
    problem(cleo.post(f"/swaps/{swap['id']}/accept"), 409)


def test_calendar_feed_is_a_secret_revocable_url(make_member: Any) -> None:
    project, (alice,) = setup_kitchen(make_member, "alice")
    cook = add_role(alice, project, "cook")
    shift = add_shift(alice, project, cook, soon(2))
    alice.post(f"/shifts/{shift['id']}/signup")
    r = alice.post("/me/calendar")
    assert r.status_code == 201
    url = r.json["url"]
    path = url.removeprefix("http://node.test")
    feed = alice.client.get(path)
    assert feed.status_code == 200
    assert feed.mimetype == "text/calendar"
    events = [c for c in Calendar.from_ical(feed.data).walk("VEVENT")]
    assert [str(e["summary"]) for e in events] == ["Kitchen: cook"]
    assert events[0].decoded("dtstart") == soon(2)
    second = alice.post("/me/calendar").json["url"]
    assert alice.client.get(path).status_code == 404
    assert alice.client.get(second.removeprefix("http://node.test")).status_code == 200
    assert alice.delete("/me/calendar").status_code == 204
    assert alice.client.get(second.removeprefix("http://node.test")).status_code == 404
    assert alice.client.get("/api/v1/calendar/cal_guess.ics").status_code == 404


def test_another_members_place_is_theirs(app: Any, make_member: Any) -> None:
    project, (alice, ben) = setup_kitchen(make_member, "alice", "ben")
    shift = add_shift(alice, project, add_role(alice, project, "cook"), soon(1))
    place = alice.post(f"/shifts/{shift['id']}/signup").json["holders"][0]["assignment_id"]
    problem(ben.delete(f"/assignments/{place}"), 403)
    problem(
        ben.post("/swaps", json={"assignment_id": place, "to": "ben"}),
        403,
        "assignment_id",
        "belongs to another member",
    )
    assert count(app, Assignment) == 1
    assert alice.delete(f"/assignments/{place}").status_code == 204
    assert count(app, Assignment) == 0


def test_shift_reminders_and_swap_requests_are_notified(app: Any, make_member: Any) -> None:
    from sqlalchemy import select

    from node.db import session_scope
    from node.projects.models import Notification
    from node.projects.reminders import queue_reminders

    project, (alice, _ben) = setup_kitchen(make_member, "alice", "ben")
    shift = add_shift(alice, project, add_role(alice, project, "cook"), soon(1))
    place = alice.post(f"/shifts/{shift['id']}/signup").json["holders"][0]["assignment_id"]
    assert alice.post("/swaps", json={"assignment_id": place, "to": "ben"}).status_code == 201
    with session_scope(app) as db:
        now = soon(1) - timedelta(hours=20)
        assert queue_reminders(db, app.config["MUTUALAID"], now) == 1
        assert queue_reminders(db, app.config["MUTUALAID"], now) == 0
        subjects = sorted(db.scalars(select(Notification.subject)))
    assert subjects == ["Tomorrow: cook for Kitchen", "alice asks you to take a shift"]


def test_a_place_offered_twice_goes_once(app: Any, make_member: Any) -> None:
    project, (alice, ben, cleo) = setup_kitchen(make_member, "alice", "ben", "cleo")
    shift = add_shift(alice, project, add_role(alice, project, "cook"), soon(1))
    place = alice.post(f"/shifts/{shift['id']}/signup").json["holders"][0]["assignment_id"]
    to_ben = alice.post("/swaps", json={"assignment_id": place, "to": "ben"}).json
    to_cleo = alice.post("/swaps", json={"assignment_id": place, "to": "cleo"}).json
    assert ben.post(f"/swaps/{to_ben['id']}/accept").status_code == 200
    problem(cleo.post(f"/swaps/{to_cleo['id']}/accept"), 409, "assignment_id", "no longer held")
    holders = alice.get(f"/projects/{project['id']}/shifts").json["items"][0]["holders"]
    assert [h["handle"] for h in holders] == ["ben"]
