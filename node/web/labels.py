"""Plain, translated words for the values the services store as codes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from flask import request
from flask_babel import lazy_gettext as _l

from node.assemblies.methods import Method, Outcome, Stance
from node.assemblies.models import AssemblyKind, AssemblyStatus, ProposalStatus
from node.resources.models import InventoryKind, ListingKind, ListingStatus, MatchStatus, Urgency
from node.web.i18n import duration

URGENCY: dict[str, Any] = {
    Urgency.ROUTINE: _l("When it suits"),
    Urgency.SOON: _l("Soon"),
    Urgency.URGENT: _l("Urgent"),
    Urgency.EMERGENCY: _l("Emergency"),
}
LISTING_STATUS: dict[str, Any] = {
    ListingStatus.OPEN: _l("Open"),
    ListingStatus.MATCHED: _l("Matched"),
    ListingStatus.FULFILLED: _l("Done"),
    ListingStatus.WITHDRAWN: _l("Withdrawn"),
    ListingStatus.EXPIRED: _l("Expired"),
}
MATCH_STATUS: dict[str, Any] = {
    MatchStatus.PROPOSED: _l("Waiting for an answer"),
    MatchStatus.ACCEPTED: _l("Agreed"),
    MatchStatus.DECLINED: _l("Declined"),
    MatchStatus.CANCELLED: _l("Called off"),
    MatchStatus.FULFILLED: _l("Done"),
}
KIND: dict[str, Any] = {ListingKind.NEED: _l("Need"), ListingKind.OFFER: _l("Offer")}
INVENTORY_KIND: dict[str, Any] = {
    InventoryKind.SKILL: _l("Skill"),
    InventoryKind.TOOL: _l("Tool"),
    InventoryKind.VEHICLE: _l("Vehicle"),
    InventoryKind.SPACE: _l("Space"),
}
CATEGORY: dict[str, Any] = {
    "food": _l("Food"),
    "meals": _l("Meals"),
    "tools": _l("Tools"),
    "skills": _l("Skills"),
    "transport": _l("Transport and vehicles"),
    "spaces": _l("Spaces"),
    "childcare": _l("Childcare"),
    "medical": _l("Medical and first aid"),
    "shelter": _l("Shelter"),
    "repairs": _l("Repairs"),
    "other": _l("Other"),
}
UNITS: dict[str, Any] = {
    "item": _l("items"),
    "kg": _l("kg"),
    "litre": _l("litres"),
    "hour": _l("hours"),
    "meal": _l("meals"),
    "person": _l("people"),
    "day": _l("days"),
}

ASSEMBLY_STATUS: dict[str, Any] = {
    AssemblyStatus.SCHEDULED: _l("Coming up"),
    AssemblyStatus.OPEN: _l("In session"),
    AssemblyStatus.CLOSED: _l("Closed"),
}
ASSEMBLY_KIND: dict[str, Any] = {
    AssemblyKind.STANDING: _l("Ongoing: proposals any time"),
    AssemblyKind.SCHEDULED: _l("A meeting at a set time"),
}
METHOD: dict[str, Any] = {
    Method.CONSENSUS: _l("Consensus: one block stops it"),
    Method.CONSENT: _l("Consent: passes unless someone objects"),
    Method.MAJORITY: _l("Majority: more for than against"),
    Method.SUPERMAJORITY: _l("Large majority"),
}
PROPOSAL_STATUS: dict[str, Any] = {
    ProposalStatus.OPEN: _l("Open for positions"),
    ProposalStatus.PASSED: _l("Passed"),
    ProposalStatus.REJECTED: _l("Not passed"),
    ProposalStatus.BLOCKED: _l("Blocked"),
    ProposalStatus.NO_QUORUM: _l("Too few took part"),
    ProposalStatus.WITHDRAWN: _l("Withdrawn"),
}
OUTCOME: dict[str, Any] = {
    Outcome.PASSED: _l("Passed"),
    Outcome.REJECTED: _l("Not passed"),
    Outcome.BLOCKED: _l("Blocked"),
    Outcome.NO_QUORUM: _l("Too few took part"),
}
STANCE: dict[str, Any] = {
    Stance.FOR: _l("For"),
    Stance.AGAINST: _l("Against"),
    Stance.ABSTAIN: _l("Abstain"),
    Stance.STAND_ASIDE: _l("Stand aside"),
    Stance.BLOCK: _l("Block"),
    Stance.OBJECT: _l("Object"),
}
# The same "yes" has a different name under each method.
FOR_BY_METHOD: dict[str, Any] = {
    Method.CONSENSUS: _l("Agree"),
    Method.CONSENT: _l("Consent"),
}

PLEDGE_STATUS: dict[str, Any] = {
    "offered": _l("Waiting for an answer"),
    "accepted": _l("Accepted"),
    "declined": _l("Declined"),
    "expired": _l("Expired"),
    "withdrawn": _l("Withdrawn"),
}

INCIDENT_STATE: dict[str, Any] = {
    "live": _l("Live"),
    "provisional": _l("Declared in an emergency, waiting for the council"),
    "pending": _l("Coming up"),
    "ended": _l("Ended"),
    "lapsed": _l("Lapsed: the council did not ratify it"),
    "closed": _l("Closed"),
}


def stance_label(stance: Any, method: Any = None) -> str:
    """The word for a position, as the assembly's method names it."""
    if getattr(stance, "value", stance) == Stance.FOR and method is not None:
        return label(FOR_BY_METHOD, method, label(STANCE, stance))
    return label(STANCE, stance)


def label(table: dict[str, Any], code: Any, fallback: str | None = None) -> str:
    """The translated word for a code, or the fallback (or the code itself) when there is none."""
    value = table.get(getattr(code, "value", code))
    return str(value) if value is not None else (fallback or str(getattr(code, "value", code)))


def filters() -> dict[str, Any]:
    """Template filters: `{{ listing.urgency|urgency }}` and so on."""

    def make(table: dict[str, Any]) -> Any:
        return lambda code, fallback=None: label(table, code, fallback)

    return {
        "urgency": make(URGENCY),
        "listing_status": make(LISTING_STATUS),
        "match_status": make(MATCH_STATUS),
        "kind": make(KIND),
        "inventory_kind": make(INVENTORY_KIND),
        "category": make(CATEGORY),
        "unit": make(UNITS),
        "assembly_status": make(ASSEMBLY_STATUS),
        "assembly_kind": make(ASSEMBLY_KIND),
        "method": make(METHOD),
        "proposal_status": make(PROPOSAL_STATUS),
        "outcome": make(OUTCOME),
        "stance": stance_label,
        "pledge_status": make(PLEDGE_STATUS),
        "incident_state": make(INCIDENT_STATE),
    }


def options(table: dict[str, Any], codes: list[Any]) -> list[tuple[str, str]]:
    """(value, words) pairs for a select field."""
    return [(str(getattr(code, "value", code)), label(table, code)) for code in codes]


def category_options(categories: list[Any]) -> list[tuple[str, str]]:
    """The node's categories for a select field, built-in ones in the reader's language."""
    return [(row.slug, label(CATEGORY, row.slug, row.label)) for row in categories]


def globals_() -> dict[str, Any]:
    """Template functions that build select options."""
    return {
        "category_options": category_options,
        "urgency_options": lambda: options(URGENCY, list(URGENCY)),
        "inventory_kind_options": lambda: options(INVENTORY_KIND, list(INVENTORY_KIND)),
        "method_options": lambda: options(METHOD, list(Method)),
        "assembly_kind_options": lambda: options(ASSEMBLY_KIND, list(AssemblyKind)),
        "with_page": with_page,
        "lifetime_options": lambda days: [(str(d), duration(timedelta(days=d))) for d in days],
    }


def with_page(number: int) -> str:
    """The current query string with another page number."""
    args = {k: v for k, v in request.args.items() if k not in ("page", "lang")}
    args["page"] = str(number)
    return urlencode(args)
