"""A region of real node processes for the relief scenario (issue 5), shared by the end-to-end
test and `bench/relief.py`.

One region federation over two city federations of three neighbourhoods each: nine nodes, each
a web process and a worker (the sweep's timer embedded, so the region matches its live
incidents by itself). Members join by the project's join path (the peers API, as an operator
adds a federation and the federation its member). The region's rapid-response team declares a
flood over the region's area under the emergency rule; needs posted in one city are then met
from surpluses in the other: the region proposes pledges, the owning node accepts, the region
sees each pledge accepted.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.harness import Cluster, NodeProcess, wait_until

AREA = "851f1d4bfffffff"  # resolution 5, in Berlin: the region's area
# Resolution 8 cells inside it: the northern city's neighbourhoods, then the southern city's.
NORTH_CELLS = ["881f1d4801fffff", "881f1d4803fffff", "881f1d4807fffff"]
SOUTH_CELLS = ["881f1d4811fffff", "881f1d4813fffff", "881f1d4815fffff"]
SETTLE = 240.0


@dataclass
class Region:
    """The nine nodes by role."""

    cluster: Cluster
    region: NodeProcess
    cities: list[NodeProcess]
    north: list[NodeProcess]
    south: list[NodeProcess]

    @property
    def nodes(self) -> list[NodeProcess]:
        return [self.region, *self.cities, *self.north, *self.south]


def build(cluster: Cluster) -> Region:
    """Start the nine nodes and join them; returns once every node knows the other eight."""
    # One worker process each: nine nodes share a small machine.
    top = cluster.add("region", role="federation", federation_area_cells=[AREA], worker_concurrency=1)
    cities = [cluster.add(name, role="federation", worker_concurrency=1) for name in ("north", "south")]
    north = [cluster.add(f"north{n}", worker_concurrency=1) for n in range(1, 4)]
    south = [cluster.add(f"south{n}", worker_concurrency=1) for n in range(1, 4)]
    region = Region(cluster, top, cities, north, south)
    cluster.setup(*region.nodes)
    cluster.start(*region.nodes)
    cluster.federate(top, cities)
    cluster.federate(cities[0], north)
    cluster.federate(cities[1], south)
    others = len(region.nodes) - 1
    wait_until(lambda: all(_count(node, "federation_peers") >= others for node in region.nodes),
               SETTLE, "every node to know the other eight", interval=0.5)
    return region


def declare_flood(region: Region) -> str:
    """The region's steward starts its rapid-response team (joining it) and declares a flood
    over the whole area under the emergency rule; returns the incident's id."""
    top = region.region
    top.api("POST", "/projects", {"name": "Rapid response", "slug": "rapid-response",
                                  "template": "rapid_response", "create_shifts": False}, expect=201)
    moment = datetime.now(UTC)
    incident = top.api("POST", "/incidents", {
        "kind": "flood", "title": "River flood", "cells": [AREA], "emergency": True,
        "starts": (moment - timedelta(minutes=1)).isoformat(),
        "ends": (moment + timedelta(days=2)).isoformat(),
    }, expect=201)
    incident_id = str(incident["id"])
    # Every node hears of it before the first need is posted (the need then takes the priority lane).
    wait_until(lambda: all(node.scalar("SELECT count(*) FROM federation_incidents") for node in region.nodes),
               SETTLE, "every node to hear of the incident", interval=0.3)
    return incident_id


def post(node: NodeProcess, kind: str, title: str, quantity: float, cell: str, unit: str = "l") -> str:
    """Post a need or an offer (a surplus on the wire) through the node's API; returns its id."""
    body = {"category": "food", "title": title, "quantity": quantity, "unit": unit, "h3_cell": cell,
            "urgency": "emergency" if kind == "needs" else "routine"}
    return str(node.api("POST", f"/{kind}", body, expect=201)["id"])


def wait_known(node: NodeProcess, listing_ids: list[str]) -> None:
    """Until the node holds these remote listings."""
    sql = "SELECT count(*) FROM federation_remote_listings WHERE listing_id = :l"
    wait_until(lambda: all(node.scalar(sql, l=uuid_param(node, lid)) for lid in listing_ids),
               SETTLE, f"{node.name} to hear of {len(listing_ids)} listing(s)", interval=0.3)


def pledges_for(node: NodeProcess, need_id: str) -> list[Any]:
    """The pledges a node holds that serve a need (the incident's pledges name it in their note),
    as (id, owner, listing, quantity, status, decided_at) rows."""
    return node.rows(
        "SELECT id, owner_node, listing_id, quantity, status, decided_at FROM federation_pledges "
        "WHERE note LIKE :pattern ORDER BY created_at", pattern=f"% need %/{need_id}",
    )


def accepted_at(node: NodeProcess, need_id: str, quantity: float) -> float | None:
    """When (seconds since the epoch, the node's clock) the pledges for a need were all accepted
    and covered `quantity`; None while they are not."""
    rows = pledges_for(node, need_id)
    if not rows or any(row[4] == "offered" for row in rows):
        return None
    accepted = [row for row in rows if row[4] == "accepted"]
    if sum(float(row[3]) for row in accepted) + 1e-9 < quantity:
        return None
    return max(as_epoch(row[5]) for row in accepted)


def as_epoch(value: Any) -> float:
    """Seconds since the epoch of a timestamp read back with plain SQL (SQLite: UTC text)."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def uuid_param(node: NodeProcess, value: str) -> str:
    # SQLite keeps UUIDs as 32 hex digits; PostgreSQL as uuid.
    return uuid.UUID(value).hex if node.database_url.startswith("sqlite") else value


def _count(node: NodeProcess, table: str) -> int:
    return int(node.scalar(f"SELECT count(*) FROM {table}"))
