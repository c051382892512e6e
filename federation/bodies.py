"""The bodies of the built-in envelope types, as strict pydantic models with bounded sizes.

A federated body carries what a neighbour needs to help, never who: no names, emails, phone
numbers or addresses; an area is an H3 cell no finer than resolution 10 and a person is at
most a pseudonymous handle. Unknown fields are refused.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal, Self

import h3
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    WithJsonSchema,
    model_validator,
)

from federation.envelope import format_time, parse_time

MAX_CELL_RESOLUTION = 10  # the finest the node settings allow (about 15,000 m²)
NODE_ID_PATTERN = r"^ma1[a-z2-7]{32}$"
KEY_PATTERN = r"^[A-Za-z0-9_-]{43}$"  # 32 raw bytes, unpadded base64url


def _rfc3339(value: Any) -> Any:
    # Only RFC 3339 text with a zone is accepted on the wire; pydantic alone would take more.
    return parse_time(value) if isinstance(value, str) else value


def _cell(value: str) -> str:
    if not h3.is_valid_cell(value):
        raise ValueError("not a valid H3 cell")
    if h3.get_resolution(value) > MAX_CELL_RESOLUTION:
        raise ValueError(f"finer than H3 resolution {MAX_CELL_RESOLUTION}: coarsen it before sending")
    return value


Timestamp = Annotated[
    AwareDatetime,
    BeforeValidator(_rfc3339),
    PlainSerializer(format_time, return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time",
                    "description": "RFC 3339 with a zone, e.g. 2026-05-01T12:00:00Z"}),
]
NodeId = Annotated[str, StringConstraints(pattern=NODE_ID_PATTERN)]
PublicKey = Annotated[str, StringConstraints(pattern=KEY_PATTERN)]
Cell = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{15}$"), AfterValidator(_cell)]
Slug = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{1,39}$")]
Handle = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]{3,30}$")]
Title = Annotated[str, StringConstraints(min_length=1, max_length=120)]
Text = Annotated[str, StringConstraints(max_length=4000)]
Unit = Annotated[str, StringConstraints(min_length=1, max_length=30)]
Quantity = Annotated[float, Field(gt=0, le=1_000_000_000, allow_inf_nan=False)]
Reason = Annotated[str, StringConstraints(max_length=300)]
Kind = Literal["need", "surplus"]
Urgency = Literal["routine", "soon", "urgent", "emergency"]
ListingState = Literal["open", "matched", "fulfilled", "withdrawn", "expired"]


class Body(BaseModel):
    """Base of every body: strict, unknown fields refused, values frozen once validated."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


# --- needs and surpluses ----------------------------------------------------------------

class ListingBody(Body):
    """A need or surplus as its owning node describes it now (published or updated)."""

    listing_id: uuid.UUID
    category: Slug
    title: Title
    description: Text = ""
    quantity: Quantity
    unit: Unit
    urgency: Urgency
    h3_cell: Cell
    handle: Handle = Field(description="The poster's pseudonymous handle on the owning node")
    status: ListingState = "open"
    available_from: Timestamp | None = None
    available_until: Timestamp | None = None
    expires: Timestamp | None = None

    @model_validator(mode="after")
    def _window(self) -> Self:
        if self.available_from and self.available_until and self.available_until <= self.available_from:
            raise ValueError("available_until must be after available_from")
        return self


class ListingClosed(Body):
    """A need or surplus no longer open to help: withdrawn, fulfilled, expired, or erased with its poster."""

    listing_id: uuid.UUID
    status: Literal["withdrawn", "fulfilled", "expired", "erased"] = "withdrawn"


# --- pledges ----------------------------------------------------------------------------

class PledgeOffered(Body):
    """A node offers a quantity against another node's need or surplus; only the owner decides."""

    pledge_id: uuid.UUID
    owner: NodeId = Field(description="The node that published the listing and alone decides")
    listing_id: uuid.UUID
    listing_kind: Kind
    quantity: Quantity
    unit: Unit
    note: Annotated[str, StringConstraints(max_length=500)] = ""
    lease_until: Timestamp = Field(description="Undecided by then, the pledge lapses on both sides")
    pledger_listing_id: uuid.UUID | None = None


class PledgeAccepted(Body):
    """The owner accepts a pledge, perhaps for less than offered."""

    pledge_id: uuid.UUID
    listing_id: uuid.UUID
    quantity: Quantity = Field(description="How much of the offer is accepted")
    remaining: Annotated[float, Field(ge=0, le=1_000_000_000, allow_inf_nan=False)] = Field(
        description="What the listing still needs or has after this pledge"
    )


class PledgeDeclined(Body):
    """The owner declines a pledge, saying why."""

    pledge_id: uuid.UUID
    listing_id: uuid.UUID
    reason: Reason


# --- nodes ------------------------------------------------------------------------------

class KeyRotated(Body):
    """The sender signs with a new key from now on; signed by the old key."""

    new_key: PublicKey
    old_key: PublicKey
    old_valid_until: Timestamp = Field(description="The old key verifies until then")

    @model_validator(mode="after")
    def _different(self) -> Self:
        if self.new_key == self.old_key:
            raise ValueError("new_key must differ from old_key")
        return self


class IntroducedKey(Body):
    key: PublicKey
    valid_until: Timestamp | None = None


class PeerIntroduced(Body):
    """A federation introduces a node (a member or another federation) to its members."""

    node: NodeId
    name: Annotated[str, StringConstraints(max_length=120)] = ""
    url: Annotated[str, StringConstraints(pattern=r"^https?://", max_length=500)] | None = None
    role: Literal["neighbourhood", "federation"] = "neighbourhood"
    keys: Annotated[list[IntroducedKey], Field(min_length=1, max_length=16)]
    member_of: Annotated[list[NodeId], Field(max_length=32)] = Field(default_factory=list)


BUILTIN_BODIES: dict[str, type[Body]] = {
    "need.published": ListingBody,
    "need.updated": ListingBody,
    "need.withdrawn": ListingClosed,
    "surplus.published": ListingBody,
    "surplus.updated": ListingBody,
    "surplus.withdrawn": ListingClosed,
    "pledge.offered": PledgeOffered,
    "pledge.accepted": PledgeAccepted,
    "pledge.declined": PledgeDeclined,
    "node.key_rotated": KeyRotated,
    "peer.introduced": PeerIntroduced,
}
