"""Photos of library items and stories, kept under the instance folder.

A client's file name is never used: the file is named by the row's id. The type is read from
the first bytes (JPEG, PNG or WebP), not from what the client says. Files are written before
the commit and removed again if the transaction rolls back; a deleted photo's file is removed
only once the deletion is committed.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import uuid
from pathlib import Path

from flask import request
from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

from node.errors import FieldError, TooLarge, ValidationFailed
from node.members.models import Member
from node.projects.models import LibraryItem, Story, Upload, Visibility
from node.settings import Settings

FOLDER = "uploads"
EXTENSIONS = {"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp"}
_CREATED = "projects_uploads_created"
_DOOMED = "projects_uploads_doomed"


def sniff(data: bytes) -> str | None:
    """The image type the bytes really are, or None."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def folder(settings: Settings) -> Path:
    """Where uploads live: instance/uploads/."""
    return settings.instance_path / FOLDER


def path_of(settings: Settings, upload: Upload) -> Path:
    """The file of an upload, named by its id."""
    return folder(settings) / f"{upload.id.hex}{EXTENSIONS.get(upload.content_type, '.bin')}"


def read_body(settings: Settings) -> bytes:
    """The raw request body, refused past the upload size limit before it is read."""
    cap = settings.upload_max_bytes
    if request.content_length is not None and request.content_length > cap:
        raise TooLarge("the photo is too large", [FieldError("body", f"at most {cap} bytes")])
    # A body without a declared length (chunked) is cut at the limit when read, not refused:
    # read one byte past it, and refuse if that byte came, so a cut photo is never kept.
    request.max_content_length = cap + 1
    data = request.get_data(cache=False)
    if len(data) > cap:
        raise TooLarge("the photo is too large", [FieldError("body", f"at most {cap} bytes")])
    if not data:
        raise ValidationFailed("no photo sent", [FieldError("body", "send the image bytes as the body")])
    return data


def store(
    db: Session, settings: Settings, owner: Member, data: bytes, item: LibraryItem | None = None,
    story: Story | None = None,
) -> Upload:
    """Check and keep one photo; its file is removed again if the transaction rolls back."""
    if len(data) > settings.upload_max_bytes:
        raise TooLarge("the photo is too large",
                       [FieldError("body", f"at most {settings.upload_max_bytes} bytes")])
    kind = sniff(data)
    if kind is None:
        raise ValidationFailed("not an image we accept",
                               [FieldError("body", "must be a JPEG, PNG or WebP image")])
    upload = Upload(id=uuid.uuid4(), owner_id=owner.id, content_type=kind, size=len(data),
                    sha256=hashlib.sha256(data).hexdigest(), item_id=item.id if item else None,
                    story_id=story.id if story else None)
    target = path_of(settings, upload)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_suffix(".part")
    with open(temporary, "wb") as handle:
        handle.write(data)
    os.replace(temporary, target)
    db.info.setdefault(_CREATED, []).append(target)
    db.add(upload)
    db.flush()
    return upload


def discard(db: Session, settings: Settings, upload: Upload) -> None:
    """Delete an upload; its file goes once the deletion is committed."""
    db.info.setdefault(_DOOMED, []).append(path_of(settings, upload))
    db.delete(upload)
    db.flush()


def can_view(db: Session, upload: Upload, viewer: Member | None) -> bool:
    """Owners see their uploads; members see item photos and stories' photos; anyone sees a
    public story's photos."""
    if viewer is not None and viewer.id == upload.owner_id:
        return True
    if upload.story_id is not None:
        story = db.get(Story, upload.story_id)
        if story is None:
            return False
        return story.visibility == Visibility.PUBLIC or viewer is not None
    return upload.item_id is not None and viewer is not None


def is_public(db: Session, upload: Upload) -> bool:
    """Whether anyone at all may see it (so caches may keep it)."""
    story = db.get(Story, upload.story_id) if upload.story_id else None
    return story is not None and story.visibility == Visibility.PUBLIC


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    session.info.pop(_CREATED, None)
    for path in session.info.pop(_DOOMED, []):
        _remove(path)


@event.listens_for(Session, "after_transaction_end")
def _after_transaction_end(session: Session, transaction: SessionTransaction) -> None:
    # Runs after after_commit; whatever is still listed here was never committed: a rollback,
    # or a session closed without committing.
    if transaction.parent is not None:
        return
    session.info.pop(_DOOMED, None)
    for path in session.info.pop(_CREATED, []):
        _remove(path)


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
