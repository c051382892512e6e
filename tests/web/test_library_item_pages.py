"""Adding items to the tool library through the pages: the item with its condition and a photo,
a photo refused for its size or type (nothing is kept), repair notes and more photos, and
members outside the working group refused."""

from __future__ import annotations

import io
import re
from typing import Any

from flask import Flask
from sqlalchemy import func, select

from node.db import session_scope
from node.projects.models import LedgerEntry, LibraryItem, RepairNote, Upload
from tests.web.pages import Pages, location, member_pages, text

PNG = b"\x89PNG\r\n\x1a\n" + bytes(200)
JPEG = b"\xff\xd8\xff\xe0" + bytes(200)


def _count(app: Flask, model: Any) -> int:
    with session_scope(app) as db:
        return int(db.scalar(select(func.count()).select_from(model)) or 0)


def _uploaded(app: Flask) -> list[str]:
    folder = app.config["MUTUALAID"].instance_path / "uploads"
    return sorted(f.name for f in folder.iterdir()) if folder.exists() else []


def _library(pages: Pages) -> str:
    made = pages.post("/projects", {"name": "Tools", "template": "tool_library"}, token_from="/projects")
    return location(made)


def _add(pages: Pages, path: str, photo: bytes | None = None, filename: str = "ladder.png", **kw: Any) -> Any:
    data: dict[str, Any] = {"name": "Ladder", "description": "3 m, aluminium", "condition": "fair"}
    if photo is not None:
        data["photo"] = (io.BytesIO(photo), filename)
    return pages.post(path + "/items", data, token_from=path, content_type="multipart/form-data", **kw)


def test_the_working_group_adds_an_item_with_a_photo(app: Flask) -> None:
    kim = member_pages(app, "kim")
    path = _library(kim)
    form = text(kim.get(path))
    assert "Add an item" in form and 'enctype="multipart/form-data"' in form and 'type="file"' in form
    item = location(_add(kim, path, PNG))
    page = text(kim.get(item))
    assert "Ladder is in the library." in page and "3 m, aluminium" in page and "Fair" in page
    photo = re.search(r'<img src="(/api/v1/uploads/[0-9a-f-]{36})"', page)
    assert photo and kim.get(photo.group(1)).data == PNG
    assert len(_uploaded(app)) == 1 and _count(app, LedgerEntry) == 1

    # A repair note and another photo, from the item's page.
    assert "Keep the note" in page and "Add the photo" in page
    short = kim.post(item + "/repairs", {"note": "no", "condition": "worn"}, token_from=item)
    assert short.status_code == 422 and "at least 3 characters" in text(short)
    noted = kim.post(item + "/repairs", {"note": "New rubber feet", "condition": "good"}, token_from=item)
    page = text(kim.get(location(noted)))
    assert "New rubber feet" in page and "@kim" in page and "Good" in page
    added = kim.post(item + "/photos", {"photo": (io.BytesIO(JPEG), "side.jpg")}, token_from=item,
                     content_type="multipart/form-data")
    assert location(added) == item
    assert len(re.findall(r'<img src="/api/v1/uploads/', text(kim.get(item)))) == 2
    none = kim.post(item + "/photos", {"photo": (io.BytesIO(b""), "")}, token_from=item,
                    content_type="multipart/form-data")
    assert none.status_code == 422 and "Choose a photo." in text(none)
    assert _count(app, Upload) == 2 and len(_uploaded(app)) == 2
    assert "Añadir un objeto" in text(kim.get(path + "?lang=es"))


def test_a_photo_too_large_or_not_an_image_leaves_nothing(app_factory: Any) -> None:
    app = app_factory(upload_max_bytes=1024)
    kim = member_pages(app, "kim")
    path = _library(kim)
    big = _add(kim, path, JPEG + bytes(2000), "big.jpg")
    assert big.status_code == 413 and "The photo is too large: at most 1.0 kB." in text(big)
    assert 'value="Ladder"' in text(big)  # the answers stay on the form
    wrong = _add(kim, path, b"%PDF-1.7 not a photo", "ladder.png")
    assert wrong.status_code == 422 and "Send a photo in JPEG, PNG or WebP format." in text(wrong)
    spanish = _add(kim, path, b"GIF89a", "ladder.gif", headers={"Accept-Language": "es"})
    assert "Envía una foto en formato JPEG, PNG o WebP." in text(spanish)
    assert _count(app, LibraryItem) == 0 and _count(app, Upload) == 0 and _count(app, LedgerEntry) == 0
    assert _uploaded(app) == []

    item = location(_add(kim, path))  # without a photo
    refused = kim.post(item + "/photos", {"photo": (io.BytesIO(JPEG + bytes(2000)), "big.jpg")},
                       token_from=item, content_type="multipart/form-data")
    assert refused.status_code == 413 and "at most 1.0 kB" in text(refused)
    assert _count(app, Upload) == 0 and _uploaded(app) == []


def test_a_member_outside_the_working_group_may_not_add(app: Flask) -> None:
    kim, lou = member_pages(app, "kim"), member_pages(app, "lou")
    path = _library(kim)
    item = location(_add(kim, path))
    assert "Add an item" not in text(lou.get(path))
    page = text(lou.get(item))
    assert "Keep the note" not in page and "Add the photo" not in page
    refused = _add(lou, path, PNG)
    assert refused.status_code == 403 and "You may not do this." in text(refused)
    note = lou.post(item + "/repairs", {"note": "Broken rung", "condition": "broken"}, token_from=item)
    assert note.status_code == 403
    photo = lou.post(item + "/photos", {"photo": (io.BytesIO(PNG), "a.png")}, token_from=item,
                     content_type="multipart/form-data")
    assert photo.status_code == 403
    assert _count(app, LibraryItem) == 1 and _count(app, RepairNote) == 0 and _count(app, Upload) == 0
    assert _uploaded(app) == []


def test_a_phone_sized_photo_passes_the_pages_request_limit(app_factory: Any) -> None:
    """A photo form may be as large as an upload; every other form keeps the request limit."""
    app = app_factory(max_request_bytes=4096, upload_max_bytes=20_000)
    kim = member_pages(app, "kim")
    path = _library(kim)
    item = location(_add(kim, path, PNG + bytes(10_000), "phone.png"))
    assert _count(app, Upload) == 1 and len(_uploaded(app)) == 1
    over = _add(kim, path, JPEG + bytes(30_000), "huge.jpg")
    assert over.status_code == 413 and "The photo is too large" in text(over)
    assert _count(app, LibraryItem) == 1 and _count(app, Upload) == 1
    long_note = kim.post(item + "/repairs", {"note": "x" * 6000, "condition": "good"}, token_from=item)
    assert long_note.status_code == 413
    assert _count(app, RepairNote) == 0


def test_the_working_group_changes_and_retires_an_item(app: Flask) -> None:
    kim, lou = member_pages(app, "kim"), member_pages(app, "lou")
    path = _library(kim)
    item = location(_add(kim, path))
    page = text(kim.get(item))
    assert "Change the item" in page and "Retire it from the library" in page
    blank = kim.post(item + "/edit", {"name": "", "description": "x"}, token_from=item)
    assert blank.status_code == 422
    changed = kim.post(item + "/edit", {"name": "Long ladder", "description": "4 m now"}, token_from=item)
    page = text(kim.get(location(changed)))
    assert "The item is changed." in page and "Long ladder" in page and "4 m now" in page

    retired = kim.post(item + "/retire", {"retired": "yes"}, token_from=item)
    page = text(kim.get(location(retired)))
    assert "It is retired from the library." in page and "retired from the library" in page
    assert "Put me on the list" not in text(lou.get(item))
    back = kim.post(item + "/retire", {"retired": "no"}, token_from=item)
    assert "It is back in the library." in text(kim.get(location(back)))

    assert "Change the item" not in text(lou.get(item))
    assert lou.post(item + "/edit", {"name": "Mine now"}, token_from=item).status_code == 403
    assert lou.post(item + "/retire", {"retired": "yes"}, token_from=item).status_code == 403
    with session_scope(app) as db:
        kept = db.scalar(select(LibraryItem))
        assert kept is not None and kept.name == "Long ladder" and not kept.retired
