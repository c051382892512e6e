"""The inventory of skills, tools, vehicles and spaces members will share."""

from __future__ import annotations

from typing import Any

from tests.node.factories import CELL, assert_problem


def test_inventory_crud_and_ownership(make_member: Any) -> None:
    alice, bob = make_member("alice"), make_member("bob")
    r = alice.post(
        "/inventory",
        json={
            "kind": "vehicle",
            "name": "Cargo bike",
            "description": "with trailer",
            "category": "transport",
            "h3_cell": CELL,
        },
    )
    assert r.status_code == 201, r.json
    item = r.json
    assert (item["kind"], item["handle"], item["mine"], item["available"]) == ("vehicle", "alice", True, True)
    bob.post("/inventory", json={"kind": "skill", "name": "Plumbing"})
    seen = bob.get("/inventory").json
    assert seen["total"] == 2
    assert {i["name"]: i["mine"] for i in seen["items"]} == {"Cargo bike": False, "Plumbing": True}
    assert [i["name"] for i in bob.get("/inventory?kind=vehicle").json["items"]] == ["Cargo bike"]
    assert [i["name"] for i in bob.get("/inventory?mine=true").json["items"]] == ["Plumbing"]
    changed = alice.patch(f"/inventory/{item['id']}", json={"available": False, "name": "Big cargo bike"})
    assert changed.status_code == 200 and changed.json["available"] is False
    assert changed.json["name"] == "Big cargo bike"
    assert_problem(bob.patch(f"/inventory/{item['id']}", json={"available": True}), 403, "forbidden")
    assert_problem(bob.delete(f"/inventory/{item['id']}"), 403, "forbidden")
    assert_problem(alice.patch(f"/inventory/{item['id']}", json={"name": None}), 422, "validation", "name")
    assert_problem(
        alice.patch(f"/inventory/{item['id']}", json={"category": "nope"}), 422, "validation", "category"
    )
    assert alice.delete(f"/inventory/{item['id']}").status_code == 204
    assert_problem(alice.delete(f"/inventory/{item['id']}"), 404, "not-found")
    assert bob.get("/inventory").json["total"] == 1


def test_inventory_kinds_are_the_plans(make_member: Any) -> None:
    alice = make_member("alice")
    for kind in ("skill", "tool", "vehicle", "space"):
        assert alice.post("/inventory", json={"kind": kind, "name": kind}).status_code == 201
    money = alice.post("/inventory", json={"kind": "money", "name": "cash"})
    assert_problem(money, 422, "validation", "kind")
