"""Serving photos, only to those who may see them."""

from __future__ import annotations

import io
import uuid

from flask import Response, send_file

from node.api.operations import ApiBlueprint
from node.db import get_session
from node.errors import NotFound
from node.members.auth import current_member
from node.projects import uploads
from node.projects.api.common import settings
from node.projects.models import Upload

bp = ApiBlueprint("uploads_api", __name__, tag="Photos")


@bp.operation("/uploads/<uuid:upload_id>", "GET",
              "A photo: public stories' photos for anyone, others for members only", auth=False,
              problems=(404,), content_type="image/*")
def get_upload(upload_id: uuid.UUID) -> Response:
    db = get_session()
    upload = db.get(Upload, upload_id)
    # Not allowed and not there look the same, so ids cannot be probed.
    if upload is None or not uploads.can_view(db, upload, current_member()):
        raise NotFound("no such photo")
    path = uploads.path_of(settings(), upload)
    if not path.is_file():
        raise NotFound("no such photo")
    # Photos are small (upload_max_bytes); reading them whole leaves no file handle open.
    response = send_file(io.BytesIO(path.read_bytes()), mimetype=upload.content_type, conditional=True,
                         etag=upload.sha256,
                         download_name=f"{upload.id.hex}{uploads.EXTENSIONS[upload.content_type]}")
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "public, max-age=3600" if uploads.is_public(db, upload) else "private"
    return response
