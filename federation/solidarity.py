"""Solidarity requests (plan 4.5): a federation passes a request for support from another
network or a strike fund on to its member nodes, which keep and list it."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from flask import Flask
from pydantic import Field, StringConstraints
from sqlalchemy import String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from federation import bodies
from federation.envelope import EnvelopeError
from federation.registry import APPLIED, ApplyContext, register
from node.db import Base, utcnow
from node.errors import Forbidden

Source = Literal["network", "strike-fund", "union", "other"]


class SolidarityRequest(Base):
    """A request for support a federation passed on."""

    __tablename__ = "federation_solidarity_requests"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    federation: Mapped[str] = mapped_column(String(64), index=True)
    source: Mapped[str] = mapped_column(String(20))
    requester: Mapped[str] = mapped_column(String(120))
    title: Mapped[str] = mapped_column(String(120))
    text: Mapped[str] = mapped_column(Text, default="")
    url: Mapped[str | None] = mapped_column(String(500))
    until: Mapped[datetime | None]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class SolidarityRequested(bodies.Body):
    """A federation passes on a request for support from another network or a strike fund."""

    request_id: uuid.UUID
    source: Source
    requester: Annotated[str, StringConstraints(min_length=1, max_length=120)] = Field(
        description="The network, fund or union asking, by its public name"
    )
    title: bodies.Title
    text: bodies.Text = ""
    url: Annotated[str, StringConstraints(pattern=r"^https?://", max_length=500)] | None = None
    until: bodies.Timestamp | None = None


def pass_on(db: Session, app: Flask, body: SolidarityRequested) -> SolidarityRequest:
    """Store a request at this federation and send it to its members."""
    from federation.identity import local_identity
    from federation.outbox import publish

    if app.config["MUTUALAID"].role != "federation":
        raise Forbidden("only a node in the federation role passes solidarity requests on")
    federation = local_identity(app, db).node_id
    row = _store(db, federation, body)
    publish(db, app, "solidarity.requested", body, audience=[federation])
    return row


def as_dict(row: SolidarityRequest) -> dict[str, Any]:
    """The request for the API."""
    return {"id": str(row.id), "federation": row.federation, "source": row.source,
            "requester": row.requester, "title": row.title, "text": row.text, "url": row.url,
            "until": row.until.isoformat() if row.until else None,
            "received_at": row.received_at.isoformat()}


def apply_requested(ctx: ApplyContext, body: SolidarityRequested) -> str:
    """Keep a federation's request; only the federation that sent it first may resend it."""
    existing = ctx.db.get(SolidarityRequest, body.request_id)
    if existing is not None and existing.federation != ctx.envelope.sender:
        raise EnvelopeError("not-owner", f"request {body.request_id} came from {existing.federation}")
    _store(ctx.db, ctx.envelope.sender, body)
    return APPLIED


def listed(db: Session) -> Any:
    """The statement listing requests, newest first."""
    return select(SolidarityRequest).order_by(SolidarityRequest.received_at.desc(), SolidarityRequest.id)


def _store(db: Session, federation: str, body: SolidarityRequested) -> SolidarityRequest:
    row = db.get(SolidarityRequest, body.request_id) or SolidarityRequest(id=body.request_id)
    row.federation, row.source, row.requester = federation, body.source, body.requester
    row.title, row.text, row.url, row.until = body.title, body.text, body.url, body.until
    db.add(row)
    db.flush()
    return row


register("solidarity.requested", SolidarityRequested, apply_requested)
