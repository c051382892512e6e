"""HXL, CSV and ValueFlows exports of a node's open needs and offers."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import h3
import hxl
from flask import Flask
from sqlalchemy import update

from node.db import session_scope
from node.resources.models import Listing
from tests.formats.helpers import CELL, OTHER, post


def table(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def hxl_rows(text: str) -> list[dict[str, str]]:
    dataset = hxl.data(table(text))
    tags = [column.display_tag for column in dataset.columns]
    return [dict(zip(tags, row.values, strict=True)) for row in dataset]


def test_needs_as_hxl(app_factory: Any, make_member: Any) -> None:
    app = app_factory(hxl_adm1="Nordrhein-Westfalen")
    alice = make_member("alice", target=app)
    post(
        alice,
        "needs",
        title="Drinking water",
        quantity=40,
        unit="l",
        urgency="emergency",
        description="ring the bell at alice@example.org",
    )
    post(alice, "needs", title="Sandbags", category="tools", quantity=100, unit="item", h3_cell=OTHER)
    withdrawn = post(alice, "needs", title="Old need")
    assert alice.post(f"/needs/{withdrawn['id']}/withdraw").status_code == 200
    post(alice, "offers", title="Spare tent", category="shelter", quantity=1, unit="tent")

    r = alice.get("/exports/needs.hxl.csv")
    assert r.status_code == 200
    assert r.mimetype == "text/csv"
    assert r.headers["Content-Disposition"] == 'attachment; filename="needs.hxl.csv"'
    text = r.get_data(as_text=True)
    assert table(text)[0][:4] == ["Listing id", "Kind", "Category", "Item"]
    rows = hxl_rows(text)
    assert [row["#item+name"] for row in rows] == ["Drinking water", "Sandbags"]
    water = rows[0]
    assert water["#meta+kind"] == "need"
    assert water["#sector"] == "food"
    assert water["#indicator+num"] == "40" and water["#indicator+unit"] == "l"
    assert water["#severity"] == "emergency"
    assert water["#adm1+name"] == "Nordrhein-Westfalen"
    assert water["#loc+code+h3"] == CELL
    lat, lon = h3.cell_to_latlng(CELL)
    assert float(water["#geo+lat"]) == round(lat, 5) and float(water["#geo+lon"]) == round(lon, 5)
    assert water["#date+reported"].endswith("Z") and water["#date+expires"]
    # What the member wrote for neighbours and who they are stay on the node.
    assert "alice" not in text and "ring the bell" not in text
    report = hxl.validate(hxl.data(table(text)))
    assert report["stats"]["error"] == 0, report["issues"]


def test_cells_are_never_finer_than_the_node_shares(app_factory: Any, make_member: Any) -> None:
    app = app_factory(h3_resolution=7)
    alice = make_member("alice", target=app)
    need = post(alice, "needs")
    assert need["h3_cell"] == h3.cell_to_parent(CELL, 7)
    # A listing stored at a finer cell (the setting was finer once) is coarsened on the way out.
    fine = h3.cell_to_children(CELL, 9)[0]
    with session_scope(app) as db:
        db.execute(update(Listing).values(h3_cell=fine))
    for path in ("/exports/needs.hxl.csv", "/exports/needs.csv", "/exports/summary.hxl.csv"):
        text = alice.get(path).get_data(as_text=True)
        assert h3.cell_to_parent(CELL, 7) in text and fine not in text and CELL not in text, path
    graph = alice.get("/exports/needs.jsonld").json["@graph"]
    assert graph[0]["vf:atLocation"]["@id"] == f"urn:h3:{h3.cell_to_parent(CELL, 7)}"


def test_summary_sets_needs_against_offers(make_member: Any) -> None:
    alice, bob = make_member("alice"), make_member("bob")
    post(alice, "needs", quantity=2)
    post(bob, "needs", quantity=3.5)
    post(bob, "offers", quantity=4)
    post(bob, "offers", title="Tent", category="shelter", quantity=1, unit="tent", h3_cell=OTHER)
    r = alice.get("/exports/summary.hxl.csv")
    assert r.headers["Content-Disposition"] == 'attachment; filename="summary.hxl.csv"'
    rows = hxl_rows(r.get_data(as_text=True))
    food = next(row for row in rows if row["#sector"] == "food")
    assert (food["#affected+num"], food["#indicator+num+needed"]) == ("2", "5.5")
    offered = (food["#output+num+offers"], food["#output+num"], food["#indicator+num+unmet"])
    assert offered == ("1", "4", "1.5")
    tent = next(row for row in rows if row["#sector"] == "shelter")
    assert (tent["#affected+num"], tent["#output+num"], tent["#indicator+num+unmet"]) == ("0", "1", "0")
    assert hxl.validate(hxl.data(table(r.get_data(as_text=True))))["stats"]["error"] == 0


def test_csv_export_has_every_field_and_defuses_formulas(make_member: Any) -> None:
    alice = make_member("alice")
    need = post(alice, "needs", title='=HYPERLINK("http://x")', description="two bags, please")
    post(alice, "offers", title="Soup")
    r = alice.get("/exports/needs.csv")
    assert r.headers["Content-Disposition"] == 'attachment; filename="needs.csv"'
    header, *rows = table(r.get_data(as_text=True))
    assert header[:9] == [
        "id",
        "kind",
        "category",
        "title",
        "description",
        "quantity",
        "unit",
        "urgency",
        "h3_cell",
    ]
    assert len(rows) == 1
    row = dict(zip(header, rows[0], strict=True))
    assert row["id"] == need["id"] and row["handle"] == "alice"
    assert row["title"] == '\'=HYPERLINK("http://x")'
    assert row["description"] == "two bags, please"
    both = table(alice.get("/exports/listings.csv").get_data(as_text=True))
    assert sorted(r[1] for r in both[1:]) == ["need", "offer"]
    assert "'=HYPERLINK" in alice.get("/exports/listings.hxl.csv").get_data(as_text=True)


def test_valueflows_intents(make_member: Any) -> None:
    alice, bob = make_member("alice"), make_member("bob")
    need = post(alice, "needs", quantity=2.5, unit="kg", expires_at="2099-01-01T00:00:00Z")
    offer = post(bob, "offers", title="Help with repairs", category="repairs", quantity=3, unit="hours")
    post(bob, "offers", title="Boat", category="transport", quantity=1, unit="boat")
    r = alice.get("/exports/listings.jsonld")
    assert r.mimetype == "application/ld+json"
    doc = json.loads(r.get_data(as_text=True))
    assert doc["@context"]["vf"] == "https://w3id.org/valueflows/ont/vf#"
    by_id = {node["@id"].rsplit("/", 1)[-1]: node for node in doc["@graph"]}
    assert len(by_id) == 3
    n = by_id[need["id"]]
    assert n["@type"] == "vf:Intent"
    assert n["@id"] == f"http://node.test/api/v1/needs/{need['id']}"
    assert n["vf:action"] == {"@id": "vf:transfer"}
    assert n["vf:resourceClassifiedAs"] == {"@id": "http://node.test/api/v1/categories#food"}
    assert n["vf:resourceQuantity"] == {
        "@type": "om2:Measure",
        "om2:hasNumericalValue": 2.5,
        "om2:hasUnit": {"@id": "om2:kilogram"},
    }
    assert n["vf:receiver"] == {"@id": "acct:alice@node.test", "@type": "foaf:Agent", "foaf:nick": "alice"}
    assert "vf:provider" not in n
    assert n["vf:atLocation"]["@id"] == f"urn:h3:{CELL}"
    assert n["vf:due"] == {"@value": "2099-01-01T00:00:00Z", "@type": "xsd:dateTime"}
    o = by_id[offer["id"]]
    assert o["vf:action"] == {"@id": "vf:work"}
    assert o["vf:provider"]["foaf:nick"] == "bob" and "vf:receiver" not in o
    assert o["vf:resourceQuantity"]["om2:hasUnit"] == {"@id": "om2:hour"}
    boat = next(node for node in doc["@graph"] if node["vf:name"] == "Boat")
    assert boat["vf:resourceQuantity"]["om2:hasUnit"] == {"rdfs:label": "boat"}
    assert boat["vf:action"] == {"@id": "vf:deliverService"}
    assert "example.org" not in r.get_data(as_text=True)
    only_needs = alice.get("/exports/needs.jsonld").json["@graph"]
    assert [node["@id"] for node in only_needs] == [n["@id"]]


def test_exports_need_a_member_and_are_in_the_openapi(app: Flask, make_member: Any) -> None:
    client = app.test_client()
    assert client.get("/api/v1/exports/needs.hxl.csv").status_code == 401
    paths = client.get("/api/v1/openapi.json").json["paths"]
    for path in ("needs.hxl.csv", "offers.csv", "listings.jsonld", "summary.hxl.csv"):
        assert f"/api/v1/exports/{path}" in paths
    assert "/api/v1/imports/listings.csv" in paths


def test_empty_node_exports_headers_only(make_member: Any) -> None:
    alice = make_member("alice")
    assert len(table(alice.get("/exports/needs.hxl.csv").get_data(as_text=True))) == 2
    assert alice.get("/exports/offers.jsonld").json["@graph"] == []
