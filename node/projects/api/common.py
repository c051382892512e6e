"""Helpers shared by the projects API modules."""

from __future__ import annotations

import uuid

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from node.members.models import Member
from node.settings import Settings


def settings() -> Settings:
    """The node's settings."""
    value: Settings = current_app.config["MUTUALAID"]
    return value


def handles(db: Session, ids: set[uuid.UUID | None]) -> dict[uuid.UUID, str]:
    """Handles of these members in one query (erased members are missing)."""
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return dict(db.execute(select(Member.id, Member.handle).where(Member.id.in_(wanted))).all())


def member_by_handle(db: Session, handle: str) -> Member | None:
    """The member with this handle, if any."""
    return db.scalar(select(Member).where(Member.handle == handle))
