"""Many nodes pledging at once against the same surpluses, at the owning node's real pledge
flow and database: whatever the offers, never more is promised than there is."""

from __future__ import annotations

import itertools
import threading
import uuid
from collections.abc import Iterator
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from federation.models import Pledge, PledgeStatus
from node.db import session_scope
from tests.federation.network import Network, member, post_batch
from tests.federation.test_pledges import offer_envelope
from tests.node.factories import offer

PLEDGERS = ("n1", "n2", "n3", "n4")
# One offer: which node sends it, how much, and whether its lease already ran out.
OFFERS = st.lists(
    st.tuples(st.sampled_from(PLEDGERS), st.integers(1, 6), st.booleans()), min_size=1, max_size=16,
)


# Without shrinking: each example drives real nodes, so a failure is reported as generated.
@settings(max_examples=8, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate],
           suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(stock=st.lists(st.integers(1, 10), min_size=1, max_size=3), offers=st.lists(OFFERS, min_size=1,
                                                                                  max_size=3))
def test_no_surplus_is_ever_promised_beyond_its_quantity(
    network: Network, stock: list[int], offers: list[list[tuple[str, int, bool]]]
) -> None:
    owner = network.nodes.get("owner") or _network(network)
    seqs = _seqs(network)
    poster = member(owner, f"p{next(seqs['_posters'])}")
    surpluses = [poster.post("/offers", json=offer(title="Sandbags", quantity=q, unit="l")).get_json()["id"]
                 for q in stock]
    batches: dict[str, list[dict[str, Any]]] = {name: [] for name in PLEDGERS}
    for index, surplus_offers in enumerate(offers):
        surplus = surpluses[index % len(surpluses)]
        for name, quantity, lapsed in surplus_offers:
            lease = "2000-01-01T00:00:00Z" if lapsed else "2099-01-01T00:00:00Z"
            batches[name].append(offer_envelope(network, name, surplus, quantity, next(seqs[name]),
                                                listing_kind="surplus", lease_until=lease))

    threads = [threading.Thread(target=_send, args=(network, name, batch)) for name, batch in batches.items()
               if batch]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    with session_scope(owner) as db:
        for surplus, quantity in zip(surpluses, stock, strict=False):
            rows = list(db.scalars(select(Pledge).where(Pledge.listing_id == uuid.UUID(surplus))))
            accepted = sum(row.quantity for row in rows if row.status == PledgeStatus.ACCEPTED)
            assert accepted <= quantity + 1e-9
            assert all(row.status != PledgeStatus.OFFERED for row in rows)  # each one decided
            for row in rows:
                if row.lease_until.year == 2000:
                    assert row.status == PledgeStatus.DECLINED
                    assert row.reason == "the pledge's lease ran out before it arrived"
            live = [row for row in rows if row.lease_until.year != 2000]
            offered_total = sum(_offered(offers, surpluses, surplus))
            # nothing lost: what could be given was given
            assert accepted == min(quantity, offered_total) or len(live) == 0


def _network(network: Network) -> Any:
    owner = network.node("owner")
    for name in PLEDGERS:
        network.node(name)
        network.peer("owner", name)
    return owner


def _seqs(network: Network) -> dict[str, Iterator[int]]:
    store: dict[str, Iterator[int]] = network.__dict__.setdefault("_incident_seqs", {})
    for name in (*PLEDGERS, "_posters"):
        store.setdefault(name, itertools.count(1000))
    return store


def _send(network: Network, name: str, batch: list[dict[str, Any]]) -> None:
    answer = post_batch(network.nodes["owner"], batch, hop=network.id(name))
    assert answer.status_code == 200, answer.get_json()


def _offered(offers: list[list[tuple[str, int, bool]]], surpluses: list[str], surplus: str) -> Iterator[int]:
    for index, surplus_offers in enumerate(offers):
        if surpluses[index % len(surpluses)] == surplus:
            yield from (quantity for _, quantity, lapsed in surplus_offers if not lapsed)
