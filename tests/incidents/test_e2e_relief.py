"""End to end with real node processes: a region of two cities of three neighbourhoods each.

The region's rapid-response team declares a flood over the area; needs posted in the northern
city are met from surpluses in the southern one. The region's sweep matches them and offers
pledges, each owning node accepts what it has, and the region sees its pledges accepted.
Nothing is allocated twice: the surpluses hold 12 l between them and the needs ask for 15 l.
How long it takes is measured by `python -m bench.relief` (docs/performance.md), not here.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness import Cluster, HarnessError, RedisServer, wait_until
from tests.incidents.relief_region import (
    NORTH_CELLS,
    SETTLE,
    SOUTH_CELLS,
    Region,
    build,
    declare_flood,
    pledges_for,
    post,
    uuid_param,
    wait_known,
)

pytestmark = pytest.mark.e2e


@pytest.fixture
def region(tmp_path: Path) -> Iterator[Region]:
    redis = RedisServer(tmp_path / "redis")
    redis.start()
    cluster = Cluster(tmp_path / "nodes", redis=redis)
    try:
        yield build(cluster)
    except HarnessError as exc:
        raise HarnessError(f"{exc}\n{cluster.logs()}") from None
    finally:
        cluster.close()
        redis.stop()


def test_needs_in_one_city_are_met_from_surpluses_in_the_other(region: Region) -> None:
    top = region.region
    incident_id = declare_flood(region)
    surpluses = {
        post(node, "offers", f"Bottled water from {node.name}", 4, cell): node
        for node, cell in zip(region.south, SOUTH_CELLS, strict=True)
    }
    wait_known(top, list(surpluses))
    needs = {
        post(node, "needs", f"Drinking water for {node.name}", 5, cell): node
        for node, cell in zip(region.north, NORTH_CELLS, strict=True)
    }

    def settled() -> bool:
        rows = [row for need_id in needs for row in pledges_for(top, need_id)]
        accepted = sum(float(row[3]) for row in rows if row[4] == "accepted")
        return accepted >= 12 - 1e-9 and not any(row[4] == "offered" for row in rows)

    try:
        wait_until(settled, SETTLE, "the region's pledges to be accepted for all 12 l", interval=0.5)
    except HarnessError as exc:
        raise HarnessError(f"{exc}\n{region.cluster.logs()}") from None

    # The pledger's view: every pledge it offered was accepted, none for more than a need asks.
    at_region = {
        str(row[0]).replace("-", ""): row for need_id in needs for row in pledges_for(top, need_id)
    }
    by_need: dict[str, float] = defaultdict(float)
    for need_id in needs:
        for row in pledges_for(top, need_id):
            assert row[4] == "accepted"
            by_need[need_id] += float(row[3])
    assert all(quantity <= 5 + 1e-9 for quantity in by_need.values())
    assert sum(by_need.values()) == pytest.approx(12)

    # The owners' view: each surplus promised at most what it has, and the same pledges.
    at_owners = {}
    for listing_id, owner in surpluses.items():
        rows = owner.rows(
            "SELECT id, pledger_node, quantity, status FROM federation_pledges WHERE listing_id = :l",
            l=uuid_param(owner, listing_id),
        )
        assert all(row[1] == top.node_id for row in rows)
        assert sum(float(row[2]) for row in rows if row[3] == "accepted") <= 4 + 1e-9
        at_owners.update({str(row[0]).replace("-", ""): row for row in rows})
    assert set(at_owners) == set(at_region)
    for pledge_id, row in at_owners.items():
        assert row[3] == "accepted"
        assert float(row[2]) == pytest.approx(float(at_region[pledge_id][3]))

    # The situation at the region: every surplus taken, 3 l still unmet.
    picture = top.api("GET", f"/incidents/{incident_id}/situation", expect=200)
    assert picture["needs"] == 3 and picture["surpluses"] == 3
    assert picture["by_category"]["food"]["unmet"] == pytest.approx(3)
    assert picture["pledges_in_flight"]["by_status"]["accepted"] == len(at_region)
