"""A listing's edit and a pledge decision on it, at the same time, take their locks in one order.

Both write the listing and publish (under this node's seq counter's row lock). The pledge
decision takes the counter first; were the edit to write the listing's row first and only then
take the counter, each would wait for the other (a deadlock on PostgreSQL). Here the edit is
held right after it wrote the listing's row, until the pledge decision running in another thread
is waiting for a lock (PostgreSQL) or has started (SQLite, where one writer holds the database).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from federation.models import Pledge, PledgeStatus
from federation.outbox import DrainResult, drain_peer
from node.db import session_scope
from node.resources import schemas, service
from node.resources.models import Listing, ListingKind
from tests.federation.network import Network, member
from tests.incidents.helpers import waiting_for_a_lock
from tests.node.factories import offer


def test_an_edit_and_a_pledge_decision_at_once_do_not_deadlock(network: Network) -> None:
    owner, pledger = network.node("owner"), network.node("pledger")
    network.peer("owner", "pledger")
    spare = member(owner, "olga").post("/offers", json=offer(title="Blankets", quantity=6, unit="item"))
    listing_id = spare.get_json()["id"]
    network.pump()
    offered = member(pledger, "pat").post("/pledges", json={
        "owner": network.id("owner"), "listing_id": listing_id, "listing_kind": "surplus",
        "quantity": 2, "unit": "item",
    })
    assert offered.status_code == 201, offered.get_json()

    results: list[DrainResult] = []
    errors: list[BaseException] = []
    started = threading.Event()

    def decide() -> None:  # the pledge offer reaches the owner's inbox, which decides on it
        started.set()
        try:
            results.append(drain_peer(pledger, network.id("owner"), budget=60, force=True))
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    other = threading.Thread(target=decide)
    with owner.app_context(), session_scope(owner) as db:
        listing = db.scalar(select(Listing).where(Listing.title == "Blankets"))
        assert listing is not None and listing.kind == ListingKind.OFFER

        def hold(session: Session, _: Any) -> None:
            if other.is_alive() or not any(isinstance(row, Listing) for row in session.dirty):
                return
            other.start()
            deadline = time.monotonic() + 30
            while not (started.is_set() and waiting_for_a_lock(session)):
                assert time.monotonic() < deadline, "the pledge decision never waited for a lock"
                started.wait(0.05)

        event.listen(db, "after_flush", hold)
        service.update_listing(db, owner.config["MUTUALAID"], listing, schemas.ListingUpdate(
            title="Wool blankets"))
    other.join(60)
    assert not other.is_alive() and errors == []
    [result] = results
    assert not result.failed, result.error
    assert result.settled == 1
    network.pump()
    with session_scope(owner) as db:
        [decided] = db.scalars(select(Pledge)).all()
        assert decided.status == PledgeStatus.ACCEPTED and decided.quantity == 2
        assert db.scalar(select(Listing.title).where(Listing.title == "Wool blankets")) is not None
    with session_scope(pledger) as db:
        assert [row.status for row in db.scalars(select(Pledge))] == [PledgeStatus.ACCEPTED]
