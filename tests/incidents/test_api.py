"""The incidents API: declaring with reasons for refusal, matching, the situation and its map."""

from __future__ import annotations

from datetime import timedelta

from federation.envelope import now
from tests.federation.network import Network, member
from tests.incidents.helpers import AREA, CELL, OUTSIDE, passed_decision, region, steward
from tests.node.factories import need, offer


def body(**kw: object) -> dict[str, object]:
    values: dict[str, object] = {
        "kind": "flood", "title": "Spree flood", "cells": [AREA],
        "starts": (now() - timedelta(minutes=1)).isoformat(), "ends": (now() + timedelta(days=2)).isoformat(),
    }
    values.update(kw)
    return values


def test_a_steward_declares_matches_and_reads_the_situation(network: Network) -> None:
    fed, a, b = region(network)
    member(a, "ann").post("/needs", json=need(title="Rice", quantity=5, unit="kg", h3_cell=CELL))
    member(a, "ada").post("/needs", json=need(title="Blankets", category="shelter", quantity=2,
                                              unit="pcs", h3_cell=CELL))
    member(b, "bob").post("/offers", json=offer(title="Sacks of rice", quantity=3, unit="kg", h3_cell=CELL))
    network.pump()
    api = steward(fed)

    refused = api.post("/incidents", json=body(cells=[OUTSIDE], emergency=True))
    assert refused.status_code == 422
    assert refused.get_json()["errors"] == [{"field": "cells.0", "reason": "outside the federation's area"}]
    assert member(fed, "nobody").post("/incidents", json=body(emergency=True)).status_code == 403

    created = api.post("/incidents", json=body(decision=passed_decision(fed)))
    assert created.status_code == 201, created.get_json()
    incident = created.get_json()
    assert incident["state"] == "live"

    before = api.get(f"/incidents/{incident['id']}/situation").get_json()
    assert before["needs"] == 2 and before["surpluses"] == 1 and before["proposals_waiting"] == 1
    assert before["by_category"]["food"]["unmet_needs"] == 1
    assert before["by_category"]["shelter"]["unmet_needs"] == 1

    matched = api.post(f"/incidents/{incident['id']}/match").get_json()
    assert matched == {"proposals": 1, "quantity": 3.0}
    network.pump()
    after = api.get(f"/incidents/{incident['id']}/situation").get_json()
    assert after["pledges_in_flight"]["by_status"]["accepted"] == 1
    assert after["proposals_waiting"] == 0
    assert {row["node"] for row in after["nodes"]} == {network.id("a"), network.id("b")}
    assert all(row["pending"] == 0 for row in after["nodes"])

    picture = api.get(f"/incidents/{incident['id']}/map.svg")
    assert picture.status_code == 200 and picture.mimetype == "image/svg+xml"
    assert 'role="img"' in picture.get_data(as_text=True)

    listed = member(a, "ann2").get("/incidents").get_json()
    assert [row["id"] for row in listed["items"]] == [incident["id"]]
    assert api.get("/incidents/00000000-0000-0000-0000-000000000000/situation").status_code == 404
