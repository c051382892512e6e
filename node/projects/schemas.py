"""What the projects, shifts and rotation API takes and gives."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from node.api.paging import PageQuery
from node.members.schemas import Input
from node.projects.models import (
    AssignmentSource,
    Delivery,
    NotificationStatus,
    ProjectStatus,
    SwapStatus,
)
from node.resources.schemas import Cell, Title

Slug = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]{1,39}$")]
Skill = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{0,59}$")]
RoleName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9 _-]{0,59}$")]
Principle = Annotated[str, StringConstraints(min_length=3, max_length=300, strip_whitespace=True)]
ClockTime = Annotated[str, StringConstraints(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]
EndTime = Annotated[str, StringConstraints(pattern=r"^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$")]
Weekday = Annotated[int, Field(ge=0, le=6, description="0 is Monday")]
LedgerKind = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{1,39}$")]


def minutes_of(value: str) -> int:
    """Minutes after midnight of an "HH:MM" time (24:00 is 1440)."""
    hours, minutes = value.split(":")
    return int(hours) * 60 + int(minutes)


class ProjectIn(Input):
    name: Title
    slug: Slug
    description: str = Field(default="", max_length=4000)
    template: str | None = Field(default=None, max_length=40)
    principles: list[Principle] | None = Field(default=None, max_length=20)
    h3_cell: Cell | None = None
    create_shifts: bool = Field(default=True, description="Create the template's usual weekly shifts")


class ProjectUpdate(Input):
    name: Title | None = None
    description: str | None = Field(default=None, max_length=4000)
    principles: list[Principle] | None = Field(default=None, max_length=20)
    ledger_kinds: list[LedgerKind] | None = Field(default=None, max_length=30)
    status: ProjectStatus | None = None
    h3_cell: Cell | None = None
    ledger_public: bool | None = None


class TermLimitIn(Input):
    assembly_id: uuid.UUID = Field(description="The assembly that decides the limit")
    limit: int = Field(ge=1, le=52, description="Consecutive terms one person may hold a coordinating role")
    reason: str = Field(default="", max_length=2000, description="Why, in the proposer's words")
    closes_at: AwareDatetime | None = Field(default=None, description="When the assembly decides")


class ProjectOut(BaseModel):
    id: uuid.UUID
    slug: str
    name: str
    description: str
    template: str | None
    principles: list[str]
    ledger_kinds: list[str]
    status: ProjectStatus
    h3_cell: str | None
    coordinator_term_limit: int
    term_limit_decision: str
    ledger_public: bool
    members: int
    is_member: bool
    created_at: datetime


class ProjectQuery(PageQuery):
    status: ProjectStatus | None = ProjectStatus.ACTIVE
    mine: bool = False


class TemplateOut(BaseModel):
    key: str
    name: str
    description: str
    roles: list[dict[str, object]]
    shifts: list[dict[str, object]]
    ledger_kinds: list[str]
    principles: list[str]


class WindowIn(Input):
    weekday: Weekday
    start: ClockTime
    end: EndTime

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if minutes_of(self.end) <= minutes_of(self.start):
            raise ValueError("end must be after start")
        return self


class MembershipIn(Input):
    skills: list[Skill] = Field(default_factory=list, max_length=30)
    availability: list[WindowIn] = Field(default_factory=list, max_length=28,
                                         description="Weekly windows; none means any time")
    in_rotation: bool = True


class ProjectMemberOut(BaseModel):
    handle: str
    display_name: str
    skills: list[str]
    availability: list[WindowIn]
    in_rotation: bool
    joined_at: datetime


class RoleIn(Input):
    name: RoleName
    skill: Skill | None = None
    coordinating: bool = False
    description: str = Field(default="", max_length=500)


class RoleOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    name: str
    skill: str | None
    coordinating: bool
    description: str


class ShiftIn(Input):
    role_id: uuid.UUID
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    slots: int = Field(default=1, ge=1, le=100)
    location: str = Field(default="", max_length=200)
    note: str = Field(default="", max_length=500)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        if (self.ends_at - self.starts_at).total_seconds() > 24 * 3600:
            raise ValueError("a shift lasts at most 24 hours")
        return self


class SeriesIn(Input):
    role_id: uuid.UUID
    weekday: Weekday
    start_time: ClockTime
    minutes: int = Field(ge=15, le=24 * 60)
    slots: int = Field(default=1, ge=1, le=100)
    starts_on: date
    until: date | None = None
    location: str = Field(default="", max_length=200)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.until is not None and self.until < self.starts_on:
            raise ValueError("until must not be before starts_on")
        return self


class SeriesOut(BaseModel):
    id: uuid.UUID
    role_id: uuid.UUID
    weekday: int
    start_time: str
    minutes: int
    slots: int
    starts_on: date
    until: date | None
    location: str
    shifts_created: int


class HolderOut(BaseModel):
    assignment_id: uuid.UUID
    handle: str
    source: AssignmentSource


class ShiftOut(BaseModel):
    id: uuid.UUID
    project_id: uuid.UUID
    role_id: uuid.UUID
    role: str
    coordinating: bool
    starts_at: datetime
    ends_at: datetime
    slots: int
    open_places: int
    location: str
    note: str
    cancelled: bool
    holders: list[HolderOut]


class ShiftQuery(PageQuery):
    after: AwareDatetime | None = Field(default=None, description="Shifts starting at or after (default now)")
    before: AwareDatetime | None = None
    mine: bool = False
    open: bool = Field(default=False, description="Only shifts with places left")


class RotationIn(Input):
    start: AwareDatetime
    end: AwareDatetime
    dry_run: bool = False

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        if (self.end - self.start).days > 366:
            raise ValueError("a rotation covers at most a year")
        return self


class PlacementOut(BaseModel):
    shift_id: uuid.UUID
    role: str
    starts_at: datetime
    handle: str


class UnfilledOut(BaseModel):
    shift_id: uuid.UUID
    role: str
    starts_at: datetime
    missing: int
    reason: str


class MemberLoad(BaseModel):
    handle: str
    hours: float
    shifts: int


class LoadOut(BaseModel):
    start: datetime
    end: datetime
    members: list[MemberLoad]
    minimum: float = Field(description="Fewest hours any member of the rotation holds")
    maximum: float
    mean: float
    stddev: float
    gap: float = Field(description="maximum - minimum: 0 is perfectly even")


class RotationOut(BaseModel):
    dry_run: bool
    placements: list[PlacementOut]
    unfilled: list[UnfilledOut]
    load: LoadOut


class LoadQuery(Input):
    start: AwareDatetime | None = None
    end: AwareDatetime | None = None


class SwapIn(Input):
    assignment_id: uuid.UUID = Field(description="Your place on a shift")
    to: Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]{3,30}$")] = Field(
        description="Handle of the member who would take it")
    exchange_id: uuid.UUID | None = Field(default=None, description="Their place you take in exchange")
    note: str = Field(default="", max_length=500)


class SwapOut(BaseModel):
    id: uuid.UUID
    assignment_id: uuid.UUID
    exchange_id: uuid.UUID | None
    shift: ShiftOut
    exchange_shift: ShiftOut | None
    from_handle: str
    to_handle: str
    status: SwapStatus
    note: str
    created_at: datetime
    decided_at: datetime | None


class SwapQuery(PageQuery):
    status: SwapStatus | None = SwapStatus.PROPOSED


class CalendarFeedOut(BaseModel):
    url: str = Field(description="Secret address for your calendar app; shown once")
    created_at: datetime


class CalloutIn(Input):
    message: str = Field(min_length=3, max_length=2000)
    skill: Skill | None = None


class CalloutOut(BaseModel):
    id: uuid.UUID
    message: str
    skill: str | None
    notified: int
    created_at: datetime



class ChoicesIn(Input):
    """How you want to hear about each kind: off, instant (one email each) or digest (daily)."""

    match: Delivery | None = None
    callout: Delivery | None = None
    shift: Delivery | None = None
    library: Delivery | None = None
    assembly: Delivery | None = None
    survey: Delivery | None = None


class ChoicesOut(BaseModel):
    choices: dict[str, Delivery]
    kinds: dict[str, str]


class NotificationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    kind: str
    subject: str
    delivery: Delivery
    status: NotificationStatus
    created_at: datetime
    sent_at: datetime | None
