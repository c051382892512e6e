"""Key rotation: a new signing key, announced in a `node.key_rotated` envelope that the old key
signs, with the old key still verifying until a stated time so nothing in flight is refused.

The envelope is sent in the priority lane, so every peer learns the new key before any
envelope signed with it; and should one arrive first anyway, the gap it leaves is caught up.
The node id does not change: it is derived from the node's first key.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import Flask
from sqlalchemy import select

from federation import bodies, keys
from federation.identity import key_path, local_identity
from federation.models import NodeKey
from federation.signing import public_key_text
from node.db import session_scope, utcnow

MIN_OVERLAP = timedelta(minutes=5)


@dataclass(frozen=True)
class Rotation:
    """What a rotation did."""

    old_key: str
    new_key: str
    old_valid_until: datetime
    envelope_id: str
    fingerprint: str


def rotate_key(app: Flask, overlap: timedelta) -> Rotation:
    """Replace the node key; the old one verifies for `overlap` more (at least five minutes)."""
    from federation.outbox import publish

    if overlap < MIN_OVERLAP:
        raise ValueError(f"the old key must stay valid at least {MIN_OVERLAP}")
    old = local_identity(app)
    settings = app.config["MUTUALAID"]
    path = key_path(app)
    pending = path.with_name(path.name + ".next")
    new_key = keys.generate()
    # Written first: should the commit fail, the current key file is untouched.
    keys.save(new_key, pending, settings.key_passphrase)
    new_public = public_key_text(new_key)
    until = utcnow() + overlap
    try:
        with session_scope(app) as db:
            body = bodies.KeyRotated(new_key=new_public, old_key=old.public_key, old_valid_until=until)
            row = publish(db, app, "node.key_rotated", body, priority=1)
            current = db.scalar(select(NodeKey).where(NodeKey.public_key == old.public_key))
            if current is not None:
                current.retired_at, current.valid_until = utcnow(), until
            db.add(NodeKey(public_key=new_public))
            envelope_id = str(row.id)
    except BaseException:
        pending.unlink(missing_ok=True)
        raise
    # A new file (new inode): every process notices and signs with the new key from now on.
    os.replace(pending, path)
    return Rotation(old.public_key, new_public, until, envelope_id, keys.fingerprint(new_public))
