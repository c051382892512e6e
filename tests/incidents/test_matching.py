"""Matching an incident's needs and surpluses across nodes; the owner decides each pledge."""

from __future__ import annotations

import uuid

import pytest

from federation import incidents
from federation.models import PledgeStatus
from node.db import session_scope
from node.errors import InvalidState
from tests.federation.network import Network, member
from tests.incidents.helpers import CELL, declare, passed_decision, pledge_rows, region, waiting_for_a_lock
from tests.node.factories import need, offer


def match(fed: object, incident_id: str) -> list[incidents.Proposal]:
    with fed.app_context(), session_scope(fed) as db:  # type: ignore[attr-defined, arg-type]
        return incidents.match_incident(db, fed, uuid.UUID(incident_id))  # type: ignore[arg-type]


def test_needs_in_one_node_are_met_from_surpluses_in_another(network: Network) -> None:
    fed, a, b = region(network)
    wanted = member(a, "ann").post("/needs", json=need(category="food", title="Water", quantity=5,
                                                       unit="l", h3_cell=CELL)).get_json()
    spare = member(b, "bob").post("/offers", json=offer(category="food", title="Bottles", quantity=3,
                                                        unit="l", h3_cell=CELL)).get_json()
    network.pump()
    incident = declare(fed, decision=passed_decision(fed))
    proposals = match(fed, incident["id"])
    assert [(p.surplus.resource, p.need.resource, p.quantity) for p in proposals] == [
        (spare["id"], wanted["id"], 3.0)
    ]
    network.pump()
    [at_owner] = pledge_rows(b)
    assert at_owner.status == PledgeStatus.ACCEPTED and at_owner.quantity == 3.0
    [at_fed] = pledge_rows(fed)
    assert at_fed.status == PledgeStatus.ACCEPTED
    # A second run proposes nothing: the accepted pledge holds the whole surplus.
    assert match(fed, incident["id"]) == []


def test_a_pledge_against_an_allocated_surplus_is_declined_by_the_owner(network: Network) -> None:
    fed, a, b = region(network)
    member(a, "ann").post("/needs", json=need(category="food", title="Water", quantity=5, unit="l",
                                              h3_cell=CELL))
    spare = member(b, "bob").post("/offers", json=offer(category="food", title="Bottles", quantity=3,
                                                        unit="l", h3_cell=CELL)).get_json()
    network.pump()
    # a neighbour takes all of it first, directly from the owner
    taken = member(a, "amy").post("/pledges", json={
        "owner": network.id("b"), "listing_id": spare["id"], "listing_kind": "surplus",
        "quantity": 3, "unit": "l",
    })
    assert taken.status_code == 201, taken.get_json()
    network.pump()  # the owner accepts it; the federation's copy of the surplus still says 3 l
    incident = declare(fed, decision=passed_decision(fed))
    assert len(match(fed, incident["id"])) == 1  # the federation knows nothing of it
    network.pump()
    decided = {(row.pledger_node, row.status, row.reason) for row in pledge_rows(b)}
    assert decided == {
        (network.id("a"), PledgeStatus.ACCEPTED, ""),
        (network.id("fed"), PledgeStatus.DECLINED, "the surplus is already fully pledged"),
    }


def test_an_incident_that_is_not_live_is_not_matched(network: Network) -> None:
    fed, _, _ = region(network)
    incident = declare(fed, decision=passed_decision(fed))
    with fed.app_context(), session_scope(fed) as db:
        incidents.close(db, fed, uuid.UUID(incident["id"]), passed_decision(fed))
    with pytest.raises(InvalidState, match="closed"):
        match(fed, incident["id"])


def test_the_sweep_matches_live_incidents_once(network: Network) -> None:
    from federation.sweep import sweep

    fed, a, b = region(network)
    member(a, "ann").post("/needs", json=need(title="Rice", quantity=2, unit="kg", h3_cell=CELL))
    member(b, "bob").post("/offers", json=offer(title="Rice", quantity=5, unit="kg", h3_cell=CELL))
    network.pump()
    assert sweep(fed).jobs["incident-matching"] == 0  # no incident yet
    declare(fed, decision=passed_decision(fed))
    assert sweep(fed).jobs["incident-matching"] == 1
    assert sweep(fed).jobs["incident-matching"] == 0  # held by the pledge in flight
    assert sweep(a).jobs["incident-matching"] == 0  # a neighbourhood node matches nothing
    network.pump()
    assert [row.status for row in pledge_rows(b)] == [PledgeStatus.ACCEPTED]


def test_two_matchers_at_once_offer_each_pledge_once(network: Network) -> None:
    import threading
    import time

    from sqlalchemy import event
    from sqlalchemy.orm import Session

    from federation.models import Pledge

    fed, a, b = region(network)
    member(a, "ann").post("/needs", json=need(title="Rice", quantity=2, unit="kg", h3_cell=CELL))
    member(b, "bob").post("/offers", json=offer(title="Rice", quantity=5, unit="kg", h3_cell=CELL))
    network.pump()
    incident = declare(fed, decision=passed_decision(fed))
    second: list[list[incidents.Proposal]] = []
    started = threading.Event()

    def other_matcher() -> None:
        started.set()
        second.append(match(fed, incident["id"]))

    other = threading.Thread(target=other_matcher)

    def hold(session: Session, _: object) -> None:
        # The first matcher has offered its pledge, uncommitted: let the second one run now,
        # until it waits for the first one's lock or (without that lock) is done.
        if other.ident is not None or not any(isinstance(row, Pledge) for row in session.new):
            return
        other.start()
        deadline = time.monotonic() + 30
        while not (started.is_set() and (waiting_for_a_lock(session) or not other.is_alive())):
            assert time.monotonic() < deadline, "the second matcher neither waited nor finished"
            started.wait(0.05)

    with fed.app_context(), session_scope(fed) as db:
        event.listen(db, "after_flush", hold)
        first = incidents.match_incident(db, fed, uuid.UUID(incident["id"]))
    other.join(60)
    assert not other.is_alive()
    assert len(first) == 1 and second == [[]]
    assert len(pledge_rows(fed)) == 1
    network.pump()
    assert [row.status for row in pledge_rows(b)] == [PledgeStatus.ACCEPTED]
