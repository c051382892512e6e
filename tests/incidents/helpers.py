"""A small region for incident tests: a federation over two neighbourhood nodes."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from flask import Flask
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from delegates.models import CouncilProposal, CouncilStatus
from federation import incidents
from federation.envelope import now
from federation.identity import local_identity
from federation.models import Peer, Pledge
from federation.peers import introduce
from node.assemblies.methods import Method
from node.db import session_scope
from node.members import service as members
from node.members.models import Member
from tests.conftest import Api
from tests.federation.network import Network, member

CELL = "881f1d4815fffff"  # resolution 8, in Berlin
AREA = "851f1d4bfffffff"  # its resolution 5 parent: the federation's area
OUTSIDE = "851f1897fffffff"  # a neighbouring resolution 5 cell


def region(network: Network) -> tuple[Flask, Flask, Flask]:
    """fed (federation role, area AREA) with members a and b, joined and pumped."""
    fed = network.node("fed", role="federation", federation_area_cells=[AREA])
    a, b = network.node("a"), network.node("b")
    network.join("a", "fed")
    network.join("b", "fed")
    # Introduce each member to the other (a joined before b could hear of it).
    with session_scope(fed) as db:
        for name in ("a", "b"):
            introduce(db, fed, db.get(Peer, network.id(name)))  # type: ignore[arg-type]
    network.pump()
    return fed, a, b


def passed_decision(fed: Flask, outcome: str = "passed") -> str:
    """A decided council proposal of the federation, as its council would leave it."""
    moment = now()
    with session_scope(fed) as db:
        row = CouncilProposal(
            id=uuid.uuid4(), federation=local_identity(fed, db).node_id, title="Declare the flood",
            text="Declare the flood an incident", topic="incident", method=Method.MAJORITY, quorum=1,
            supermajority_num=2, supermajority_den=3, opened_at=moment - timedelta(hours=1),
            closes_at=moment, document="{}", status=CouncilStatus.DECIDED, outcome=outcome,
            decided_at=moment,
        )
        db.add(row)
        return str(row.id)


def responder(app: Flask, handle: str = "rita", template: str = "rapid_response") -> Api:
    """A member on the node's rapid-response roster: in the working group of a project made from
    the rapid-response template (made here if the node has none)."""
    from node.projects import schemas as project_schemas
    from node.projects import service as projects
    from node.projects.models import Project

    api = member(app, handle)
    with session_scope(app) as db:
        person = db.scalar(select(Member).where(Member.handle == handle))
        assert person is not None
        project = db.scalar(select(Project).where(Project.template == template))
        if project is None:
            projects.create_project(db, app.config["MUTUALAID"], person, project_schemas.ProjectIn(
                name="Rapid response", slug=template.replace("_", "-"), template=template,
                create_shifts=False))
        else:
            projects.join(db, project, person, project_schemas.MembershipIn())
    return api


def declare(fed: Flask, by: str | None = None, **kw: Any) -> dict[str, Any]:
    """Declare an incident at `fed` with sensible defaults; returns its API form. Under the
    emergency rule it is declared by `by` (a handle), or by a rapid-response member made here."""
    values: dict[str, Any] = {
        "kind": "flood", "title": "Spree flood", "cells": [AREA],
        "starts": now() - timedelta(minutes=1), "ends": now() + timedelta(days=3),
    }
    values.update(kw)
    if values.get("emergency") and by is None:
        by = f"rr{uuid.uuid4().hex[:8]}"
        responder(fed, by)
    with fed.app_context(), session_scope(fed) as db:
        person = db.scalar(select(Member).where(Member.handle == by)) if by else None
        return incidents.as_dict(incidents.declare(db, fed, by=person, **values))


def pledge_rows(app: Flask) -> list[Pledge]:
    with session_scope(app) as db:
        rows = list(db.scalars(select(Pledge).order_by(Pledge.created_at)))
        db.expunge_all()
        return rows


def steward(app: Flask, handle: str = "stew") -> Api:
    """A steward of `app` with a bearer token."""
    api = member(app, handle)
    with session_scope(app) as db:
        members.grant_steward(db, app.config["MUTUALAID"], None, handle, 30, "test")
    return api


def waiting_for_a_lock(db: Session) -> bool:
    """Whether a transaction on this database waits for a lock now (PostgreSQL); on SQLite,
    where one writer holds the whole database, there is nothing finer to wait for."""
    if db.get_bind().dialect.name != "postgresql":
        return True
    found = db.connection().engine.connect()
    try:
        return bool(found.scalar(text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock'"
        )))
    finally:
        found.close()
