"""The signed documents of delegation: mandate, recall, council proposal, act and decision.

Each is a JSON object signed with `federation.signing` (Ed25519 over RFC 8785 canonical JSON,
`sig` left out), so it verifies on its own wherever it travels: inside any envelope, through
any relay, in an archive. Who signs what:

- mandate, recall: the node whose assembly decided it (the issuer);
- act (vote, statement, proposal): the delegate, with the key the mandate binds;
- council proposal, decision: the federation.

This module only builds and parses them; checking them against what a node knows (member
nodes, keys, live mandates) is `delegates.trust` and `delegates.council`.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal, Self, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from delegates.errors import Refused
from federation.envelope import UUID_TEXT, format_time, parse_time
from federation.registry import describe
from node.assemblies.methods import Method, Stance

VERSION = 1
NODE_ID_PATTERN = r"^ma1[a-z2-7]{32}$"
KEY_PATTERN = r"^[A-Za-z0-9_-]{43}$"


def _uuid_text(value: str) -> str:
    if not UUID_TEXT.match(value):
        raise ValueError("must be a lowercase UUID v4")
    return value


def _time_text(value: str) -> str:
    parse_time(value)
    return value


UuidText = Annotated[str, AfterValidator(_uuid_text)]
Stamp = Annotated[str, AfterValidator(_time_text)]
NodeId = Annotated[str, StringConstraints(pattern=NODE_ID_PATTERN)]
PublicKey = Annotated[str, StringConstraints(pattern=KEY_PATTERN)]
Topic = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{1,39}$")]
Handle = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]{3,30}$")]
Title = Annotated[str, StringConstraints(min_length=1, max_length=120)]
Text = Annotated[str, StringConstraints(max_length=4000)]
Signature = Annotated[str, StringConstraints(min_length=1, max_length=200)]
PositionStance = Literal["for", "against", "abstain", "stand_aside", "block", "object", "free"]


class Document(BaseModel):
    """Base of the signed documents: strict, unknown fields refused."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
    v: Literal[1]
    id: UuidText
    sig: Signature


class PositionEntry(BaseModel):
    """A position the assembly gave its delegate: on one proposal, or on every proposal of a topic."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
    proposal: UuidText | None = None
    topic: Topic | None = None
    stance: PositionStance
    # With "free": the stances the delegate may choose from (empty means any).
    allowed: Annotated[list[Stance], Field(max_length=6)] = Field(default_factory=list)
    note: Annotated[str, StringConstraints(max_length=300)] = ""

    @model_validator(mode="after")
    def _one_target(self) -> Self:
        if (self.proposal is None) == (self.topic is None):
            raise ValueError("a position names either a proposal or a topic")
        if self.allowed and self.stance != "free":
            raise ValueError("allowed is only for a free position")
        return self


class MandateDoc(Document):
    """The credential: the issuer's assembly mandates `delegate` (holding `key`) to `federation`."""

    kind: Literal["mandate"]
    issuer: NodeId
    federation: NodeId
    delegate: Handle
    key: PublicKey
    scope: Annotated[list[Topic], Field(min_length=1, max_length=32)]
    positions: Annotated[list[PositionEntry], Field(max_length=64)] = Field(default_factory=list)
    issued: Stamp
    expires: Stamp
    decision: UuidText = Field(description="The assembly decision that elected the delegate")

    @model_validator(mode="after")
    def _window(self) -> Self:
        if parse_time(self.expires) <= parse_time(self.issued):
            raise ValueError("expires must be after issued")
        return self


class RecallDoc(Document):
    """The issuer's assembly withdraws a mandate, by its decision."""

    kind: Literal["recall"]
    mandate: UuidText
    issuer: NodeId
    federation: NodeId
    decision: UuidText = Field(description="The assembly decision that recalled the delegate")
    reason: Annotated[str, StringConstraints(max_length=500)] = ""
    recalled: Stamp


class ProposedBy(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
    node: NodeId
    mandate: UuidText
    act: UuidText


class ProposalDoc(Document):
    """A question put to a federation's council of delegates, signed by the federation."""

    kind: Literal["council.proposal"]
    federation: NodeId
    title: Title
    text: Text
    topic: Topic
    method: Method
    quorum: Annotated[int, Field(ge=1, le=100_000)]
    supermajority: Annotated[list[Annotated[int, Field(ge=1, le=100)]], Field(min_length=2, max_length=2)]
    opened: Stamp
    closes: Stamp | None = None
    proposed_by: ProposedBy | None = None


class ActDoc(Document):
    """A delegate's vote, statement or new proposal, signed with the key its mandate binds."""

    kind: Literal["act"]
    act: Literal["vote", "statement", "proposal"]
    mandate: UuidText
    federation: NodeId
    created: Stamp
    proposal: UuidText | None = None
    stance: Stance | None = None
    text: Text = ""
    title: Title | None = None
    topic: Topic | None = None

    @model_validator(mode="after")
    def _fields_for_kind(self) -> Self:
        if self.act in ("vote", "statement") and self.proposal is None:
            raise ValueError(f"a {self.act} names the proposal it is about")
        if self.act == "vote" and self.stance is None:
            raise ValueError("a vote has a stance")
        if self.act != "vote" and self.stance is not None:
            raise ValueError("only a vote has a stance")
        if self.act == "proposal" and (self.title is None or self.topic is None or not self.text):
            raise ValueError("a proposal has a title, a topic and a text")
        if self.act == "proposal" and self.proposal is not None:
            raise ValueError("a new proposal does not name another")
        return self


class DecisionDoc(Document):
    """The federation's result of a council proposal: what counted, what was voided, the outcome."""

    kind: Literal["council.decision"]
    federation: NodeId
    proposal: UuidText
    outcome: Literal["passed", "rejected", "blocked", "no_quorum"]
    counts: dict[str, Annotated[int, Field(ge=0)]]
    participants: Annotated[int, Field(ge=0)]
    quorum: Annotated[int, Field(ge=1)]
    explanation: Annotated[str, StringConstraints(max_length=300)] = ""
    counted: Annotated[list[UuidText], Field(max_length=10_000)]
    voided: Annotated[list[UuidText], Field(max_length=10_000)]
    decided: Stamp


D = TypeVar("D", bound=Document)


def parse(model: type[D], value: Any, what: str) -> D:
    """The document as its model, or Refused('malformed-<what>') naming each fault."""
    if not isinstance(value, dict):
        raise Refused(f"malformed-{what}", f"a {what} is a JSON object", what)
    try:
        import json

        # Judged as JSON, as another implementation would send it.
        return model.model_validate_json(json.dumps(value), strict=True)
    except ValidationError as exc:
        raise Refused(f"malformed-{what}", describe(exc), what) from None


def at(text: str) -> datetime:
    """A document's timestamp as an aware datetime."""
    return parse_time(text)


def stamp(moment: datetime) -> str:
    """A datetime as a document's timestamp."""
    return format_time(moment)


def new_uuid() -> str:
    """A new document id."""
    return str(uuid.uuid4())


def mandate_document(
    *, mandate_id: str, issuer: str, federation: str, delegate: str, key: str, scope: list[str],
    positions: list[dict[str, Any]], issued: datetime, expires: datetime, decision: str,
) -> dict[str, Any]:
    """An unsigned mandate credential (sign it with the issuer's node key)."""
    return {
        "v": VERSION, "kind": "mandate", "id": mandate_id, "issuer": issuer, "federation": federation,
        "delegate": delegate, "key": key, "scope": list(scope), "positions": [_clean(p) for p in positions],
        "issued": stamp(issued), "expires": stamp(expires), "decision": decision,
    }


def recall_document(
    *, mandate_id: str, issuer: str, federation: str, decision: str, reason: str, recalled: datetime,
) -> dict[str, Any]:
    """An unsigned recall (sign it with the issuer's node key)."""
    return {
        "v": VERSION, "kind": "recall", "id": new_uuid(), "mandate": mandate_id, "issuer": issuer,
        "federation": federation, "decision": decision, "reason": reason, "recalled": stamp(recalled),
    }


def act_document(
    *, mandate_id: str, federation: str, act: str, created: datetime, proposal: str | None = None,
    stance: str | None = None, text: str = "", title: str | None = None, topic: str | None = None,
    act_id: str | None = None,
) -> dict[str, Any]:
    """An unsigned act (the delegate signs it with their own key)."""
    doc: dict[str, Any] = {
        "v": VERSION, "kind": "act", "id": act_id or new_uuid(), "act": act, "mandate": mandate_id,
        "federation": federation, "created": stamp(created), "text": text,
        "proposal": proposal, "stance": stance, "title": title, "topic": topic,
    }
    return _clean(doc)


def position_data(position: PositionEntry) -> dict[str, Any]:
    """A position as it goes into a credential."""
    return _clean(position.model_dump(mode="json"))


def _clean(doc: dict[str, Any]) -> dict[str, Any]:
    # Absent, not null: one spelling of "not given", so re-serialising never changes the bytes.
    return {key: value for key, value in doc.items() if value is not None and value != []}
