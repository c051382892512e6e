"""Photo files follow the transaction: kept on commit, removed when it never commits."""

from __future__ import annotations

from typing import Any

from node.db import database, session_scope
from node.members.models import Member
from node.projects import uploads
from node.projects.models import Upload

PNG = b"\x89PNG\r\n\x1a\n" + bytes(32)


def test_files_follow_the_transaction(app: Any, make_member: Any) -> None:
    make_member("alice")
    settings = app.config["MUTUALAID"]
    db = database(app).sessions()
    alice = db.query(Member).filter_by(handle="alice").one()
    lost = uploads.path_of(settings, uploads.store(db, settings, alice, PNG))
    assert lost.exists()
    db.close()  # never committed
    assert not lost.exists()

    with session_scope(app) as db:
        alice = db.query(Member).filter_by(handle="alice").one()
        kept = uploads.path_of(settings, uploads.store(db, settings, alice, PNG))
    assert kept.exists()

    db = database(app).sessions()
    uploads.discard(db, settings, db.query(Upload).one())
    db.rollback()
    db.close()
    assert kept.exists()

    with session_scope(app) as db:
        uploads.discard(db, settings, db.query(Upload).one())
    assert not kept.exists()


def test_type_is_read_from_the_bytes() -> None:
    assert uploads.sniff(b"\xff\xd8\xff\xdb" + bytes(8)) == "image/jpeg"
    assert uploads.sniff(PNG) == "image/png"
    assert uploads.sniff(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "image/webp"
    assert uploads.sniff(b"GIF89a") is None
    assert uploads.sniff(b"<?xml") is None
