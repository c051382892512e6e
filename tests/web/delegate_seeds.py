"""What a federation and its council leave on a node, put straight into it for the browser
checks of the delegates' and relief pages: a federation, a live mandate for the member with a
recall petition against it, a question before the council, an incident and another node's
need. Prints the pages to check as one JSON object."""

from __future__ import annotations

import json
import sys
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import select

from delegates import client, recall
from delegates import mandate as mandates
from delegates.models import CouncilProposal, CouncilStatus, Mandate
from federation.incidents import Incident
from federation.models import Peer, Relation, RemoteListing
from node.assemblies.methods import Method
from node.db import session_scope, utcnow
from node.members.models import Member
from tests.web import seeds
from tests.web.pages import CELL


def delegate_pages(app: Flask, handle: str) -> dict[str, Any]:
    """Seed everything for the member; returns the paths of the pages to check."""
    mandate_id = seeds.mandate(app, handle)
    moment = utcnow()
    with app.app_context(), session_scope(app) as db:
        member = db.scalars(select(Member).where(Member.handle == handle)).one()
        mandate = db.get_one(Mandate, mandate_id)
        db.add(
            Peer(
                id=mandate.federation,
                name="City federation",
                url=None,
                relation=Relation.FEDERATION,
                fingerprint="x",
            )
        )
        other = "ma1" + uuid.uuid4().hex[:32]
        db.add(Peer(id=other, name="Hillside", url=None, relation=Relation.PEER, fingerprint="x"))
        db.flush()
        mandates.register_key(db, app, mandate, member, client.make_key()[1])
        recall.open_petition(db, app, mandate, member, "Missed the last council")
        question = CouncilProposal(
            id=uuid.uuid4(),
            federation=mandate.federation,
            title="Share the generators",
            text="Pool the generators for the flood.",
            topic="relief",
            method=Method.MAJORITY,
            quorum=1,
            supermajority_num=2,
            supermajority_den=3,
            opened_at=moment,
            document="{}",
            status=CouncilStatus.OPEN,
        )
        incident = Incident(
            id=uuid.uuid4(),
            federation=mandate.federation,
            kind="flood",
            title="River flood",
            cells=[CELL],
            starts_at=moment - timedelta(hours=1),
            ends_at=moment + timedelta(days=2),
            authority="council",
        )
        need = RemoteListing(
            node_id=other,
            listing_id=uuid.uuid4(),
            kind="need",
            category="water",
            title="Drinking water",
            quantity=40,
            unit="litre",
            urgency="urgent",
            h3_cell=CELL,
            handle="hill1",
            version_seq=1,
        )
        db.add_all([question, incident, need])
        db.flush()
        return {
            "mandate": f"/mandates/{mandate.id}",
            "elect": f"/assemblies/{mandate.assembly_id}/elect",
            "council": f"/council/{question.id}",
            "incident": f"/incidents/{incident.id}",
            "pledge": f"/pledges/new?node={other}&listing={need.listing_id}",
        }


def federation_pages(app: Flask, handle: str) -> dict[str, Any]:
    """On a federation node: the member becomes a steward on the rapid-response roster, the
    council has passed a decision, and an emergency declaration waits for ratification."""
    from federation.identity import local_identity
    from federation.incidents import RAPID_RESPONSE
    from node.members import service as members
    from node.projects import schemas as project_schemas
    from node.projects import service as projects

    settings, moment = app.config["MUTUALAID"], utcnow()
    with app.app_context(), session_scope(app) as db:
        members.grant_steward(db, settings, None, handle, 30, "browser checks")
        member = db.scalars(select(Member).where(Member.handle == handle)).one()
        projects.create_project(
            db,
            settings,
            member,
            project_schemas.ProjectIn(
                name="Rapid response", slug=f"rr-{handle}", template=RAPID_RESPONSE, create_shifts=False
            ),
        )
        ours = local_identity(app, db).node_id
        decision = CouncilProposal(
            id=uuid.uuid4(),
            federation=ours,
            title="Declare the flood",
            text="Declare the flood an incident",
            topic="incident",
            method=Method.MAJORITY,
            quorum=1,
            supermajority_num=2,
            supermajority_den=3,
            opened_at=moment - timedelta(hours=1),
            closes_at=moment,
            document="{}",
            status=CouncilStatus.DECIDED,
            outcome="passed",
            decided_at=moment,
        )
        incident = Incident(
            id=uuid.uuid4(),
            federation=ours,
            kind="flood",
            title="River flood",
            cells=list(settings.federation_area_cells),
            starts_at=moment - timedelta(hours=1),
            ends_at=moment + timedelta(days=2),
            authority="emergency",
            ratify_by=moment + timedelta(hours=24),
        )
        db.add_all([decision, incident])
        db.flush()
        return {"declare": "/incidents/new", "incident": f"/incidents/{incident.id}"}


if __name__ == "__main__":
    # python -m tests.web.delegate_seeds INSTANCE HANDLE [federation], for the browser tests.
    from node import create_app

    node_app = create_app({"instance_path": Path(sys.argv[1])})
    seed = federation_pages if sys.argv[3:] == ["federation"] else delegate_pages
    print(json.dumps(seed(node_app, sys.argv[2])))
    node_app.extensions["db"].dispose()
