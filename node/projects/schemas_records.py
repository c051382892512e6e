"""What the ledger, reports and feedback API takes and gives."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any, Self

from pydantic import AwareDatetime, BaseModel, Field, StringConstraints, model_validator

from node.api.paging import PageQuery
from node.members.schemas import Input
from node.projects.models import Direction, FeedbackSubject, Side
from node.resources.schemas import Quantity, Unit

LedgerKind = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{1,39}$")]


class LedgerIn(Input):
    direction: Direction
    kind: LedgerKind
    quantity: Quantity
    unit: Unit
    description: str = Field(default="", max_length=300)
    occurred_at: AwareDatetime | None = None
    corrects: uuid.UUID | None = Field(default=None, description="The entry this one replaces")


class LedgerOut(BaseModel):
    id: uuid.UUID
    direction: Direction
    kind: str
    quantity: float
    unit: str
    description: str
    occurred_at: datetime
    recorded_by: str | None
    corrects: uuid.UUID | None
    corrected_by: uuid.UUID | None
    created_at: datetime


class LedgerQuery(PageQuery):
    kind: LedgerKind | None = None
    direction: Direction | None = None


class Total(BaseModel):
    direction: Direction
    kind: str
    unit: str
    quantity: float
    entries: int


class TotalsOut(BaseModel):
    project: str
    name: str
    totals: list[Total]


class ReportIn(Input):
    period_start: date
    period_end: date
    summary: str = Field(min_length=3, max_length=8000)
    requests: str = Field(default="", max_length=4000, description="What the project asks of the assembly")

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.period_end < self.period_start:
            raise ValueError("period_end must not be before period_start")
        return self


class ReportOut(BaseModel):
    id: uuid.UUID
    project_id: uuid.UUID
    period_start: date
    period_end: date
    summary: str
    requests: str
    figures: dict[str, Any]
    author: str | None
    created_at: datetime


class FeedbackIn(Input):
    subject: FeedbackSubject
    subject_id: uuid.UUID
    rating: int = Field(ge=1, le=5)
    comment: str = Field(default="", max_length=4000)
    anonymous: bool = Field(default=False, description="The project sees it without your name")


class FeedbackOut(BaseModel):
    id: uuid.UUID
    subject: FeedbackSubject
    subject_id: uuid.UUID
    side: Side
    rating: int
    comment: str
    author: str | None = Field(description="Absent when given anonymously")
    created_at: datetime


class SideSummary(BaseModel):
    side: Side
    count: int
    mean_rating: float | None


class FeedbackSummary(BaseModel):
    count: int
    mean_rating: float | None
    by_side: list[SideSummary]
    by_subject: dict[str, int]
    items: list[FeedbackOut]


class FeedbackQuery(Input):
    subject: FeedbackSubject | None = None
    since: AwareDatetime | None = None
