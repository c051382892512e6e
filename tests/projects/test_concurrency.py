"""Requests racing for the same place or item: the rules hold under concurrency too."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

from node.projects.models import Assignment, Loan
from tests.projects.helpers import add_role, add_shift, count, join, make_project, soon


def race(calls: list[Any]) -> list[int]:
    """Run the calls at the same moment in threads; return their status codes in order."""
    barrier = threading.Barrier(len(calls))
    results: list[int] = [0] * len(calls)

    def run(index: int) -> None:
        barrier.wait()
        results[index] = calls[index]().status_code

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def test_one_place_goes_to_one_member(app: Any, make_member: Any) -> None:
    people = [make_member(f"racer{n}") for n in range(4)]
    project = make_project(people[0])
    for person in people[1:]:
        join(person, project)
    shift = add_shift(people[0], project, add_role(people[0], project, "cook"), soon(1))
    codes = race([lambda p=p: p.post(f"/shifts/{shift['id']}/signup") for p in people])
    assert sorted(codes) == [201, 409, 409, 409]
    assert count(app, Assignment) == 1


def test_one_person_cannot_take_two_overlapping_shifts_at_once(app: Any, make_member: Any) -> None:
    alice = make_member("alice")
    project = make_project(alice)
    cook = add_role(alice, project, "cook")
    first = add_shift(alice, project, cook, soon(1))
    second = add_shift(alice, project, cook, soon(1) + timedelta(hours=1))
    codes = race(
        [
            lambda: alice.post(f"/shifts/{first['id']}/signup"),
            lambda: alice.post(f"/shifts/{second['id']}/signup"),
        ]
    )
    assert sorted(codes) == [201, 409]
    assert count(app, Assignment) == 1


def test_an_item_is_lent_once(app: Any, make_member: Any) -> None:
    people = [make_member(f"racer{n}") for n in range(4)]
    project = make_project(people[0], "tools", template="tool_library")
    item = people[0].post(f"/projects/{project['id']}/items", json={"name": "Drill"}).json
    codes = race([lambda p=p: p.post(f"/items/{item['id']}/loans", json={}) for p in people])
    assert sorted(codes) == [201, 409, 409, 409]
    assert count(app, Loan) == 1
