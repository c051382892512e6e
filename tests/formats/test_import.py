"""Importing needs and offers from the CSV a spreadsheet saves."""

from __future__ import annotations

from typing import Any

import h3
import pytest
from flask import Flask
from sqlalchemy import func, select

from node.db import session_scope
from node.resources.models import Listing
from node.signals import listing_changed
from tests.formats.helpers import CELL, post

HEADER = "kind,category,title,quantity,unit,urgency,h3_cell\r\n"


def send(api: Any, body: bytes | str, query: str = "", content_type: str = "text/csv") -> Any:
    data = body.encode() if isinstance(body, str) else body
    return api.post(f"/imports/listings.csv{query}", data=data, headers={"Content-Type": content_type})


def count(app: Flask) -> int:
    with session_scope(app) as db:
        return db.scalar(select(func.count()).select_from(Listing)) or 0


def test_good_rows_become_needs_and_offers(app: Flask, make_member: Any) -> None:
    alice = make_member("alice")
    published: list[str] = []

    def heard(_db: Any, listing: Listing, change: str) -> None:
        published.append(change)

    body = (
        HEADER
        + f"need,food,Rice,2,kg,urgent,{CELL}\r\n"
        + f'offer,shelter,"Tent, 2 people",1,tent,,{CELL}\r\n'
    )
    with listing_changed.connected_to(heard):
        r = send(alice, body)
    assert r.status_code == 200, r.json
    assert r.json["rows"] == 2 and r.json["imported"] == 2 and r.json["rejected"] == 0
    assert r.json["errors"] == [] and len(r.json["ids"]) == 2
    assert published == ["published", "published"]  # the federation hears of each, as from the API
    needs = alice.get("/needs?mine=true").json["items"]
    assert [(n["title"], n["quantity"], n["urgency"]) for n in needs] == [("Rice", 2, "urgent")]
    offers = alice.get("/offers").json["items"]
    assert [(o["title"], o["urgency"], o["handle"]) for o in offers] == [
        ("Tent, 2 people", "routine", "alice")
    ]


def test_each_bad_row_is_reported_and_nothing_of_it_is_written(app: Flask, make_member: Any) -> None:
    alice = make_member("alice")
    rows = [
        f"need,food,Good one,2,kg,urgent,{CELL}",  # row 2
        f"need,food,Negative,-1,kg,urgent,{CELL}",  # row 3
        f"need,gold,Unknown category,1,kg,urgent,{CELL}",  # row 4
        "need,food,No such cell,1,kg,urgent,8f",  # row 5
        f"need,food,Odd urgency,1,kg,whenever,{CELL}",  # row 6
        f"gift,food,Odd kind,1,kg,urgent,{CELL}",  # row 7
        f"need,food,,1,kg,urgent,{CELL}",  # row 8: no title
        f"need,food,Too many,1,kg,urgent,{CELL},extra",  # row 9
        f"offer,food,Many words,lots,kg,urgent,{CELL}",  # row 10
        f"offer,food,Also good,3,kg,,{CELL}",  # row 11
    ]
    r = send(alice, HEADER + "\n".join(rows) + "\n")
    assert r.status_code == 200
    report = r.json
    assert (report["rows"], report["imported"], report["rejected"]) == (10, 2, 8)
    by_row = {(e["row"], e["field"]) for e in report["errors"]}
    assert by_row == {
        (3, "quantity"),
        (4, "category"),
        (5, "h3_cell"),
        (6, "urgency"),
        (7, "kind"),
        (8, "title"),
        (9, "row"),
        (10, "quantity"),
    }
    reasons = {e["row"]: e["reason"] for e in report["errors"]}
    several = send(alice, HEADER + f"gift,food,,0,kg,soon,{CELL}\n").json["errors"]
    assert {e["field"] for e in several} == {"kind", "title", "quantity"}
    assert "greater than 0" in reasons[3]
    assert "gold" in reasons[4]
    assert "neither need nor offer" in reasons[7]
    assert count(app) == 2
    titles = sorted(i["title"] for p in ("needs", "offers") for i in alice.get(f"/{p}").json["items"])
    assert titles == ["Also good", "Good one"]


def test_spreadsheet_habits(app: Flask, make_member: Any) -> None:
    alice = make_member("alice")
    # Semicolons, a decimal comma, a quoted field with the delimiter and a line break in it,
    # Windows-1252 text, headers in other words and cases, a blank row.
    text = (
        "Type;Sector;What;Qty;Units;Priority;Cell;Description;Expires\r\n"
        f'Need;Food;Café food;2,5;kg;URGENT;{CELL};"first; second\r\nline";2099-05-01\r\n'
        ";;;;;;;;\r\n"
    )
    r = send(alice, text.encode("cp1252"))
    assert r.status_code == 200 and r.json["imported"] == 1, r.json
    need = alice.get("/needs").json["items"][0]
    assert (need["title"], need["quantity"], need["category"]) == ("Café food", 2.5, "food")
    assert need["description"] == "first; second\r\nline"
    assert need["expires_at"].startswith("2099-05-01T00:00:00")
    bom = ("\ufeff" + HEADER + f"offer,food,Apples,4,kg,soon,{CELL}\r\n").encode("utf-8")
    assert send(alice, bom).json["imported"] == 1
    utf16 = (HEADER.replace(",", "\t") + f"offer\tfood\tPears\t4\tkg\tsoon\t{CELL}\r\n").encode("utf-16")
    assert send(alice, utf16).json["imported"] == 1
    assert count(app) == 3


def test_lat_and_lon_become_a_cell_at_the_node_resolution(app_factory: Any, make_member: Any) -> None:
    app = app_factory(h3_resolution=7)
    alice = make_member("alice", target=app)
    text = "kind,category,title,latitude,longitude\nneed,food,Bread,50.9375,6.9603\nneed,food,Far,91,6\n"
    r = send(alice, text)
    assert r.json["imported"] == 1
    assert r.json["errors"] == [{"row": 3, "field": "lat", "reason": "must be between -90 and 90"}]
    need = alice.get("/needs").json["items"][0]
    assert need["h3_cell"] == h3.latlng_to_cell(50.9375, 6.9603, 7)


def test_wrong_columns_are_refused_before_any_row(app: Flask, make_member: Any) -> None:
    alice = make_member("alice")
    r = send(alice, f"kind,category,title,quantitty,h3_cell\nneed,food,Rice,2,{CELL}\n")
    assert r.status_code == 422
    assert r.json["errors"] == [
        {"field": "quantitty", "reason": "unknown column; see docs/formats.md for the columns"}
    ]
    r = send(alice, f"kind,category,quantity\nneed,food,{CELL}\n")
    fields = {e["field"] for e in r.json["errors"]}
    assert r.status_code == 422 and fields == {"title", "h3_cell"}
    r = send(alice, f"category,title,item,h3_cell\nfood,Rice,Rice,{CELL}\n")
    assert {e["field"] for e in r.json["errors"]} == {"item", "kind"}
    assert count(app) == 0


def test_kind_for_the_whole_file(make_member: Any) -> None:
    alice = make_member("alice")
    text = f"category,title,h3_cell\nfood,Rice,{CELL}\n"
    assert send(alice, text).status_code == 422
    r = send(alice, text, "?kind=offer")
    assert r.json["imported"] == 1
    assert alice.get("/offers").json["items"][0]["title"] == "Rice"
    mixed = f"kind,category,title,h3_cell\nneed,food,Soup,{CELL}\n,food,Bread,{CELL}\n"
    assert send(alice, mixed, "?kind=offer").json["imported"] == 2
    assert [n["title"] for n in alice.get("/needs").json["items"]] == ["Soup"]


def test_dry_run_writes_nothing(app: Flask, make_member: Any) -> None:
    alice = make_member("alice")
    body = HEADER + f"need,food,Rice,2,kg,urgent,{CELL}\nneed,food,Bad,0,kg,urgent,{CELL}\n"
    r = send(alice, body, "?dry_run=true")
    assert (r.json["imported"], r.json["rejected"], r.json["dry_run"], r.json["ids"]) == (1, 1, True, [])
    assert count(app) == 0


def test_hxl_export_imports_back(app: Flask, make_member: Any) -> None:
    alice, bob = make_member("alice"), make_member("bob")
    post(alice, "needs", title="Water", quantity=12, unit="l", urgency="emergency")
    post(alice, "offers", title="=1+1", category="tools", quantity=1, unit="item")
    paths = ("/exports/listings.hxl.csv", "/exports/listings.csv")
    exports = {path: alice.get(path).get_data() for path in paths}
    for path, exported in exports.items():
        r = send(bob, exported)
        assert r.json["imported"] == 2 and r.json["errors"] == [], (path, r.json)
    mine = bob.get("/needs?mine=true").json["items"] + bob.get("/offers?mine=true").json["items"]
    assert sorted((i["title"], i["quantity"], i["unit"], i["urgency"]) for i in mine) == sorted(
        [("Water", 12, "l", "emergency"), ("=1+1", 1, "item", "urgent")] * 2
    )


def test_who_the_rows_belong_to(app: Flask, make_member: Any) -> None:
    alice, steward = make_member("alice"), make_member("sam", steward=True)
    body = HEADER + f"need,food,Rice,2,kg,urgent,{CELL}\n"
    assert send(alice, body, "?member=sam").status_code == 403
    assert send(steward, body, "?member=nobody").status_code == 404
    r = send(steward, body, "?member=alice")
    assert r.status_code == 200 and r.json["imported"] == 1
    assert alice.get("/needs?mine=true").json["items"][0]["title"] == "Rice"


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (HEADER, "application/json", 415),
        ("", "text/csv", 422),
        ("   \r\n", "text/csv", 422),
        ('kind,category\n"unterminated\n', "text/csv", 422),
    ],
)
def test_not_a_usable_file(make_member: Any, body: str, content_type: str, status: int) -> None:
    alice = make_member("alice")
    r = send(alice, body, content_type=content_type)
    assert r.status_code == status, r.json
    assert r.mimetype == "application/problem+json"


def test_unknown_query_parameters_are_refused(make_member: Any) -> None:
    r = send(make_member("alice"), HEADER, "?knd=need")
    assert r.status_code == 422 and r.json["errors"][0]["field"] == "knd"


def test_too_many_rows(make_member: Any) -> None:
    from node.formats.csvio import MAX_ROWS

    body = HEADER + f"need,food,Rice,2,kg,urgent,{CELL}\n" * (MAX_ROWS + 1)
    r = send(make_member("alice"), body)
    assert r.status_code == 422 and r.json["errors"][0]["field"] == "file"
