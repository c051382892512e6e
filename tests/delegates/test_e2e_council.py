"""End to end with real node processes and workers on loopback: two neighbourhood nodes and a
federation. The assemblies elect delegates, the council decides a proposal by the delegates'
votes, one delegate is recalled mid-vote, and the count changes on every node."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from delegates import client
from tests.harness import PASSWORD, Cluster, HarnessError, NodeProcess, wait_until

pytestmark = pytest.mark.e2e
WAIT = 90


def add_member(node: NodeProcess, handle: str) -> NodeProcess:
    """A member with a token on a running node; returns a view of the node acting as them."""
    from node import create_app
    from node.db import session_scope
    from node.members import service

    app = create_app({"instance_path": node.instance})
    try:
        with session_scope(app) as db:
            member = service.create_member(db, handle, handle.title(), f"{handle}@example.org", PASSWORD)
            _, token = service.create_token(db, member, "e2e")
    finally:
        app.extensions["db"].dispose()
    return NodeProcess(
        f"{node.name}:{handle}", node.instance, node.port, node.settings, token=token, node_id=node.node_id
    )


@pytest.fixture
def region(tmp_path: Path) -> Iterator[dict[str, NodeProcess]]:
    cluster = Cluster(tmp_path / "nodes")
    try:
        nodes = {
            "north": cluster.add("north"),
            "south": cluster.add("south"),
            "city": cluster.add("city", role="federation"),
        }
        cluster.setup(*nodes.values())
        cluster.start(*nodes.values())
        cluster.federate(nodes["city"], [nodes["north"], nodes["south"]])
        yield nodes
    except HarnessError as exc:
        raise HarnessError(f"{exc}\n{cluster.logs()}") from None
    finally:
        cluster.close()


def elect(node: NodeProcess, handle: str, federation: str) -> tuple[NodeProcess, dict[str, Any], str]:
    """The node's assembly elects the member; they take a key made for them."""
    delegate = add_member(node, handle)
    assembly = node.api("POST", "/assemblies", {"title": "Assembly", "method": "majority"}, expect=201)
    body = {
        "delegate": handle,
        "federation": federation,
        "scope": ["relief"],
        "term_days": 30,
        "positions": [{"topic": "relief", "stance": "free", "allowed": ["for", "against"]}],
    }
    proposal = node.api("POST", f"/assemblies/{assembly['id']}/mandate-proposals", body, expect=201)
    for voter in (node, delegate):
        voter.api("POST", f"/proposals/{proposal['id']}/positions", {"stance": "for"}, expect=201)
    assert node.api("POST", f"/proposals/{proposal['id']}/close", expect=200)["outcome"] == "passed"
    mandate = delegate.api("GET", "/mandates?mine=true", expect=200)["items"][0]
    issued = delegate.api("POST", f"/mandates/{mandate['id']}/key", {}, expect=201)
    return delegate, issued["mandate"]["credential"], issued["private_key"]


def until(node: NodeProcess, check: Callable[[NodeProcess], Any], what: str) -> None:
    """Wait for a condition on one node."""
    wait_until(lambda: check(node), WAIT, f"{node.name} {what}")


def tally(node: NodeProcess, proposal_id: str) -> Any:
    found = node.api("GET", f"/council/proposals/{proposal_id}")
    return found if isinstance(found, dict) and "tally" in found else None


def test_delegates_decide_and_a_recall_changes_the_count_everywhere(region: dict[str, NodeProcess]) -> None:
    north, south, city = region["north"], region["south"], region["city"]
    wait_until(
        lambda: south.scalar("SELECT count(*) FROM federation_peers WHERE id = :id", id=north.node_id),
        WAIT,
        "south to learn north through the city's introduction",
    )
    nadia, nadia_credential, nadia_key = elect(north, "nadia", city.node_id)
    sami, sami_credential, sami_key = elect(south, "sami", city.node_id)
    for node in (city, north, south):
        until(node, lambda n: n.api("GET", "/mandates")["total"] == 2, "to hold both mandates")

    opened = city.api(
        "POST",
        "/council/proposals",
        {
            "title": "Pool the generators",
            "text": "Every node lends its generator to the flood shelters.",
            "topic": "relief",
            "method": "majority",
            "quorum_count": 1,
            "quorum_percent": 0,
        },
        expect=201,
    )
    for node in (north, south):
        until(node, lambda n: tally(n, opened["id"]), "to see the proposal")

    nadia.api(
        "POST",
        f"/mandates/{nadia_credential['id']}/acts",
        {"act": client.vote(nadia_key, nadia_credential, opened["id"], "against")},
        expect=201,
    )
    sami.api(
        "POST",
        f"/mandates/{sami_credential['id']}/acts",
        {"act": client.vote(sami_key, sami_credential, opened["id"], "for")},
        expect=201,
    )
    for node in (city, north, south):
        until(node, lambda n: tally(n, opened["id"])["tally"]["participants"] == 2, "to count both votes")
        assert tally(node, opened["id"])["tally"]["outcome"] == "rejected"  # one for, one against

    recall = north.api(
        "POST",
        f"/mandates/{nadia_credential['id']}/recall-proposals",
        {"reason": "she was to support pooling"},
        expect=201,
    )
    north.api("POST", f"/proposals/{recall['id']}/positions", {"stance": "for"}, expect=201)
    north.api("POST", f"/proposals/{recall['id']}/close", expect=200)
    for node in (city, north, south):
        until(
            node,
            lambda n: tally(n, opened["id"])["tally"]["counts"]["against"] == 0,
            "to void the recalled delegate's vote",
        )
        seen = tally(node, opened["id"])
        assert seen["tally"]["counts"]["for"] == 1 and seen["tally"]["outcome"] == "passed", node.name

    late = nadia.api(
        "POST",
        f"/mandates/{nadia_credential['id']}/acts",
        {"act": client.vote(nadia_key, nadia_credential, opened["id"], "against")},
    )
    assert late["reason"] == "mandate-recalled"

    city.api("POST", f"/council/proposals/{opened['id']}/close", expect=200)
    for node in (north, south):
        until(
            node,
            lambda n: tally(n, opened["id"])["status"] == "decided",
            "to receive the federation's decision",
        )
        decided = tally(node, opened["id"])
        assert decided["outcome"] == "passed" and decided["disagreement"] == "", node.name
        assert len(decided["decision"]["voided"]) == 1 and len(decided["decision"]["counted"]) == 1
