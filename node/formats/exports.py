"""Which exports there are: each format's media type and the function that writes it."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from node.formats import csvio, hxl, records, valueflows
from node.resources.models import ListingKind
from node.settings import Settings

KINDS: dict[str, tuple[ListingKind, ...]] = {
    "needs": (ListingKind.NEED,),
    "offers": (ListingKind.OFFER,),
    "listings": (ListingKind.NEED, ListingKind.OFFER),
}
Render = Callable[[list[records.ExportRow], Settings], str]


@dataclass(frozen=True)
class Format:
    """One export format."""

    suffix: str
    mimetype: str
    label: str
    render: Render


FORMATS: dict[str, Format] = {
    "hxl": Format("hxl.csv", "text/csv", "HXL", hxl.listings_hxl),
    "csv": Format("csv", "text/csv", "CSV", lambda rows, settings: csvio.listings_csv(rows)),
    "jsonld": Format(
        "jsonld", "application/ld+json", "ValueFlows intents (JSON-LD)",
        lambda rows, settings: json.dumps(valueflows.intents(rows, settings), ensure_ascii=False),
    ),
    "summary": Format("hxl.csv", "text/csv", "an HXL summary of needs against offers per area",
                      hxl.summary_hxl),
}


def export(db: Session, settings: Settings, kind: str, fmt: str) -> tuple[str, int]:
    """The open listings of `kind` (needs, offers, listings) in format `fmt`, and how many."""
    rows = records.open_rows(db, settings, KINDS[kind])
    return FORMATS[fmt].render(rows, settings), len(rows)
