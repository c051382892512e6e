"""Back up a node to one file and restore it: every table's rows, the node key, the secret and uploads.

The archive is a zip file: `manifest.json` (format, schema revisions, row counts and a SHA-256 of
every member), one JSON-lines file per table in dependency order, and the instance files. Rows are
written as portable JSON, typed again from the models on restore, so a backup taken on SQLite
restores on PostgreSQL and back. The archive holds the node's private key: keep it as safe as the
node itself.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import json
import os
import re
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, MetaData, Table, delete, func, inspect, select, text, update
from sqlalchemy.types import TypeDecorator

from node.db import Database
from node.migrate import alembic_config, all_metadata, current_heads, upgrade
from node.settings import SECRET_FILE, SETTINGS_FILE, Settings

FORMAT = "mutualaid-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
UPLOADS = "uploads"
BATCH = 500
# Rows `mutualaid init` makes on its own: a database holding only these has nothing to lose.
SETUP_TABLES = {"categories", "federation_identity", "federation_node_keys", "federation_counters"}
# Tables that are not the node's data: the schema version (kept in the manifest) and a broker's queue.
NOT_DATA_PREFIXES = ("alembic_version", "kombu_")
# What a backup's instance file names are made of (see `inside_instance`).
_PLAIN_NAME = re.compile(r"[A-Za-z0-9._-]+")

Progress = Callable[[int], None]


class BackupError(Exception):
    """The archive cannot be written, read or restored; the message says why."""


@dataclass
class Summary:
    """What a backup or restore did, for the honest report at the end."""

    tables: dict[str, int] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    file_bytes: int = 0
    revisions: list[str] = field(default_factory=list)
    node_id: str | None = None
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rows(self) -> int:
        return sum(self.tables.values())


# --- values -----------------------------------------------------------------------------------

def encode(value: Any) -> Any:
    """A database value as JSON (types come back from the column on restore)."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime | date | dtime):
        return value.isoformat()
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    if isinstance(value, bytes | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, timedelta):
        return value.total_seconds()
    return value


def _python_type(column: Any) -> Any:
    kind = column.type
    if isinstance(kind, TypeDecorator):
        kind = kind.impl_instance
    try:
        return kind.python_type
    except NotImplementedError:
        return object


def decode(column: Any, value: Any) -> Any:
    """A JSON value back into what the column takes."""
    if value is None:
        return None
    kind = _python_type(column)
    if kind is datetime:
        parsed = datetime.fromisoformat(value)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    converters: dict[Any, Callable[[Any], Any]] = {
        date: date.fromisoformat, dtime: dtime.fromisoformat, uuid.UUID: uuid.UUID, Decimal: Decimal,
        bytes: base64.b64decode, timedelta: lambda v: timedelta(seconds=v),
    }
    if kind in converters:
        return converters[kind](value)
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return kind(value)
    return value


# --- backup -----------------------------------------------------------------------------------

def instance_files(settings: Settings) -> list[Path]:
    """The instance files a backup carries: keys, the secret, the settings file, uploads."""
    root = settings.instance_path
    found = sorted(root.glob("*.pem"))
    found += [root / name for name in (SECRET_FILE, SETTINGS_FILE) if (root / name).is_file()]
    uploads = root / UPLOADS
    if uploads.is_dir():
        found += sorted(p for p in uploads.rglob("*") if p.is_file())
    return found


def count_rows(database: Database) -> dict[str, int]:
    """Rows per table, in dependency order, for the progress bar."""
    with database.engine.connect() as conn:
        present = set(inspect(conn).get_table_names())
        return {t.name: conn.scalar(select(func.count()).select_from(t)) or 0
                for t in all_metadata().sorted_tables if t.name in present}


def backup(settings: Settings, target: Path, progress: Progress = lambda _n: None) -> Summary:
    """Write the whole node to `target` (a new file, readable only by this user)."""
    started = time.monotonic()
    database = Database(settings.sqlalchemy_url)
    summary = Summary()
    tmp = target.with_name(target.name + ".partial")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as raw, zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as archive:
            manifest = _dump_database(database, archive, summary, progress)
            manifest["files"] = _dump_files(settings, archive, summary, progress)
            manifest["secret_source"] = _dump_env_secret(settings, archive, summary)
            archive.writestr(MANIFEST, json.dumps(manifest, indent=2))
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
        database.dispose()
    summary.seconds = time.monotonic() - started
    return summary


def _dump_database(database: Database, archive: zipfile.ZipFile, summary: Summary,
                   progress: Progress) -> dict[str, Any]:
    tables = all_metadata().sorted_tables
    with database.engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            # One snapshot for every table, so the rows agree with each other.
            conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        present = set(inspect(conn).get_table_names())
        summary.revisions = sorted(_heads(conn))
        entries = []
        for number, table in enumerate(t for t in tables if t.name in present):
            name = f"tables/{number:03d}_{table.name}.jsonl"
            digest, rows = _dump_table(conn, table, archive, name, progress)
            summary.tables[table.name] = rows
            entries.append({"name": table.name, "file": name, "rows": rows, "sha256": digest})
        if "federation_identity" in present:
            summary.node_id = conn.scalar(text("SELECT node_id FROM federation_identity"))
        skipped = sorted(n for n in present - {t.name for t in tables} if not n.startswith(NOT_DATA_PREFIXES))
    if skipped:
        summary.notes.append("tables this software does not know were not backed up: " + ", ".join(skipped))
    return {
        "format": FORMAT, "version": FORMAT_VERSION, "created": datetime.now(UTC).isoformat(),
        "software": _software_version(), "database": database.engine.dialect.name,
        "revisions": summary.revisions, "node_id": summary.node_id, "tables": entries,
    }


def _heads(conn: Connection) -> set[str]:
    if not inspect(conn).has_table("alembic_version"):
        return set()
    return {row[0] for row in conn.execute(text("SELECT version_num FROM alembic_version"))}


def _dump_table(conn: Connection, table: Table, archive: zipfile.ZipFile, name: str,
                progress: Progress) -> tuple[str, int]:
    digest = hashlib.sha256()
    rows = 0
    order = list(table.primary_key.columns) or list(table.columns)
    result = conn.execution_options(stream_results=True, yield_per=BATCH).execute(
        select(table).order_by(*order)
    )
    with archive.open(name, "w") as out:
        for row in result.mappings():
            line = (json.dumps({k: encode(v) for k, v in row.items()}, ensure_ascii=False) + "\n").encode()
            out.write(line)
            digest.update(line)
            rows += 1
            if rows % BATCH == 0:
                progress(BATCH)
    progress(rows % BATCH)
    return digest.hexdigest(), rows


def _dump_files(settings: Settings, archive: zipfile.ZipFile, summary: Summary,
                progress: Progress) -> list[dict[str, Any]]:
    entries = []
    for path in instance_files(settings):
        relative = path.relative_to(settings.instance_path).as_posix()
        data = path.read_bytes()
        archive.writestr(f"instance/{relative}", data)
        entries.append({"path": relative, "size": len(data), "sha256": hashlib.sha256(data).hexdigest(),
                        "mode": path.stat().st_mode & 0o777})
        summary.files.append(relative)
        summary.file_bytes += len(data)
        progress(1)
    return entries


def _dump_env_secret(settings: Settings, archive: zipfile.ZipFile, summary: Summary) -> str:
    # A secret given in the environment is part of the node too: without it, sessions and
    # signed links break after a restore on a new machine.
    if not settings.secret_key:
        return "instance file" if (settings.instance_path / SECRET_FILE).is_file() else "none"
    archive.writestr("environment/secret_key", settings.secret_key + "\n")
    summary.notes.append("the secret key came from MUTUALAID_SECRET_KEY; it is in the archive too")
    return "environment"


def _software_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mutualaid")
    except PackageNotFoundError:
        return "unknown"


# --- reading and verifying ----------------------------------------------------------------------

class Archive:
    """A backup file opened for reading, verified member by member against its manifest."""

    def __init__(self, path: Path) -> None:
        try:
            self.zip = zipfile.ZipFile(path)
            self.manifest: dict[str, Any] = json.loads(self.zip.read(MANIFEST))
        except (OSError, zipfile.BadZipFile, KeyError, ValueError) as exc:
            raise BackupError(f"{path} is not a mutualaid backup ({exc})") from None
        if self.manifest.get("format") != FORMAT:
            raise BackupError(f"{path} is not a mutualaid backup")
        if self.manifest.get("version") != FORMAT_VERSION:
            version = self.manifest.get("version")
            raise BackupError(f"backup format {version} is not supported by this version of mutualaid")

    def close(self) -> None:
        self.zip.close()

    @property
    def total(self) -> int:
        """Rows and files, for the progress bar."""
        return sum(t["rows"] for t in self.manifest["tables"]) + len(self.manifest["files"])

    def verify(self, progress: Progress = lambda _n: None) -> None:
        """Check every member's checksum and row count; raise BackupError on the first mismatch."""
        for entry in self.manifest["files"]:
            # Checked before anything is written: a crafted archive must not touch the database.
            if not inside_instance(entry["path"]):
                raise BackupError(f"the archive names a file outside the instance folder: {entry['path']!r}")
        for entry in self.manifest["tables"]:
            digest = hashlib.sha256()
            rows = 0
            for line in self._lines(entry["file"]):
                digest.update(line)
                rows += 1
            if digest.hexdigest() != entry["sha256"] or rows != entry["rows"]:
                raise BackupError(f"the archive is damaged: table {entry['name']} differs from its manifest")
            progress(rows)
        for entry in self.manifest["files"]:
            data = self.read_file(entry["path"])
            if hashlib.sha256(data).hexdigest() != entry["sha256"]:
                raise BackupError(f"the archive is damaged: {entry['path']} does not match its checksum")
            progress(1)

    def _lines(self, name: str) -> Iterator[bytes]:
        try:
            with self.zip.open(name) as handle:
                yield from handle
        except (KeyError, zipfile.BadZipFile) as exc:
            raise BackupError(f"the archive is damaged: {exc}") from None

    def rows(self, name: str) -> Iterator[dict[str, Any]]:
        """The rows of one table as JSON objects."""
        entry = next(t for t in self.manifest["tables"] if t["name"] == name)
        for line in self._lines(entry["file"]):
            yield json.loads(line)

    def read_file(self, relative: str) -> bytes:
        """One instance file's bytes."""
        try:
            return self.zip.read(f"instance/{relative}")
        except (KeyError, zipfile.BadZipFile) as exc:
            raise BackupError(f"the archive is damaged: {exc}") from None

    def env_secret(self) -> str | None:
        """The secret key the node had from its environment, if it had one."""
        if "environment/secret_key" not in self.zip.namelist():
            return None
        return self.zip.read("environment/secret_key").decode().strip()


# --- restore ----------------------------------------------------------------------------------

def inside_instance(relative: Any) -> bool:
    """Whether an archive's file name is a plain relative path inside the instance folder: parts
    of letters, digits, dots, dashes and underscores only (what a backup writes), so no absolute
    path, `..`, NUL byte, drive letter or Windows separator gets through."""
    if not isinstance(relative, str) or not relative:
        return False
    parts = relative.split("/")
    return all(part not in ("", ".", "..") and _PLAIN_NAME.fullmatch(part) for part in parts)


def restore(settings: Settings, source: Path, force: bool = False,
            progress: Progress = lambda _n: None) -> Summary:
    """Restore the archive into this node's database and instance folder."""
    started = time.monotonic()
    archive = Archive(source)
    database = Database(settings.sqlalchemy_url)
    try:
        archive.verify(progress)
        revisions = list(archive.manifest["revisions"])
        _check_known(database, archive, revisions)
        _check_empty(database, force)
        _prepare_schema(database, revisions)
        summary = Summary(revisions=revisions, node_id=archive.manifest.get("node_id"))
        with database.engine.begin() as conn:
            _clear(conn)
            for entry in archive.manifest["tables"]:
                summary.tables[entry["name"]] = _load_table(conn, archive, entry["name"], progress)
            _reset_sequences(conn)
        upgrade(database)
        _restore_files(settings, archive, summary, progress)
    finally:
        archive.close()
        database.dispose()
    summary.seconds = time.monotonic() - started
    return summary


def _check_known(database: Database, archive: Archive, revisions: list[str]) -> None:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config(database.url))
    for revision in revisions:
        if script.get_revision(revision) is None:
            raise BackupError(f"the backup is from a newer version (schema {revision}): upgrade first")
    known = set(all_metadata().tables)
    unknown = [t["name"] for t in archive.manifest["tables"] if t["name"] not in known]
    if unknown:
        raise BackupError("the backup has tables this version does not know: " + ", ".join(unknown))


def _check_empty(database: Database, force: bool) -> None:
    if force:
        return
    with database.engine.connect() as conn:
        present = set(inspect(conn).get_table_names())
        holding = [t.name for t in all_metadata().sorted_tables
                   if t.name in present and t.name not in SETUP_TABLES
                   and conn.scalar(select(func.count()).select_from(t))]
    if holding:
        raise BackupError("the database already holds data (" + ", ".join(holding[:5])
                          + ("..." if len(holding) > 5 else "") + "): restore with --force to replace it")


def _prepare_schema(database: Database, revisions: list[str]) -> None:
    """Bring the schema to exactly the archive's revisions, so its rows fit; upgraded after."""
    if current_heads(database) == set(revisions):
        return
    with database.engine.begin() as conn:
        all_metadata().drop_all(conn, checkfirst=True)
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    from alembic import command

    for revision in revisions or ["heads"]:
        with database.engine.begin() as conn:
            config = alembic_config(database.url)
            config.attributes["connection"] = conn
            command.upgrade(config, revision)


def _clear(conn: Connection) -> None:
    present = set(inspect(conn).get_table_names())
    for table in reversed(all_metadata().sorted_tables):
        if table.name in present:
            conn.execute(delete(table))


def _load_table(conn: Connection, archive: Archive, name: str, progress: Progress) -> int:
    model = all_metadata().tables[name]
    existing = {c["name"] for c in inspect(conn).get_columns(name)}
    # Only the columns the schema has at the archive's revision; later migrations fill the rest.
    table = Table(name, MetaData(), *[c._copy() for c in model.columns if c.name in existing])
    self_refs = [fk.parent.name for fk in model.foreign_keys
                 if fk.column.table is model and fk.parent.name in existing]
    keys = [c.name for c in model.primary_key.columns]
    later: list[dict[str, Any]] = []
    batch: list[dict[str, Any]] = []
    count = 0
    for raw in archive.rows(name):
        row = {c.name: decode(c, raw[c.name]) for c in table.columns if c.name in raw}
        if any(row.get(col) is not None for col in self_refs):
            # A row may point at one inserted after it: link them once all are in.
            later.append({k: row[k] for k in keys + self_refs})
            row.update(dict.fromkeys(self_refs))
        batch.append(row)
        count += 1
        if len(batch) >= BATCH:
            conn.execute(table.insert(), batch)
            progress(len(batch))
            batch = []
    if batch:
        conn.execute(table.insert(), batch)
        progress(len(batch))
    for link in later:
        where = [table.c[k] == link[k] for k in keys]
        conn.execute(update(table).where(*where).values({c: link[c] for c in self_refs}))
    return count


def _reset_sequences(conn: Connection) -> None:
    # Explicit ids were inserted, so PostgreSQL's sequences must move past them.
    if conn.dialect.name != "postgresql":
        return
    for table in all_metadata().sorted_tables:
        columns = list(table.primary_key.columns)
        if len(columns) != 1 or columns[0].autoincrement is False or _python_type(columns[0]) is not int:
            continue
        column = columns[0]
        sequence = conn.scalar(select(func.pg_get_serial_sequence(table.name, column.name)))
        if sequence:
            highest = select(func.max(column)).scalar_subquery()
            conn.execute(select(func.setval(sequence, func.coalesce(highest, 0) + 1, False)))


def _restore_files(settings: Settings, archive: Archive, summary: Summary, progress: Progress) -> None:
    root = settings.instance_path
    root.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    for entry in archive.manifest["files"]:
        relative = Path(entry["path"])
        if not inside_instance(entry["path"]):
            raise BackupError(f"the archive names a file outside the instance folder: {entry['path']}")
        data = archive.read_file(entry["path"])
        target = root / relative
        if target.exists() and target.read_bytes() != data and target.parent == root:
            # A key or secret made before the restore is set aside, never silently lost.
            target.rename(target.with_name(f"{target.name}.replaced-{stamp}"))
            summary.notes.append(f"kept the previous {relative} as {target.name}.replaced-{stamp}")
        _write_private(target, data, entry.get("mode", 0o600))
        summary.files.append(entry["path"])
        summary.file_bytes += len(data)
        progress(1)
    secret = archive.env_secret()
    if secret and not (root / SECRET_FILE).exists():
        _write_private(root / SECRET_FILE, (secret + "\n").encode(), 0o600)
        summary.notes.append("wrote the secret key the node had from its environment to the instance folder")


def _write_private(target: Path, data: bytes, mode: int) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".restoring")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode & 0o700 or 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(tmp, target)
