"""Solidarity requests: a federation passes a request for support on to its members."""

from __future__ import annotations

from tests.federation.network import Network, member
from tests.incidents.helpers import region, steward


def test_a_federation_passes_a_strike_funds_request_to_its_members(network: Network) -> None:
    fed, a, b = region(network)
    api = steward(fed)
    request = {"source": "strike-fund", "requester": "Harbour workers' strike fund",
               "title": "Support the dock strike", "text": "Food parcels for 300 families.",
               "url": "https://strike.example/fund"}
    created = api.post("/solidarity-requests", json=request)
    assert created.status_code == 201, created.get_json()
    network.pump()
    for app in (a, b):
        listed = member(app, "reader").get("/solidarity-requests").get_json()
        [row] = listed["items"]
        assert row["id"] == created.get_json()["id"] and row["federation"] == network.id("fed")
        assert row["requester"] == "Harbour workers' strike fund" and row["source"] == "strike-fund"


def test_bad_requests_are_refused_with_their_reason(network: Network) -> None:
    fed, a, _ = region(network)
    api = steward(fed)
    bad = api.post("/solidarity-requests", json={"source": "bank", "requester": "", "title": "x"})
    assert bad.status_code == 422
    assert {e["field"] for e in bad.get_json()["errors"]} >= {"source", "requester"}
    # a neighbourhood node passes nothing on
    refused = steward(a).post("/solidarity-requests", json={"source": "network", "requester": "N",
                                                            "title": "Help"})
    assert refused.status_code == 403
    assert member(a, "reader").get("/solidarity-requests").get_json()["items"] == []
