"""What the tool library API takes and gives."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import AwareDatetime, BaseModel, Field

from node.api.paging import PageQuery
from node.members.schemas import Handle, Input
from node.projects.models import Condition, HoldStatus
from node.resources.schemas import Title


class ItemIn(Input):
    name: Title
    description: str = Field(default="", max_length=4000)
    condition: Condition = Condition.GOOD
    donated_by_me: bool = Field(default=False, description="Record you as the one who brought it")


class ItemUpdate(Input):
    name: Title | None = None
    description: str | None = Field(default=None, max_length=4000)
    condition: Condition | None = None
    retired: bool | None = None


class LoanIn(Input):
    borrower: Handle | None = Field(default=None, description="Who borrows it (default: you)")
    due_at: AwareDatetime | None = Field(default=None, description="Default: two weeks")
    note: str = Field(default="", max_length=500)


class ReturnIn(Input):
    condition: Condition | None = None
    note: str = Field(default="", max_length=2000, description="What is wrong with it, if anything")


class RepairIn(Input):
    note: str = Field(min_length=3, max_length=2000)
    condition: Condition


class LoanOut(BaseModel):
    id: uuid.UUID
    item_id: uuid.UUID
    item: str
    borrower: str | None
    lent_at: datetime
    due_at: datetime
    returned_at: datetime | None
    overdue: bool
    condition_out: Condition
    condition_in: Condition | None


class HoldOut(BaseModel):
    id: uuid.UUID
    item_id: uuid.UUID
    item: str
    status: HoldStatus
    position: int | None = Field(description="Your place in line (1 is next), while waiting")
    created_at: datetime
    ready_at: datetime | None


class RepairOut(BaseModel):
    id: uuid.UUID
    note: str
    condition: Condition
    author: str | None
    created_at: datetime


class ItemOut(BaseModel):
    id: uuid.UUID
    project_id: uuid.UUID
    name: str
    description: str
    condition: Condition
    retired: bool
    available: bool = Field(description="In the library and nobody is waiting for it")
    due_back: datetime | None
    waiting: int
    photos: list[str] = Field(description="URLs of its photos")
    repairs: list[RepairOut]
    created_at: datetime


class ItemQuery(PageQuery):
    available: bool | None = None
    retired: bool = False
