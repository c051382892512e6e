"""Running the Alembic migrations of every package against a node's database."""

from __future__ import annotations

import importlib
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import MetaData, inspect

from node.db import Base, Database

MIGRATIONS = Path(__file__).parent / "migrations"


def all_metadata() -> MetaData:
    """The tables of every package, as the migrations must build them."""
    import node.models  # noqa: F401  (registers the node's tables)

    for package in ("federation", "delegates"):  # installed beside the node, or not
        try:
            importlib.import_module(f"{package}.models")
        except ModuleNotFoundError as exc:
            if exc.name != f"{package}.models":
                raise
    return Base.metadata


def alembic_config(url: str) -> Config:
    """An Alembic configuration for this database, built in code (no alembic.ini to edit)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(database: Database, revision: str = "heads") -> None:
    """Bring the schema up to date; safe to run again."""
    with database.engine.begin() as connection:
        config = alembic_config(database.url)
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def current_heads(database: Database) -> set[str]:
    """The revisions the database is at (empty when it was never migrated)."""
    from alembic.runtime.migration import MigrationContext

    with database.engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return set()
        return set(MigrationContext.configure(connection).get_current_heads())
