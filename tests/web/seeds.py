"""Data that other parts of the network create, put straight into a node for the page tests.

A mandate needs a federation and an assembly decision; here it is recorded as the election
would leave it, so that the pages a delegate uses can be tested on one node.
"""

from __future__ import annotations

import sys
import uuid
from datetime import timedelta
from pathlib import Path

from flask import Flask
from sqlalchemy import select

from delegates import trust
from delegates.models import Mandate, MandateStatus
from node.assemblies import schemas as assembly_schemas
from node.assemblies import service as assemblies
from node.assemblies.methods import Stance
from node.db import session_scope, utcnow
from node.members.models import Member

FEDERATION = "ma1" + "a" * 32


def mandate(app: Flask, handle: str) -> uuid.UUID:
    """A mandate for the member, elected by a new assembly, waiting for the delegate's key."""
    with session_scope(app) as db:
        member = db.scalars(select(Member).where(Member.handle == handle)).one()
        assembly = assemblies.create_assembly(
            db, member, assembly_schemas.AssemblyIn(title="Street assembly")
        )
        proposal = assemblies.create_proposal(
            db, assembly, member, f"Elect {handle}", "Our delegate for relief."
        )
        assemblies.cast_position(db, proposal, member, Stance.FOR)
        decision = assemblies.close_proposal(db, proposal, None)
        row = Mandate(
            issuer=trust.local_id(app, db),
            federation=FEDERATION,
            delegate_handle=member.handle,
            scope=["relief", "housing"],
            status=MandateStatus.AWAITING_KEY,
            positions=[
                {"topic": "relief", "stance": "for", "note": "Share the generators"},
                {"topic": "housing", "stance": "free", "allowed": []},
            ],
            expires_at=utcnow() + timedelta(days=90),
            assembly_id=assembly.id,
            member_id=member.id,
            decision_id=decision.id,
        )
        db.add(row)
        db.flush()
        return row.id


if __name__ == "__main__":
    # python -m tests.web.seeds INSTANCE HANDLE: used by the browser tests on a node process.
    from node import create_app

    node_app = create_app({"instance_path": Path(sys.argv[1])})
    print(mandate(node_app, sys.argv[2]))
    node_app.extensions["db"].dispose()
