"""End to end through two federations: real node processes and workers on loopback.

n1 is a member of federation f1, n2 of federation f2, and f1 and f2 peer. Nothing links n1 and
n2 directly: each learns of the other only through the federations' introductions, and n1's
need reaches n2 through two relays with n1's own signature intact.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from federation import signing
from tests.harness import Cluster, HarnessError, NodeProcess, wait_until

pytestmark = pytest.mark.e2e


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[dict[str, NodeProcess]]:
    cluster = Cluster(tmp_path / "nodes")
    try:
        nodes = {
            "n1": cluster.add("n1"),
            "f1": cluster.add("f1", role="federation"),
            "f2": cluster.add("f2", role="federation"),
            "n2": cluster.add("n2"),
        }
        cluster.setup(*nodes.values())
        cluster.start(*nodes.values())
        cluster.federate(nodes["f1"], [nodes["n1"]])
        cluster.federate(nodes["f2"], [nodes["n2"]])
        cluster.peer_both_ways(nodes["f1"], nodes["f2"])
        yield nodes
    except HarnessError as exc:
        raise HarnessError(f"{exc}\n{cluster.logs()}") from None
    finally:
        cluster.close()


def _knows(node: NodeProcess, other: NodeProcess) -> bool:
    return bool(node.scalar("SELECT count(*) FROM federation_peers WHERE id = :id", id=other.node_id))


def test_a_need_crosses_two_federations_with_its_signature_intact(chain: dict[str, NodeProcess]) -> None:
    n1, n2 = chain["n1"], chain["n2"]
    wait_until(lambda: _knows(n2, n1), 90, "n2 to learn n1 through the federations' introductions")
    n1.post_need("Sandbags for the river bank")
    raw = wait_until(
        lambda: n2.scalar(
            "SELECT e.raw FROM federation_envelopes e WHERE e.sender = :s AND e.type = 'need.published'",
            s=n1.node_id,
        ),
        90,
        "n1's need to reach n2",
    )
    titles = n2.rows("SELECT title FROM federation_remote_listings WHERE node_id = :s", s=n1.node_id)
    assert [row[0] for row in titles] == ["Sandbags for the river bank"]
    document = json.loads(raw)
    keys = requests.get(n1.url + "/.well-known/mutualaid", timeout=10).json()["keys"]
    signing.verify_any(document, [k["key"] for k in keys])
    via = n2.scalar(
        "SELECT via FROM federation_envelopes WHERE sender = :s AND seq = :q", s=n1.node_id, q=document["seq"]
    )
    assert via == chain["f2"].node_id
    for node in chain.values():  # stored once everywhere, whatever the loops offered
        count = node.scalar(
            "SELECT count(*) FROM federation_envelopes WHERE sender = :s AND seq = :q",
            s=n1.node_id,
            q=document["seq"],
        )
        assert count == 1, node.name
