"""Exports of open needs and offers (HXL, CSV, ValueFlows JSON-LD) and the CSV import."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Response, current_app, request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from node.api.operations import ApiBlueprint
from node.db import get_session
from node.errors import FieldError, NotFound, UnsupportedMediaType
from node.formats import csvio
from node.formats.exports import FORMATS, KINDS, export
from node.members.auth import require_member
from node.members.models import Member
from node.members.schemas import Handle
from node.members.service import require_steward
from node.resources.models import ListingKind
from node.settings import Settings

bp = ApiBlueprint("formats_api", __name__, tag="Exports and imports")
CSV_TYPES = ("text/csv", "application/csv", "text/plain", "application/vnd.ms-excel")


class ImportQuery(BaseModel):
    """How to read an imported file."""

    model_config = ConfigDict(extra="forbid")
    kind: ListingKind | None = Field(default=None, description="Kind of rows with no kind column")
    member: Handle | None = Field(default=None, description="Import for this member (stewards only)")
    dry_run: bool = Field(default=False, description="Check every row and write nothing")


class RowErrorOut(BaseModel):
    row: int = Field(description="The row's number as a spreadsheet shows it; the header is row 1")
    field: str
    reason: str


class ImportReportOut(BaseModel):
    rows: int
    imported: int
    rejected: int
    dry_run: bool
    ids: list[uuid.UUID]
    errors: list[RowErrorOut]


def _settings() -> Settings:
    value: Settings = current_app.config["MUTUALAID"]
    return value


def _download(body: str, mimetype: str, filename: str) -> Response:
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _register_exports() -> None:
    for kind in KINDS:
        for name in ("hxl", "csv", "jsonld"):
            _register_export(kind, name, f"Open {kind} as {FORMATS[name].label}")
    _register_export("listings", "summary", "Open needs against open offers per area and category, as HXL")


def _register_export(kind: str, name: str, summary: str) -> None:
    fmt = FORMATS[name]
    filename = "summary.hxl.csv" if name == "summary" else f"{kind}.{fmt.suffix}"

    def view() -> Response:
        require_member()
        text, _count = export(get_session(), _settings(), kind, name)
        return _download(text, fmt.mimetype, filename)

    view.__name__ = "export_" + filename.replace(".", "_")
    bp.operation(f"/exports/{filename}", "GET", summary, content_type=fmt.mimetype)(view)


_register_exports()


@bp.operation("/imports/listings.csv", "POST",
              "Import needs and offers from a spreadsheet's CSV (send it as text/csv)",
              query=ImportQuery, response=ImportReportOut, problems=(403, 404, 413, 415))
def import_listings(query: ImportQuery) -> Any:
    db, caller = get_session(), require_member()
    if request.mimetype not in CSV_TYPES:
        raise UnsupportedMediaType(f"send the file as text/csv, not {request.mimetype or 'nothing'}")
    member = _owner(db, caller, query.member)
    table = csvio.read_table(request.get_data(cache=False), query.kind)
    report = csvio.import_table(db, _settings(), member, table, default_kind=query.kind,
                                dry_run=query.dry_run)
    db.commit()
    return report.as_dict()


def _owner(db: Session, caller: Member, handle: str | None) -> Member:
    """The member the rows will belong to: the caller, or another member if a steward says so."""
    if handle is None or handle == caller.handle:
        return caller
    require_steward(db, caller)
    member = db.scalar(select(Member).where(Member.handle == handle))
    if member is None:
        raise NotFound("no member with that handle", [FieldError("member", "unknown member")])
    return member
