"""What the assemblies API takes and gives."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from node.api.paging import PageQuery
from node.assemblies.methods import Method, Outcome, Stance
from node.assemblies.models import AssemblyKind, AssemblyStatus, ProposalStatus
from node.members.schemas import Input

Title = Annotated[str, StringConstraints(min_length=1, max_length=120, strip_whitespace=True)]
Text = Annotated[str, StringConstraints(min_length=1, max_length=20_000)]


class _Rules(Input):
    method: Method | None = None
    quorum_count: int | None = Field(default=None, ge=1, le=100_000)
    quorum_percent: int | None = Field(default=None, ge=0, le=100)
    supermajority_num: int | None = Field(default=None, ge=1, le=100)
    supermajority_den: int | None = Field(default=None, ge=1, le=100)
    max_stand_asides: int | None = Field(default=None, ge=0, le=100_000)
    delegate_term_days: int | None = Field(default=None, ge=1, le=730)
    delegate_max_terms: int | None = Field(default=None, ge=1, le=50)
    delegate_rotation_days: int | None = Field(default=None, ge=1, le=3650)
    recall_petition_count: int | None = Field(default=None, ge=1, le=100_000)
    recall_petition_percent: int | None = Field(default=None, ge=0, le=100)

    @model_validator(mode="after")
    def _fraction(self) -> Self:
        num, den = self.supermajority_num, self.supermajority_den
        if num is not None and den is not None and num > den:
            raise ValueError("supermajority_num cannot exceed supermajority_den")
        return self


class AssemblyIn(_Rules):
    title: Title
    description: str = Field(default="", max_length=10_000)
    kind: AssemblyKind = AssemblyKind.STANDING
    location: str = Field(default="", max_length=200)
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = None

    @model_validator(mode="after")
    def _window(self) -> Self:
        if self.kind is AssemblyKind.SCHEDULED and self.starts_at is None:
            raise ValueError("a scheduled assembly needs starts_at")
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self


class AssemblyUpdate(_Rules):
    title: Title | None = None
    description: str | None = Field(default=None, max_length=10_000)
    location: str | None = Field(default=None, max_length=200)
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = None


class AssemblyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    title: str
    description: str
    kind: AssemblyKind
    status: AssemblyStatus
    location: str
    starts_at: datetime | None
    ends_at: datetime | None
    method: Method
    quorum_count: int
    quorum_percent: int
    supermajority_num: int
    supermajority_den: int
    max_stand_asides: int | None
    delegate_term_days: int
    delegate_max_terms: int
    delegate_rotation_days: int
    recall_petition_count: int
    recall_petition_percent: int
    created_at: datetime
    closed_at: datetime | None


class AssemblyQuery(PageQuery):
    status: AssemblyStatus | None = None


class AgendaItemIn(Input):
    title: Title
    notes: str = Field(default="", max_length=10_000)


class AgendaItemOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    position: int
    title: str
    notes: str


class AgendaOut(BaseModel):
    items: list[AgendaItemOut]


class ProposalIn(Input):
    title: Title
    text: Text
    agenda_item_id: uuid.UUID | None = None
    closes_at: AwareDatetime | None = None


class AmendmentIn(Input):
    text: Text = Field(description="The full text the proposal would read if the amendment passes")
    title: Title | None = None
    closes_at: AwareDatetime | None = None


class PositionIn(Input):
    stance: Stance
    reason: str = Field(default="", max_length=1000)


class PositionOut(BaseModel):
    handle: str | None
    stance: Stance
    reason: str
    version: int
    cast_at: datetime


class TallyOut(BaseModel):
    outcome: Outcome
    counts: dict[str, int]
    participants: int
    quorum: int
    explanation: str


class ProposalOut(BaseModel):
    id: uuid.UUID
    assembly_id: uuid.UUID
    agenda_item_id: uuid.UUID | None
    kind: str
    title: str
    text: str
    version: int
    payload: dict[str, Any]
    amends_id: uuid.UUID | None
    status: ProposalStatus
    proposed_by: str | None
    opened_at: datetime
    closes_at: datetime | None
    decided_at: datetime | None
    tally: TallyOut = Field(description="The count so far, or the final one once decided")
    positions: list[PositionOut]
    my_position: Stance | None


class ProposalQuery(PageQuery):
    status: ProposalStatus | None = None


class DecisionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    assembly_id: uuid.UUID
    proposal_id: uuid.UUID
    kind: str
    title: str
    text: str
    payload: dict[str, Any]
    method: Method
    outcome: Outcome
    counts: dict[str, int]
    participants: int
    quorum: int
    explanation: str
    decided_at: datetime


class MinuteIn(Input):
    text: Text


class MinuteOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    at: datetime
    kind: str
    text: str
    author_handle: str | None
    proposal_id: uuid.UUID | None


class RecordOut(BaseModel):
    """The open record of an assembly: its minutes and decisions, oldest first."""

    assembly: AssemblyOut
    minutes: list[MinuteOut]
    decisions: list[DecisionOut]
