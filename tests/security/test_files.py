"""Uploads and file names as an attacker sends them: photos over the size limit (declared or
not, on library items and on stories) are refused with a reason and leave nothing, and no file
name a client sends (`../../etc/passwd`, absolute paths, NUL bytes, Windows separators) is ever
used to write or read a file outside the node's folders."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from node import backup
from node.db import session_scope
from node.members.models import Member
from node.projects.models import Upload
from tests.conftest import TEST_SECRET
from tests.delegates.conftest import Region, region
from tests.projects.helpers import count, make_project, problem
from tests.web.pages import Pages, text

__all__ = ["region"]  # the delegates' fixture, used by the last test

PNG = b"\x89PNG\r\n\x1a\n" + bytes(200)
CAP = 1024
NAMES = [
    "../../etc/passwd", "/etc/passwd", "..%2F..%2Fetc%2Fpasswd", "..\\..\\windows\\win.ini",
    "C:\\Windows\\win.ini", "photo.png\x00.sh", "uploads/../../escape.png", "\\\\server\\share\\x.png",
]


def files_under(root: Path) -> set[str]:
    """Every file below `root`, as paths relative to it."""
    return {str(path.relative_to(root)) for path in root.rglob("*") if path.is_file()}


def photo_targets(app: Flask, make_member: Any) -> tuple[Any, list[str]]:
    """A member, and the two photo routes that accept their uploads: an item's and a story's."""
    alice = make_member("alice", target=app)
    project = make_project(alice, "tools", template="tool_library")
    item = alice.post(f"/projects/{project['id']}/items", json={"name": "Ladder"}).json
    story = alice.post("/stories", json={"title": "Ladder day", "body": "We fixed it."}).json
    return alice, [f"/api/v1/items/{item['id']}/photos", f"/api/v1/stories/{story['id']}/photos"]


def test_photos_over_the_limit_are_refused_with_a_reason_and_leave_nothing(
    app_factory: Any, make_member: Any, tmp_path: Path
) -> None:
    app = app_factory(upload_max_bytes=CAP)
    alice, routes = photo_targets(app, make_member)
    instance = app.config["MUTUALAID"].instance_path
    before = files_under(tmp_path)
    headers = {"Authorization": f"Bearer {alice.token}", "Content-Type": "image/png"}
    for url in routes:
        # A declared length over the cap: refused before the body is read.
        problem(alice.client.post(url, data=PNG + bytes(CAP), headers=headers), 413, "body",
                f"at most {CAP} bytes")
        # No declared length (a chunked body): refused once the cap is passed while reading.
        chunked = alice.client.post(url, input_stream=io.BytesIO(PNG + bytes(4 * CAP)), headers=headers,
                                    environ_overrides={"CONTENT_LENGTH": None,
                                                       "HTTP_TRANSFER_ENCODING": "chunked",
                                                           "wsgi.input_terminated": True})
        assert chunked.status_code == 413, chunked.data[:300]
        assert chunked.mimetype == "application/problem+json"
        assert chunked.json["detail"]
        # Exactly at the cap is still accepted: the limit is the documented one.
        at_cap = alice.client.post(url, data=PNG + bytes(CAP - len(PNG)), headers=headers)
        assert at_cap.status_code == 201, at_cap.json
    assert count(app, Upload) == 2
    added = files_under(tmp_path) - before
    assert len(added) == 2 and all(name.startswith(str((instance / "uploads").relative_to(tmp_path)))
                                   for name in added), added


@pytest.mark.parametrize("name", NAMES)
def test_a_client_file_name_never_names_the_file(
    app: Flask, make_member: Any, tmp_path: Path, name: str
) -> None:
    alice, routes = photo_targets(app, make_member)
    uploads = app.config["MUTUALAID"].instance_path / "uploads"
    before = files_under(tmp_path)
    headers = {"Authorization": f"Bearer {alice.token}", "Content-Type": "image/png",
               "Content-Disposition": f'attachment; filename="{name}"', "X-File-Name": name,
               "Slug": name}
    for url in routes:
        # The raw image with the hostile name in every header a client might use: stored under
        # the row's id, in the uploads folder.
        r = alice.client.post(url, data=PNG, headers=headers)
        assert r.status_code == 201, r.json
        # A multipart form with the hostile name as its file name: not an image, refused.
        form = {"photo": (io.BytesIO(PNG), name)}
        refused = alice.client.post(url, data=form, content_type="multipart/form-data",
                                    headers={"Authorization": f"Bearer {alice.token}"})
        problem(refused, 422, "body", "JPEG, PNG or WebP")
    added = files_under(tmp_path) - before
    assert len(added) == 2, added
    for path in added:
        stored = tmp_path / path
        assert stored.parent == uploads and stored.stem.isalnum() and stored.suffix == ".png", path
    assert count(app, Upload) == 2


@pytest.mark.parametrize("path", [
    "/api/v1/uploads/../../etc/passwd", "/api/v1/uploads/..%2F..%2Fetc%2Fpasswd",
    "/api/v1/uploads/%2Fetc%2Fpasswd", "/api/v1/uploads/..%5C..%5Csecret_key", "/api/v1/uploads/x%00.png",
    "/static/../../etc/passwd", "/static/..%2F..%2Fetc%2Fpasswd", "/static/%2Fetc%2Fpasswd",
    "/static/..%5C..%5Cmutualaid.toml", "/static/site.css%00.txt", "/static/../mutualaid.toml",
    "/api/v1/exports/..%2F..%2Fetc%2Fpasswd", "/api/v1/exports/needs.csv%00",
])
def test_routes_that_take_a_name_never_serve_a_file_outside_their_folder(
    app: Flask, make_member: Any, path: str
) -> None:
    alice = make_member("alice")
    instance = app.config["MUTUALAID"].instance_path
    secrets = [Path("/etc/passwd").read_text()[:20], TEST_SECRET]
    secrets += [(instance / name).read_text()[:40] for name in ("mutualaid.toml", "node_key.pem")
                if (instance / name).exists()]
    member = {"Authorization": f"Bearer {alice.token}"}
    for client, headers in ((app.test_client(), {}), (alice.client, member)):
        response = client.get(path, headers=headers, follow_redirects=True)  # a merged "//" redirects
        assert response.status_code in (400, 404), (path, response.status_code)
        body = response.get_data(as_text=True)
        assert not any(secret in body for secret in secrets), path


def crafted_archive(source: Path, target: Path, name: str) -> None:
    """A copy of a real backup whose manifest also names `name`, with a matching checksum."""
    data = b"owned\n"
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(target, "w") as out:
        for item in src.infolist():
            content = src.read(item)
            if item.filename == backup.MANIFEST:
                manifest = json.loads(content)
                manifest["files"].append({"path": name, "size": len(data), "mode": 0o644,
                                          "sha256": hashlib.sha256(data).hexdigest()})
                content = json.dumps(manifest).encode()
            out.writestr(item, content)
        out.writestr(f"instance/{name}", data)


@pytest.mark.parametrize("name", [*NAMES, "uploads/..", "./../escape", "C:escape", "a/\x00/b"])
def test_a_backup_naming_a_file_outside_the_instance_is_refused_before_anything_is_written(
    app: Flask, make_member: Any, tmp_path: Path, name: str
) -> None:
    make_member("alice")
    settings = app.config["MUTUALAID"]
    good = tmp_path / "good.zip"
    backup.backup(settings, good)
    hostile = tmp_path / "hostile.zip"
    crafted_archive(good, hostile, name)
    restore_root = tmp_path / "restore"
    restore_root.mkdir()
    other_db = restore_root / "other.sqlite3"
    other = settings.model_copy(update={
        "instance_path": restore_root / "deep" / "instance", "database_url": f"sqlite:///{other_db}",
        "secret_key": TEST_SECRET,
    })
    before = files_under(tmp_path)
    with pytest.raises(backup.BackupError, match="outside the instance folder"):
        backup.restore(other, hostile)
    assert files_under(tmp_path) - before <= {str(other_db.relative_to(tmp_path))}
    assert not other_db.exists() or other_db.stat().st_size == 0


def test_the_signed_act_file_is_read_never_stored_and_capped(region: Region, tmp_path: Path) -> None:
    """The one form that takes a file (a delegate's signed act): its name is never used, hostile
    names change nothing, and a file over the request limit is refused."""
    nadia = region.elect("north", "nadia")
    proposal = region.open_proposal()
    region.pump()
    north = region.app("north")
    with session_scope(north) as db:
        email = db.scalar(select(Member.email).where(Member.handle == "nadia"))
    browser, path = Pages(north.test_client(), "nadia"), f"/council/{proposal['id']}"
    assert browser.login(str(email)).status_code == 303
    send = f"/mandates/{nadia.mandate_id}/acts"
    before = files_under(tmp_path)
    for name in NAMES:
        form = {"unsigned": "{}", "signed_file": (io.BytesIO(b"not a signed act"), name)}
        r = browser.post(send, form, token_from=path, content_type="multipart/form-data")
        assert r.status_code == 422 and "Paste the whole signed act" in text(r), name
    # Over the request limit. The body is encoded here: the test client would spool a body this
    # large to a temporary file it never closes when the server refuses without reading it.
    cap = north.config["MUTUALAID"].max_request_bytes
    boundary, body = encode_multipart({"csrf_token": browser.token(path), "unsigned": "{}",
                                       "signed_file": FileStorage(io.BytesIO(b"{" + b" " * cap + b"}"),
                                                                  "big.json")})
    for language, reason in (("en", "too large for this node"), ("es", "demasiado grande para este nodo")):
        big = browser.client.post(send, data=body, content_type=f"multipart/form-data; boundary={boundary}",
                                  headers={"Accept-Language": language})
        assert big.status_code == 413 and reason in text(big), text(big)[:300]
    assert files_under(tmp_path) == before
