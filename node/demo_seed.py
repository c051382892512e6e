"""What the demo region is made of: its nodes, members, needs, offers and an assembly.

Invented people in an invented city; areas are H3 cells at the coarsest detail nodes share.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import h3

PASSWORD = "solidarity-not-charity"  # noqa: S105  (the demo's members' shared password)


@dataclass(frozen=True)
class Person:
    handle: str
    name: str
    steward: bool = False


@dataclass(frozen=True)
class Place:
    """One node of the region and the people and listings it starts with."""

    key: str
    name: str
    role: str
    lat: float
    lng: float
    people: tuple[Person, ...] = ()
    needs: tuple[dict[str, Any], ...] = ()
    offers: tuple[dict[str, Any], ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def cell(self) -> str:
        return str(h3.latlng_to_cell(self.lat, self.lng, 8))


def _listing(
    category: str, title: str, quantity: float, unit: str, urgency: str, description: str
) -> dict[str, Any]:
    return {
        "category": category,
        "title": title,
        "quantity": quantity,
        "unit": unit,
        "urgency": urgency,
        "description": description,
    }


FEDERATION = Place(
    "federation",
    "Estuary City Federation",
    "federation",
    38.7223,
    -9.1393,
    people=(Person("coordinator", "Federation coordinator", steward=True),),
)

NEIGHBOURHOODS = (
    Place(
        "riverside",
        "Riverside Mutual Aid",
        "neighbourhood",
        38.7069,
        -9.1366,
        people=(
            Person("ana", "Ana", steward=True),
            Person("bilal", "Bilal"),
            Person("chen", "Chen"),
            Person("dolores", "Dolores"),
        ),
        needs=(
            _listing(
                "medical",
                "Fridge space for insulin during the power cut",
                1,
                "shelf",
                "emergency",
                "Power has been out since the storm; two neighbours need insulin kept cold.",
            ),
            _listing(
                "food",
                "Rice and lentils for a family of five",
                5,
                "kg",
                "urgent",
                "Dry food for the week, any brand.",
            ),
        ),
        offers=(
            _listing(
                "tools",
                "Camping stove with two gas canisters",
                1,
                "stove",
                "routine",
                "Lend for as long as the power is out.",
            ),
        ),
    ),
    Place(
        "hillside",
        "Hillside Solidarity Network",
        "neighbourhood",
        38.7305,
        -9.1480,
        people=(Person("esi", "Esi", steward=True), Person("farid", "Farid"), Person("grace", "Grace")),
        needs=(
            _listing(
                "transport",
                "Ride to dialysis on Tuesday mornings",
                1,
                "ride",
                "soon",
                "From the top of the hill to the hospital, 8:00, back at 12:30.",
            ),
        ),
        offers=(
            _listing(
                "spaces",
                "Generator-powered fridge with free space",
                3,
                "shelves",
                "urgent",
                "The community centre's fridge runs on the generator; medicine first.",
            ),
            _listing(
                "tools",
                "Cordless drill and ladder from the tool library",
                1,
                "set",
                "routine",
                "Borrow for up to a week.",
            ),
        ),
    ),
    Place(
        "oldtown",
        "Old Town Neighbours",
        "neighbourhood",
        38.7139,
        -9.1334,
        people=(Person("hana", "Hana", steward=True), Person("ivan", "Ivan"), Person("joan", "Joan")),
        needs=(
            _listing(
                "childcare",
                "Childcare on Thursday evenings",
                2,
                "children",
                "soon",
                "While parents staff the community kitchen.",
            ),
        ),
        offers=(
            _listing(
                "food",
                "Surplus bread from the bakery",
                20,
                "kg",
                "urgent",
                "Every evening at 19:00, collect at the back door.",
            ),
            _listing(
                "meals",
                "Hot meals from the community kitchen",
                60,
                "meals",
                "urgent",
                "Cooked daily while the emergency lasts.",
            ),
        ),
    ),
)


def region(neighbourhoods: int) -> list[Place]:
    """The federation node and the first `neighbourhoods` neighbourhood nodes (more are made up)."""
    places = [FEDERATION, *NEIGHBOURHOODS[:neighbourhoods]]
    for number in range(len(NEIGHBOURHOODS), neighbourhoods):
        places.append(
            Place(
                f"node{number + 1}",
                f"Neighbourhood {number + 1}",
                "neighbourhood",
                38.70 + 0.01 * number,
                -9.15 + 0.007 * number,
                people=(Person(f"steward{number + 1}", f"Steward {number + 1}", steward=True),),
            )
        )
    return places


ASSEMBLY = {
    "title": "Riverside general assembly: storm response",
    "description": "Open to every member. We decide how we take part in the city's storm relief.",
    "location": "Riverside community garden",
    "method": "consensus",
    "quorum_count": 3,
}
MANDATE_PROPOSAL: dict[str, Any] = {
    "delegate": "bilal",
    "scope": ["storm-relief", "shared-fridges"],
    "term_days": 30,
    "positions": [{"topic": "shared-fridges", "stance": "for"}, {"topic": "storm-relief", "stance": "free"}],
    "text": (
        "Bilal carries our position to the Estuary City Federation's storm relief for 30 days: "
        "medicine and food first, shared fridges open to every neighbourhood. Recallable at any time "
        "by this assembly."
    ),
}


INCIDENT: dict[str, Any] = {
    "kind": "storm",
    "title": "Storm Ana: power cut across the estuary",
    "emergency": True,
}


def area_cells(places: list[Place]) -> list[str]:
    """The federation's area: the coarse cells around every node of the region."""
    return sorted({str(c) for p in places for c in h3.grid_disk(h3.cell_to_parent(p.cell, 6), 1)})


def incident_cells(places: list[Place]) -> list[str]:
    """Where the storm hit: the district around each neighbourhood."""
    return sorted({str(h3.cell_to_parent(p.cell, 7)) for p in places if p.role == "neighbourhood"})
