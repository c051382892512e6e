"""Needs and offers as plain CSV: the export, and the import of what a spreadsheet saves.

The import takes the file a spreadsheet writes: a header row, then one need or offer per row.
It tolerates a byte-order mark, UTF-16 and Windows-1252 text, `,` `;` or tab between fields,
quoted fields, decimal commas and a row of HXL hashtags under the header (so an HXL export
comes back in). Each row is checked with the same rules as the API (`ListingIn`, then
`create_listing`, so the federation hears of each new listing as it would from the API) and
written in its own savepoint: a bad row is reported with its row number, field and reason,
and nothing of it is written. Columns are documented in docs/formats.md.
"""

from __future__ import annotations

import codecs
import csv
import io
import math
import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import h3
from pydantic import ValidationError
from sqlalchemy.orm import Session

from node.api.operations import validation_problem
from node.errors import FieldError, Problem, ValidationFailed
from node.formats.records import ExportRow, iso, number, spreadsheet_safe
from node.members.models import Member
from node.resources.models import ListingKind
from node.resources.schemas import ListingIn
from node.resources.service import create_listing
from node.settings import Settings

MAX_ROWS = 5000
EXPORT_FIELDS = (
    "id", "kind", "category", "title", "description", "quantity", "unit", "urgency", "h3_cell",
    "lat", "lon", "available_from", "available_until", "expires_at", "status", "created_at", "handle",
)
# The columns an import understands. Several spellings lead to each; headers are compared
# lowercased with spaces and dashes as underscores.
FIELDS: dict[str, tuple[str, ...]] = {
    "kind": ("kind", "type", "need_or_offer"),
    "category": ("category", "sector"),
    "title": ("title", "item", "what", "name", "item_name"),
    "description": ("description", "details", "note", "notes"),
    "quantity": ("quantity", "qty", "amount"),
    "unit": ("unit", "units"),
    "urgency": ("urgency", "priority", "severity"),
    "h3_cell": ("h3_cell", "cell", "h3", "area"),
    "lat": ("lat", "latitude"),
    "lon": ("lon", "lng", "long", "longitude"),
    "available_from": ("available_from", "from", "start"),
    "available_until": ("available_until", "until", "end"),
    "expires_at": ("expires_at", "expires", "expiry"),
}
# Columns our own exports write that mean nothing on import; they are read and left alone.
IGNORED = frozenset({
    "id", "listing_id", "status", "created_at", "updated_at", "posted", "handle", "mine", "region",
})
REQUIRED = ("category", "title")
DATETIMES = ("available_from", "available_until", "expires_at")
_ALIAS = {alias: name for name, aliases in FIELDS.items() for alias in aliases}
_KINDS = {"need": ListingKind.NEED, "needs": ListingKind.NEED,
          "offer": ListingKind.OFFER, "offers": ListingKind.OFFER}
_DECIMAL_COMMA = re.compile(r"^[+-]?\d+,\d+$")


# --- export ------------------------------------------------------------------------------

def listings_csv(rows: Iterable[ExportRow]) -> str:
    """Listings as CSV with a header row; it imports back as it is."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(EXPORT_FIELDS)
    for r in rows:
        writer.writerow([
            str(r.id), r.kind.value, r.category, spreadsheet_safe(r.title),
            spreadsheet_safe(r.description), number(r.quantity), spreadsheet_safe(r.unit),
            r.urgency.value, r.h3_cell, f"{r.lat:.5f}", f"{r.lon:.5f}", iso(r.available_from),
            iso(r.available_until), iso(r.expires_at), r.status.value, iso(r.created_at), r.handle,
        ])
    return out.getvalue()


# --- reading a spreadsheet's file --------------------------------------------------------

@dataclass
class Table:
    """A file's header mapped to fields, and its data rows with their spreadsheet row numbers."""

    columns: list[str | None]  # the field each column feeds, None for an ignored column
    rows: list[tuple[int, list[str]]]
    delimiter: str


def decode(raw: bytes) -> str:
    """The file's text, whatever a spreadsheet saved it as."""
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return raw.decode("utf-16")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("cp1252")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def sniff_delimiter(text: str) -> str:
    """The delimiter the header line uses most: `,`, `;` or a tab."""
    first = text.split("\n", 1)[0]
    counts = {d: first.count(d) for d in (",", ";", "\t")}
    best = max(counts.values())
    return next(d for d in (",", ";", "\t") if counts[d] == best) if best else ","


def normal_header(name: str) -> str:
    """A header as it is compared: "Available From " and "available-from" are the same."""
    return re.sub(r"[\s\-]+", "_", name.strip().lower().lstrip("#"))


def read_table(raw: bytes | str, default_kind: ListingKind | None = None) -> Table:
    """Parse the file and check its header; wrong columns are refused before any row is read."""
    text = decode(raw) if isinstance(raw, bytes) else raw
    text = text.removeprefix("\ufeff")
    if not text.strip():
        raise ValidationFailed("the file is empty", [FieldError("file", "no header row and no rows")])
    delimiter = sniff_delimiter(text)
    try:
        records = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True))
    except csv.Error as exc:
        raise ValidationFailed("the file is not valid CSV", [FieldError("file", str(exc))]) from None
    columns = _columns(records[0], default_kind)
    numbered = [(n, record) for n, record in enumerate(records[1:], start=2)]
    if numbered and _is_hashtag_row(numbered[0][1]):
        numbered = numbered[1:]
    rows = [(n, record) for n, record in numbered if any(value.strip() for value in record)]
    if len(rows) > MAX_ROWS:
        raise ValidationFailed(
            "too many rows", [FieldError("file", f"{len(rows)} rows; at most {MAX_ROWS} per import")]
        )
    return Table(columns, rows, delimiter)


def _columns(header: list[str], default_kind: ListingKind | None) -> list[str | None]:
    columns: list[str | None] = []
    errors: list[FieldError] = []
    seen: dict[str, str] = {}
    for raw_name in header:
        name = normal_header(raw_name)
        target = _ALIAS.get(name)
        if target is None and (name in IGNORED or not name):
            columns.append(None)
            continue
        if target is None:
            errors.append(FieldError(raw_name.strip(), "unknown column; see docs/formats.md for the columns"))
        elif target in seen:
            reason = f"gives {target} again (already from '{seen[target]}')"
            errors.append(FieldError(raw_name.strip(), reason))
        else:
            seen[target] = raw_name.strip()
        columns.append(target)
    for name in REQUIRED:
        if name not in seen:
            errors.append(FieldError(name, "missing column"))
    if "h3_cell" not in seen and not {"lat", "lon"} <= set(seen):
        errors.append(FieldError("h3_cell", "missing column: give h3_cell, or lat and lon"))
    if "kind" not in seen and default_kind is None:
        errors.append(FieldError("kind", "missing column: add a kind column (need or offer) "
                                         "or choose one kind for the whole file"))
    if errors:
        raise ValidationFailed("the header row has wrong columns", errors)
    return columns


def _is_hashtag_row(record: list[str]) -> bool:
    values = [value.strip() for value in record if value.strip()]
    return bool(values) and all(value.startswith("#") for value in values)


# --- importing rows ----------------------------------------------------------------------

@dataclass(frozen=True)
class RowError:
    """Why one row was not imported: its spreadsheet row number, the field and the reason."""

    row: int
    field: str
    reason: str


@dataclass
class ImportReport:
    """What an import did: the listings written and every rejected row with its reasons."""

    rows: int = 0
    imported: list[uuid.UUID] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    dry_run: bool = False

    @property
    def rejected_rows(self) -> list[int]:
        return sorted({error.row for error in self.errors})

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "imported": len(self.imported),
            "rejected": len(self.rejected_rows),
            "dry_run": self.dry_run,
            "ids": [] if self.dry_run else [str(i) for i in self.imported],
            "errors": [{"row": e.row, "field": e.field, "reason": e.reason} for e in self.errors],
        }


def import_table(
    db: Session,
    settings: Settings,
    member: Member,
    table: Table,
    *,
    default_kind: ListingKind | None = None,
    dry_run: bool = False,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Create a listing for each good row as `member`; bad rows are reported, not written."""
    report = ImportReport(rows=len(table.rows), dry_run=dry_run)
    # A dry run does all the work inside one more savepoint and then undoes it.
    outer = db.begin_nested() if dry_run else None
    try:
        for row_number, record in table.rows:
            errors = _import_row(db, settings, member, table.columns, record, default_kind, report)
            report.errors.extend(RowError(row_number, _field(e.field), e.reason) for e in errors)
            if progress is not None:
                progress(1)
    finally:
        if outer is not None:
            outer.rollback()
    return report


def _field(name: str) -> str:
    # pydantic names a rule about the whole row "body"; in a spreadsheet it is the row.
    return "row" if name == "body" else name


def import_listings(
    db: Session,
    settings: Settings,
    member: Member,
    raw: bytes | str,
    *,
    default_kind: ListingKind | None = None,
    dry_run: bool = False,
) -> ImportReport:
    """Read a spreadsheet's CSV and import its rows (see `import_table`)."""
    table = read_table(raw, default_kind)
    return import_table(db, settings, member, table, default_kind=default_kind, dry_run=dry_run)


def _import_row(
    db: Session,
    settings: Settings,
    member: Member,
    columns: list[str | None],
    record: list[str],
    default_kind: ListingKind | None,
    report: ImportReport,
) -> list[FieldError]:
    if len(record) > len(columns) and any(v.strip() for v in record[len(columns):]):
        return [FieldError("row", f"has {len(record)} fields but the header has {len(columns)}")]
    values = {name: value.strip() for name, value in zip(columns, record, strict=False) if name}
    values = {name: value for name, value in values.items() if value}
    kind, errors = _kind(values.pop("kind", None), default_kind)
    data, more = _fields(values, settings)
    errors.extend(more)
    # Every fault of the row is reported at once, so the sheet is fixed in one pass.
    listing_in = None
    try:
        listing_in = ListingIn.model_validate(data)
    except ValidationError as exc:
        named = {error.field for error in errors}
        if named & {"lat", "lon"}:
            named.add("h3_cell")  # the cell comes from lat and lon, whose fault is already told
        found = validation_problem(exc).errors or [FieldError("row", "is not valid")]
        errors.extend(error for error in found if error.field not in named)
    if errors or kind is None or listing_in is None:
        return errors
    try:
        with db.begin_nested():
            listing = create_listing(db, settings, member, kind, listing_in)
    except Problem as problem:
        return problem.errors or [FieldError("row", problem.detail)]
    report.imported.append(listing.id)
    return []


def _kind(value: str | None, default: ListingKind | None) -> tuple[ListingKind | None, list[FieldError]]:
    if value is None:
        if default is None:
            return None, [FieldError("kind", "is empty: write need or offer")]
        return default, []
    kind = _KINDS.get(value.lower())
    if kind is None:
        return None, [FieldError("kind", f"'{value}' is neither need nor offer")]
    return kind, []


def _fields(values: dict[str, str], settings: Settings) -> tuple[dict[str, Any], list[FieldError]]:
    """The row's values as ListingIn's fields; spreadsheet habits are undone here."""
    errors: list[FieldError] = []
    data: dict[str, Any] = {
        name: _unescape(values[name])
        for name in ("category", "title", "description", "unit", "urgency", "h3_cell")
        if name in values
    }
    if "category" in data:
        data["category"] = data["category"].lower()
    if "urgency" in data:
        data["urgency"] = data["urgency"].lower()
    if "quantity" in values:
        quantity = values["quantity"]
        data["quantity"] = quantity.replace(",", ".") if _DECIMAL_COMMA.match(quantity) else quantity
    for name in DATETIMES:
        if name in values:
            data[name] = _datetime(values[name])
    if "h3_cell" not in data:
        cell, error = _cell_from(values.get("lat"), values.get("lon"), settings.h3_resolution)
        if error:
            errors.append(error)
        else:
            data["h3_cell"] = cell
    return data, errors


def _unescape(text: str) -> str:
    # Our exports put a ' before text a spreadsheet would run as a formula; take it off again.
    return text[1:] if text[:1] == "'" and text[1:2] in ("=", "+", "-", "@") else text


def _datetime(value: str) -> str:
    """A spreadsheet's date or date and time, taken as UTC when it names no zone."""
    try:
        parsed = datetime.fromisoformat(value.replace(" ", "T", 1) if "T" not in value else value)
    except ValueError:
        return value  # ListingIn gives the reason
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.isoformat()


def _cell_from(lat: str | None, lon: str | None, resolution: int) -> tuple[str, FieldError | None]:
    if not lat or not lon:
        missing = "lat" if not lat else "lon"
        return "", FieldError("h3_cell", f"is empty: give h3_cell, or lat and lon ({missing} is empty)")
    try:
        lat_f, lon_f = float(lat.replace(",", ".")), float(lon.replace(",", "."))
    except ValueError:
        return "", FieldError("lat" if not _is_number(lat) else "lon", "is not a number")
    if not (math.isfinite(lat_f) and -90 <= lat_f <= 90):
        return "", FieldError("lat", "must be between -90 and 90")
    if not (math.isfinite(lon_f) and -180 <= lon_f <= 180):
        return "", FieldError("lon", "must be between -180 and 180")
    # The point becomes the cell that holds it at the node's resolution; the point is not kept.
    return str(h3.latlng_to_cell(lat_f, lon_f, resolution)), None


def _is_number(text: str) -> bool:
    try:
        float(text.replace(",", "."))
    except ValueError:
        return False
    return True
