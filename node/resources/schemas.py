"""What the needs, offers, inventory and matches API takes and gives."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from node.api.paging import PageQuery
from node.members.schemas import Input
from node.resources.models import (
    InventoryKind,
    ListingKind,
    ListingStatus,
    MatchStatus,
    Urgency,
)

Title = Annotated[str, StringConstraints(min_length=1, max_length=120, strip_whitespace=True)]
Slug = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{1,39}$")]
Unit = Annotated[str, StringConstraints(min_length=1, max_length=30, strip_whitespace=True)]
Cell = Annotated[str, StringConstraints(pattern=r"^[0-9a-fA-F]{15,16}$")]
Quantity = Annotated[float, Field(gt=0, le=1_000_000_000, allow_inf_nan=False)]


class _Window(Input):
    available_from: AwareDatetime | None = None
    available_until: AwareDatetime | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.available_from and self.available_until and self.available_until <= self.available_from:
            raise ValueError("available_until must be after available_from")
        return self


class ListingIn(_Window):
    category: Slug
    title: Title
    description: str = Field(default="", max_length=4000)
    quantity: Quantity = 1
    unit: Unit = "item"
    urgency: Urgency = Urgency.ROUTINE
    h3_cell: Cell = Field(description="H3 cell of the area; finer cells are coarsened")
    expires_at: AwareDatetime | None = None


class ListingUpdate(_Window):
    category: Slug | None = None
    title: Title | None = None
    description: str | None = Field(default=None, max_length=4000)
    quantity: Quantity | None = None
    unit: Unit | None = None
    urgency: Urgency | None = None
    h3_cell: Cell | None = None
    expires_at: AwareDatetime | None = None


class ListingOut(BaseModel):
    id: uuid.UUID
    kind: ListingKind
    category: str
    title: str
    description: str
    quantity: float
    unit: str
    urgency: Urgency
    available_from: datetime | None
    available_until: datetime | None
    h3_cell: str
    status: ListingStatus
    expires_at: datetime | None
    created_at: datetime
    updated_at: datetime
    handle: str
    mine: bool


class ListingQuery(PageQuery):
    status: ListingStatus | None = ListingStatus.OPEN
    category: Slug | None = None
    urgency: Urgency | None = None
    mine: bool = False


class CloseIn(Input):
    outcome: str = Field(default="", max_length=500)


class CategoryIn(Input):
    slug: Slug
    label: Title


class CategoryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    slug: str
    label: str
    builtin: bool


class CategoryList(BaseModel):
    items: list[CategoryOut]


class InventoryIn(Input):
    kind: InventoryKind
    name: Title
    description: str = Field(default="", max_length=4000)
    category: Slug | None = None
    h3_cell: Cell | None = None
    available: bool = True


class InventoryUpdate(Input):
    name: Title | None = None
    description: str | None = Field(default=None, max_length=4000)
    category: Slug | None = None
    h3_cell: Cell | None = None
    available: bool | None = None


class InventoryOut(BaseModel):
    id: uuid.UUID
    kind: InventoryKind
    name: str
    description: str
    category: str | None
    h3_cell: str | None
    available: bool
    handle: str
    mine: bool
    created_at: datetime


class InventoryQuery(PageQuery):
    kind: InventoryKind | None = None
    mine: bool = False


class Suggestion(BaseModel):
    listing: ListingOut
    score: float
    distance_km: float
    reasons: dict[str, float]


class Suggestions(BaseModel):
    items: list[Suggestion]


class MatchIn(Input):
    need_id: uuid.UUID
    offer_id: uuid.UUID
    note: str = Field(default="", max_length=500)


class Contact(BaseModel):
    handle: str
    display_name: str
    email: str
    phone: str | None


class MatchOut(BaseModel):
    id: uuid.UUID
    need: ListingOut
    offer: ListingOut
    status: MatchStatus
    note: str
    outcome: str
    proposed_by: str | None
    created_at: datetime
    decided_at: datetime | None
    counterpart_contact: Contact | None = Field(
        default=None, description="Shown to both sides once the match is accepted"
    )


class MatchQuery(PageQuery):
    status: MatchStatus | None = None
