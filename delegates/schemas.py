"""What the delegates API takes and gives."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, Field, StringConstraints

from delegates.documents import KEY_PATTERN, NODE_ID_PATTERN, PositionEntry, Topic
from delegates.models import CouncilStatus, MandateStatus, PetitionStatus
from node.api.paging import PageQuery
from node.assemblies.methods import Method, Stance
from node.members.schemas import Handle, Input

NodeId = Annotated[str, StringConstraints(pattern=NODE_ID_PATTERN)]
PublicKey = Annotated[str, StringConstraints(pattern=KEY_PATTERN)]
Reason = Annotated[str, StringConstraints(min_length=1, max_length=1000, strip_whitespace=True)]


class MandateProposalIn(Input):
    delegate: Handle = Field(description="The member to elect")
    federation: NodeId
    scope: Annotated[list[Topic], Field(min_length=1, max_length=32)] = Field(
        description="The questions (topics) the mandate covers")
    positions: Annotated[list[PositionEntry], Field(max_length=64)] = Field(
        default_factory=list, description="Positions to carry, per proposal or per topic")
    term_days: int = Field(ge=1, le=730)
    public_key: PublicKey | None = Field(
        default=None, description="The delegate's own Ed25519 public key, if they made one already")
    text: str = Field(default="", max_length=10_000)
    closes_at: AwareDatetime | None = None


class KeyIn(Input):
    public_key: PublicKey | None = Field(
        default=None, description="Omit to have the node make a key pair and hand you the private half once")


class MandateOut(BaseModel):
    id: uuid.UUID
    issuer: str
    federation: str
    delegate: str
    public_key: str | None
    scope: list[str]
    positions: list[dict[str, Any]]
    status: MandateStatus
    live: bool
    issued_at: datetime | None
    expires_at: datetime
    recalled_at: datetime | None
    recall_reason: str
    assembly_id: uuid.UUID | None
    decision_id: uuid.UUID | None
    credential: dict[str, Any] | None
    mine: bool


class KeyIssued(BaseModel):
    mandate: MandateOut
    private_key: str | None = Field(
        description="Base64url of the 32-byte Ed25519 private key; shown this once and never kept")


class MandateQuery(PageQuery):
    status: MandateStatus | None = None
    federation: str | None = Field(default=None, max_length=64)
    mine: bool = False


class ActIn(Input):
    act: dict[str, Any] = Field(description="The act, signed with the mandate's key")


class ActOut(BaseModel):
    id: uuid.UUID
    kind: str
    mandate_id: uuid.UUID
    node: str
    delegate: str
    proposal_id: uuid.UUID | None
    stance: Stance | None
    text: str
    created: datetime
    received_at: datetime
    counted: bool
    voided_at: datetime | None
    void_reason: str


class ReportIn(Input):
    text: Annotated[str, StringConstraints(min_length=1, max_length=20_000)]


class RecallIn(Input):
    reason: Reason
    closes_at: AwareDatetime | None = None


class PetitionIn(Input):
    reason: Reason


class PetitionOut(BaseModel):
    id: uuid.UUID
    mandate_id: uuid.UUID
    reason: str
    status: PetitionStatus
    signatures: int
    threshold: int
    signed_by_me: bool
    proposal_id: uuid.UUID | None
    created_at: datetime


class CouncilProposalIn(Input):
    title: Annotated[str, StringConstraints(min_length=1, max_length=120, strip_whitespace=True)]
    text: Annotated[str, StringConstraints(min_length=1, max_length=4000)]
    topic: Topic
    method: Method = Method.MAJORITY
    quorum_count: int = Field(default=1, ge=1, le=100_000)
    quorum_percent: int = Field(default=50, ge=0, le=100)
    supermajority_num: int = Field(default=2, ge=1, le=100)
    supermajority_den: int = Field(default=3, ge=1, le=100)
    closes_at: AwareDatetime | None = None


class CouncilTally(BaseModel):
    outcome: str
    counts: dict[str, int]
    participants: int
    quorum: int
    explanation: str


class CouncilProposalOut(BaseModel):
    id: uuid.UUID
    federation: str
    title: str
    text: str
    topic: str
    method: Method
    quorum: int
    status: CouncilStatus
    opened_at: datetime
    closes_at: datetime | None
    proposed_by_node: str | None
    tally: CouncilTally = Field(description="The count of the votes that count now")
    outcome: str | None
    decided_at: datetime | None
    decision: dict[str, Any] | None = Field(description="The federation's signed decision")
    disagreement: str
    document: dict[str, Any] = Field(description="The proposal as the federation signed it")
    acts: list[ActOut]


class CouncilQuery(PageQuery):
    status: CouncilStatus | None = None


class CandidateOut(BaseModel):
    handle: str
    terms_in_window: int
    eligible: bool
    why_not: str | None


class CandidatesOut(BaseModel):
    items: list[CandidateOut]


class CandidateQuery(Input):
    federation: NodeId
