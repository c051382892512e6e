"""This node's identity: its key on disk, its id, and the key rows peers learn about."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from federation import keys
from federation.models import Identity, NodeKey
from federation.signing import public_key_text
from node.db import session_scope

if TYPE_CHECKING:  # cryptography is loaded where keys are used (federation.signing says why)
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

EXTENSION = "federation.identity"
STAMP = "federation.identity.stamp"


@dataclass(frozen=True)
class LocalIdentity:
    """The node id and the key it signs with now."""

    node_id: str
    key: Ed25519PrivateKey
    public_key: str


def key_path(app: Flask) -> Path:
    """Where the node's private key lives."""
    return Path(app.instance_path) / keys.KEY_FILE


def ensure_identity(app: Flask) -> LocalIdentity:
    """Create the node key and identity row if missing (at `mutualaid init`); idempotent."""
    path = key_path(app)
    passphrase = app.config["MUTUALAID"].key_passphrase
    if not path.exists():
        keys.save(keys.generate(), path, passphrase)
    key = keys.load(path, passphrase)
    public = public_key_text(key)
    with session_scope(app) as db:
        identity = db.scalar(select(Identity))
        if identity is None:
            db.add(Identity(id=1, node_id=keys.node_id_for(public)))
        if db.scalar(select(NodeKey).where(NodeKey.public_key == public)) is None:
            db.add(NodeKey(public_key=public))
    app.extensions.pop(EXTENSION, None)
    return local_identity(app)


def local_identity(app: Flask, db: Session | None = None) -> LocalIdentity:
    """The node's identity, read once per process and again when the key file changes.

    Pass the caller's session when inside a transaction: on SQLite a second connection would
    wait for the writer lock that transaction holds."""
    cached: LocalIdentity | None = app.extensions.get(EXTENSION)
    # Another process may have rotated the key (`mutualaid rotate-key`): sign with the new one.
    stamp = _stamp(key_path(app))
    if cached is None or app.extensions.get(STAMP) != stamp:
        key = keys.load(key_path(app), app.config["MUTUALAID"].key_passphrase)
        if cached is not None:
            node_id = cached.node_id  # never changes; no second connection inside a transaction
        elif db is not None:
            node_id = node_id_of(db)
        else:
            with session_scope(app) as own:
                node_id = node_id_of(own)
        cached = LocalIdentity(node_id=node_id, key=key, public_key=public_key_text(key))
        app.extensions[EXTENSION] = cached
        app.extensions[STAMP] = stamp
    return cached


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return (stat.st_mtime_ns, stat.st_ino)


def node_id_of(db: Session) -> str:
    """This node's id from the database."""
    identity = db.scalar(select(Identity))
    if identity is None:
        raise keys.NodeKeyError("this node has no identity yet: run 'mutualaid init'")
    return identity.node_id
