"""Needs and offers as HXL (the Humanitarian Exchange Language): a CSV with a row of hashtags.

Written with `libhxl`, so what leaves the node is HXL that the standard's own library reads
back. Two shapes: one row per open listing, and a summary of needs against offers per area
and category that relief coordinators can load into their tools as it is.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from node.formats.records import ExportRow, cell_centre, iso, number, spreadsheet_safe
from node.resources.models import ListingKind
from node.settings import Settings

Cell = Callable[[ExportRow, Settings], str]


@dataclass(frozen=True)
class Column:
    """One column: its header for people, its HXL hashtag, and how to fill it."""

    header: str
    tag: str
    value: Cell


LISTING_COLUMNS: tuple[Column, ...] = (
    Column("Listing id", "#meta+id", lambda r, s: str(r.id)),
    Column("Kind", "#meta+kind", lambda r, s: r.kind.value),
    Column("Category", "#sector", lambda r, s: r.category),
    Column("Item", "#item+name", lambda r, s: spreadsheet_safe(r.title)),
    Column("Quantity", "#indicator+num", lambda r, s: number(r.quantity)),
    Column("Unit", "#indicator+unit", lambda r, s: spreadsheet_safe(r.unit)),
    Column("Urgency", "#severity", lambda r, s: r.urgency.value),
    Column("Status", "#status", lambda r, s: r.status.value),
    Column("Region", "#adm1+name", lambda r, s: s.hxl_adm1),
    Column("H3 cell", "#loc+code+h3", lambda r, s: r.h3_cell),
    Column("Latitude", "#geo+lat", lambda r, s: f"{r.lat:.5f}"),
    Column("Longitude", "#geo+lon", lambda r, s: f"{r.lon:.5f}"),
    Column("Posted", "#date+reported", lambda r, s: iso(r.created_at)),
    Column("Available from", "#date+start", lambda r, s: iso(r.available_from)),
    Column("Available until", "#date+end", lambda r, s: iso(r.available_until)),
    Column("Expires", "#date+expires", lambda r, s: iso(r.expires_at)),
)

SUMMARY_HEADERS: tuple[tuple[str, str], ...] = (
    ("Region", "#adm1+name"),
    ("H3 cell", "#loc+code+h3"),
    ("Latitude", "#geo+lat"),
    ("Longitude", "#geo+lon"),
    ("Category", "#sector"),
    ("Unit", "#indicator+unit"),
    ("Open needs", "#affected+num"),
    ("Quantity needed", "#indicator+num+needed"),
    ("Open offers", "#output+num+offers"),
    ("Quantity offered", "#output+num"),
    ("Quantity unmet", "#indicator+num+unmet"),
)


def listings_hxl(rows: Iterable[ExportRow], settings: Settings) -> str:
    """One HXL row per listing."""
    table = [[c.header for c in LISTING_COLUMNS], [c.tag for c in LISTING_COLUMNS]]
    table.extend([c.value(row, settings) for c in LISTING_COLUMNS] for row in rows)
    return _write(table)


def summary_hxl(rows: Iterable[ExportRow], settings: Settings) -> str:
    """Open needs against open offers for each area, category and unit."""
    totals: dict[tuple[str, str, str], list[float]] = defaultdict(lambda: [0, 0.0, 0, 0.0])
    for row in rows:
        entry = totals[(row.h3_cell, row.category, row.unit)]
        offset = 0 if row.kind == ListingKind.NEED else 2
        entry[offset] += 1
        entry[offset + 1] += row.quantity
    table = [[h for h, _ in SUMMARY_HEADERS], [t for _, t in SUMMARY_HEADERS]]
    for (cell, category, unit), (needs, needed, offers, offered) in sorted(totals.items()):
        lat, lon = cell_centre(cell)
        table.append([
            settings.hxl_adm1, cell, f"{lat:.5f}", f"{lon:.5f}", category, spreadsheet_safe(unit),
            number(needs), number(needed), number(offers), number(offered),
            number(max(0.0, needed - offered)),
        ])
    return _write(table)


def _write(table: list[list[str]]) -> str:
    # libhxl costs about 26 MiB of memory once loaded: only load it when an export is made.
    import hxl

    # It reads the first row as headers and the second as hashtags, then writes both back.
    dataset = hxl.data(table)
    return "".join(dataset.gen_csv(show_headers=True, show_tags=True))
