"""The relief situation of the node's area and the pledges between nodes, as pages."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from federation.models import Pledge, PledgeStatus
from node.db import session_scope, utcnow
from tests.web.pages import member_pages, need_form, text


def test_situation_counts_open_needs_and_maps_them(app: Any) -> None:
    ada = member_pages(app, "ada")
    empty = text(ada.get("/situation"))
    assert "0 needs are open on this node." in empty and "<svg" in empty
    for urgency in ("emergency", "urgent", "routine"):
        ada.post(
            "/needs/new", need_form(title=f"Water ({urgency})", urgency=urgency), token_from="/needs/new"
        )
    response = ada.get("/situation")
    page = text(response)
    assert "3 needs are open on this node." in page
    assert "Water (emergency)" in page and "Water (routine)" not in page.split("Urgent, waiting longest")[1]
    assert 'role="img"' in page and "3 open needs in 1 areas" in page
    assert len(response.data) < 100 * 1024
    assert "Hay 3 necesidades abiertas en este nodo." in text(ada.get("/situation?lang=es"))


def test_pledges_made_and_received(app: Any) -> None:
    ada = member_pages(app, "ada")
    with session_scope(app) as db:
        db.add(
            Pledge(
                id=uuid.uuid4(),
                owner_node="ma1" + "b" * 32,
                listing_id=uuid.uuid4(),
                listing_kind="need",
                pledger_node="ma1" + "c" * 32,
                quantity=20,
                unit="litre",
                status=PledgeStatus.ACCEPTED,
                lease_until=utcnow() + timedelta(hours=1),
            )
        )
    page = text(ada.get("/pledges"))
    assert "Received from other nodes" in page and "20 litres" in page and "Accepted" in page


def test_an_incident_situation_view(app: Any) -> None:
    from federation.incidents import Incident
    from tests.web.pages import CELL

    ada = member_pages(app, "ada")
    incident_id = uuid.uuid4()
    with session_scope(app) as db:
        db.add(
            Incident(
                id=incident_id,
                federation="ma1" + "d" * 32,
                kind="flood",
                title="River flood",
                cells=[CELL],
                starts_at=utcnow() - timedelta(hours=1),
                ends_at=utcnow() + timedelta(days=2),
                authority="council",
            )
        )
    listed = text(ada.get("/situation"))
    assert "River flood" in listed and "Live" in listed
    response = ada.get(f"/incidents/{incident_id}")
    page = text(response)
    assert response.status_code == 200 and "River flood" in page and "Unmet need by area" in page
    assert "needs not yet met" in page and "<svg" in page
    assert len(response.data) < 100 * 1024
    assert ada.get(f"/incidents/{uuid.uuid4()}").status_code == 404
