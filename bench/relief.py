"""How long from a need being posted to the pledge for it being accepted, across a region.

Run `python -m bench.relief` from the repository root. It starts the relief scenario of issue 5
with real node processes (tests/incidents/relief_region.py, the same nodes as the end-to-end
test): a region federation over two city federations of three neighbourhoods each, nine nodes,
each a `mutualaid run` web process and a `mutualaid worker` with one worker process and the
sweep's timer embedded (every second), Redis as broker when `redis-server` is installed. The
region's rapid-response team declares a flood; the southern city's neighbourhoods post
surpluses; then, one at a time, a northern neighbourhood posts a need through its API and we
time until the region holds accepted pledges covering all of it:

    need posted at a northern node -> its city -> the region (relays, priority lane)
    -> the region's sweep matches it and offers pledges -> the southern city -> the owner
    -> the owner accepts -> back through the city to the region, which records it accepted

The end is the region's own clock (the pledge's `decided_at`), so polling adds no delay to
the figure. It prints progress to stderr and, as its last line, one JSON object: p50 and max
seconds over the needs, and how many surpluses were promised beyond what they have (must be 0).
Set MUTUALAID_TEST_DATABASE_URL to run the nodes on PostgreSQL.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.harness import Cluster, HarnessError, RedisServer, wait_until
from tests.incidents.relief_region import (
    NORTH_CELLS,
    SOUTH_CELLS,
    Region,
    accepted_at,
    build,
    declare_flood,
    post,
    uuid_param,
    wait_known,
)

NEED = 2.0  # litres per need
STOCK = 50.0  # litres per surplus: enough that every need is met in full


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def measure(region: Region, needs: int, timeout: float) -> dict[str, Any]:
    """Post the needs one at a time; returns the figures."""
    top = region.region
    declare_flood(region)
    surpluses = {post(node, "offers", f"Water from {node.name}", STOCK, cell): node
                 for node, cell in zip(region.south, SOUTH_CELLS, strict=True)}
    wait_known(top, list(surpluses))
    log("relief: incident declared, surpluses known at the region; posting needs")
    times: list[float] = []
    unmet = 0
    for n in range(needs):
        node = region.north[n % len(region.north)]
        started = time.time()
        need_id = post(node, "needs", f"Drinking water {n}", NEED, NORTH_CELLS[n % len(NORTH_CELLS)])
        try:
            done = wait_until(lambda need_id=need_id: accepted_at(top, need_id, NEED), timeout,
                              f"need {n} to be met", interval=0.1)
        except HarnessError:
            unmet += 1
            log(f"relief: need {n} not met within {timeout:.0f} s")
            continue
        times.append(done - started)
        log(f"relief: need {n} from {node.name}: pledge accepted after {times[-1]:.2f} s")
    over = 0
    for listing_id, owner in surpluses.items():
        promised = owner.scalar(
            "SELECT coalesce(sum(quantity), 0) FROM federation_pledges "
            "WHERE listing_id = :l AND status = 'accepted'", l=uuid_param(owner, listing_id))
        over += float(promised) > STOCK + 1e-9
    ordered = sorted(times)
    return {
        "needs": needs, "met": len(times), "unmet": unmet,
        "p50_s": round(statistics.median(ordered), 3) if ordered else None,
        "max_s": round(ordered[-1], 3) if ordered else None,
        "min_s": round(ordered[0], 3) if ordered else None,
        "over_allocated_surpluses": over,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--needs", type=int, default=9, help="needs posted, one at a time")
    parser.add_argument("--timeout", type=float, default=120, help="seconds to wait for each need")
    parser.add_argument("--keep", action="store_true", help="keep the nodes' folders and logs")
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="mutualaid-bench-relief-"))
    redis = None
    if shutil.which("redis-server"):
        redis = RedisServer(root / "redis")
        redis.start()
    results: dict[str, Any] = {
        "benchmark": "relief", "python": platform.python_version(), "cpus": os.cpu_count(),
        "load_average_before": round(os.getloadavg()[0], 1),
        "broker": "redis" if redis else "sqlalchemy",
        "database": "postgresql" if os.environ.get("MUTUALAID_TEST_DATABASE_URL") else "sqlite",
        "nodes": 9,
    }
    cluster = Cluster(root / "nodes", redis=redis)
    try:
        started = time.monotonic()
        region = build(cluster)
        log(f"relief: nine nodes up and joined in {time.monotonic() - started:.0f} s")
        results.update(measure(region, args.needs, args.timeout))
    finally:
        cluster.close()
        if redis is not None:
            redis.stop()
        if args.keep:
            log(f"nodes kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    results["load_average_after"] = round(os.getloadavg()[0], 1)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
