"""The least an API on the node's stack can be, for bench.api's memory figure.

Flask, one SQLAlchemy 2 ORM model, one pydantic model and one JSON route: its idle memory under
the same gunicorn as the node is what the stack itself costs, before any of the node's own code.
The database is a throwaway SQLite file named by BENCH_REFERENCE_DB, made by prepare().
"""

from __future__ import annotations

import os
import uuid
from typing import Any

from flask import Flask
from pydantic import BaseModel
from sqlalchemy import String, create_engine, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column


class Base(DeclarativeBase):
    pass


class Need(Base):
    __tablename__ = "needs"
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    title: Mapped[str] = mapped_column(String(200))


class NeedOut(BaseModel):
    id: uuid.UUID
    title: str


def prepare(path: str, rows: int = 20) -> None:
    """Make the throwaway database, with rows for the route to return (before gunicorn starts:
    its workers would otherwise race to create the table)."""
    engine = create_engine(f"sqlite:///{path}")
    Base.metadata.create_all(engine)  # a file made for this one run, never a node's database
    with Session(engine) as db:
        db.add_all(Need(title=f"Need number {n}") for n in range(rows))
        db.commit()
    engine.dispose()


def create_app() -> Flask:
    engine = create_engine(f"sqlite:///{os.environ['BENCH_REFERENCE_DB']}")
    app = Flask("reference")

    @app.get("/needs")
    def needs() -> Any:
        with Session(engine) as db:
            rows = db.scalars(select(Need).limit(20)).all()
            return [NeedOut(id=row.id, title=row.title).model_dump(mode="json") for row in rows]

    return app
