"""Categories: the plan's built-ins, those stewards add, and those in the node's settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from click.testing import CliRunner

from node.cli import cli
from node.resources.categories import BUILTIN
from tests.node.factories import assert_problem, need

PLAN = [
    "food",
    "meals",
    "tools",
    "skills",
    "transport",
    "spaces",
    "childcare",
    "medical",
    "shelter",
    "repairs",
    "other",
]


def test_builtins_are_the_plans(make_member: Any) -> None:
    alice = make_member("alice")
    items = alice.get("/categories").json["items"]
    assert sorted(c["slug"] for c in items) == sorted(PLAN) == sorted(BUILTIN)
    assert all(c["builtin"] for c in items)
    labels = {c["slug"]: c["label"] for c in items}
    assert labels["transport"] == "Transport and vehicles"
    assert labels["medical"] == "Medical and first aid"


def test_stewards_add_categories_that_listings_can_use(make_member: Any) -> None:
    alice, bob = make_member("alice", steward=True), make_member("bob")
    assert_problem(bob.post("/needs", json=need(category="firewood")), 422, "validation", "category")
    assert_problem(bob.post("/categories", json={"slug": "firewood", "label": "Firewood"}), 403, "forbidden")
    r = alice.post("/categories", json={"slug": "firewood", "label": "Firewood"})
    assert r.status_code == 201 and r.json == {"slug": "firewood", "label": "Firewood", "builtin": False}
    again = alice.post("/categories", json={"slug": "firewood", "label": "Again"})
    assert_problem(again, 409, "conflict", "slug")
    assert bob.post("/needs", json=need(category="firewood")).status_code == 201
    slugs = [c["slug"] for c in bob.get("/categories").json["items"]]
    assert slugs[-1] == "firewood"  # built-ins first


def test_settings_add_categories_when_the_node_migrates(app_factory: Any, make_member: Any) -> None:
    app = app_factory(extra_categories=["firewood", "pet_care"])
    settings = app.config["MUTUALAID"]
    env = {
        "MUTUALAID_DATABASE_URL": settings.sqlalchemy_url,
        "MUTUALAID_SECRET_KEY": settings.secret_key,
        "MUTUALAID_EXTRA_CATEGORIES": '["firewood", "pet_care"]',
    }
    result = CliRunner().invoke(cli, ["--instance", str(Path(settings.instance_path)), "migrate"], env=env)
    assert result.exit_code == 0, result.output
    alice = make_member("alice", target=app)
    labels = {c["slug"]: c["label"] for c in alice.get("/categories").json["items"]}
    assert labels["firewood"] == "Firewood" and labels["pet_care"] == "Pet care"
    assert alice.post("/offers", json=need(category="pet_care")).status_code == 201
