"""Needs and offers as ValueFlows intents in JSON-LD, for economic-coordination tools.

An offer is an intent with a provider and no receiver yet; a need is one with a receiver and
no provider yet. The agent is the member's pseudonymous handle at this node, the location
the listing's H3 cell: nothing here names a person or a place finer than the cell.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from node.formats.records import ExportRow, iso
from node.resources.models import ListingKind
from node.settings import Settings

CONTEXT: dict[str, str] = {
    "vf": "https://w3id.org/valueflows/ont/vf#",
    "om2": "http://www.ontology-of-units-of-measure.org/resource/om-2/",
    "geo": "http://www.w3.org/2003/01/geo/wgs84_pos#",
    "foaf": "http://xmlns.com/foaf/0.1/",
    "dcterms": "http://purl.org/dc/terms/",
    "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
}
# How a category changes hands: things are given, skills and care are work, spaces and
# tools are lent for use, rides are a service delivered.
ACTIONS: dict[str, str] = {
    "skills": "work", "childcare": "work", "repairs": "work",
    "spaces": "use", "tools": "use", "transport": "deliverService",
}
DEFAULT_ACTION = "transfer"
# Units of measure that OM 2 names; any other unit is given by its label.
OM2_UNITS: dict[str, str] = {
    "kg": "kilogram", "kilogram": "kilogram", "g": "gram", "gram": "gram",
    "l": "litre", "litre": "litre", "liter": "litre", "ml": "millilitre",
    "m": "metre", "km": "kilometre", "m2": "squareMetre", "m²": "squareMetre",
    "hour": "hour", "hours": "hour", "h": "hour", "day": "day", "days": "day",
    "item": "one", "items": "one", "piece": "one", "pieces": "one", "each": "one",
}


def intents(rows: Iterable[ExportRow], settings: Settings) -> dict[str, Any]:
    """A JSON-LD document with one vf:Intent per listing."""
    return {"@context": CONTEXT, "@graph": [intent(row, settings) for row in rows]}


def intent(row: ExportRow, settings: Settings) -> dict[str, Any]:
    """One listing as a vf:Intent."""
    base = settings.public_url.rstrip("/")
    plural = "needs" if row.kind == ListingKind.NEED else "offers"
    node: dict[str, Any] = {
        "@id": f"{base}/api/v1/{plural}/{row.id}",
        "@type": "vf:Intent",
        "vf:action": {"@id": f"vf:{ACTIONS.get(row.category, DEFAULT_ACTION)}"},
        "vf:name": row.title,
        "vf:resourceClassifiedAs": {"@id": f"{base}/api/v1/categories#{row.category}"},
        "vf:resourceQuantity": measure(row.quantity, row.unit),
        "vf:atLocation": {
            "@id": f"urn:h3:{row.h3_cell}",
            "@type": "geo:SpatialThing",
            "geo:lat": row.lat,
            "geo:long": row.lon,
        },
        "vf:finished": False,
        "dcterms:created": _datetime(iso(row.created_at)),
    }
    side = "vf:receiver" if row.kind == ListingKind.NEED else "vf:provider"
    node[side] = agent(row.handle, settings)
    for key, value in (("vf:hasBeginning", row.available_from), ("vf:hasEnd", row.available_until),
                       ("vf:due", row.expires_at)):
        if value is not None:
            node[key] = _datetime(iso(value))
    return node


def measure(quantity: float, unit: str) -> dict[str, Any]:
    """An om2:Measure; the unit is an OM 2 unit where there is one, else its label."""
    known = OM2_UNITS.get(unit.strip().lower())
    has_unit: dict[str, Any] = {"@id": f"om2:{known}"} if known else {"rdfs:label": unit}
    return {"@type": "om2:Measure", "om2:hasNumericalValue": quantity, "om2:hasUnit": has_unit}


def agent(handle: str, settings: Settings) -> dict[str, Any]:
    """The member as other tools may know them: a handle at this node, nothing more."""
    host = urlsplit(settings.public_url).netloc or "localhost"
    return {"@id": f"acct:{handle}@{host}", "@type": "foaf:Agent", "foaf:nick": handle}


def _datetime(value: str) -> dict[str, str]:
    return {"@value": value, "@type": "xsd:dateTime"}
