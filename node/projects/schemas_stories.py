"""What the stories and surveys API takes and gives."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, Field, StringConstraints, field_validator, model_validator

from node.api.paging import PageQuery
from node.members.schemas import Input
from node.projects.models import Audience, SurveyStatus, Visibility
from node.resources.models import Urgency
from node.resources.schemas import Cell

QuestionId = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
OptionValue = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$")]
QuestionType = Literal["text", "number", "scale", "choice", "multi", "needs"]
CHOICES = ("choice", "multi", "needs")


StoryTitle = Annotated[str, StringConstraints(min_length=3, max_length=160, strip_whitespace=True)]


class StoryIn(Input):
    title: StoryTitle
    body: str = Field(min_length=3, max_length=20_000)
    project_id: uuid.UUID | None = None
    visibility: Visibility = Field(default=Visibility.MEMBERS,
                                   description="public: in the node's Atom feed for anyone to read")


class StoryUpdate(Input):
    title: StoryTitle | None = None
    body: str | None = Field(default=None, min_length=3, max_length=20_000)
    visibility: Visibility | None = None


class StoryOut(BaseModel):
    id: uuid.UUID
    title: str
    body: str
    project_id: uuid.UUID | None
    project: str | None
    visibility: Visibility
    author: str
    mine: bool
    photos: list[str]
    created_at: datetime
    updated_at: datetime


class StoryQuery(PageQuery):
    project_id: uuid.UUID | None = None
    visibility: Visibility | None = None


class OptionIn(Input):
    value: OptionValue
    label: Annotated[str, StringConstraints(min_length=1, max_length=120, strip_whitespace=True)]
    category: str | None = Field(default=None, max_length=40,
                                 description="For a needs question: the category of the need it raises")


class QuestionIn(Input):
    id: QuestionId
    type: QuestionType
    text: Annotated[str, StringConstraints(min_length=3, max_length=500, strip_whitespace=True)]
    required: bool = False
    options: list[OptionIn] = Field(default_factory=list, max_length=40)
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.type in CHOICES and not self.options:
            raise ValueError(f"a {self.type} question needs options")
        if self.type not in CHOICES and self.options:
            raise ValueError(f"a {self.type} question has no options")
        if self.type == "needs" and any(o.category is None for o in self.options):
            raise ValueError("every option of a needs question names the category of its need")
        if len({o.value for o in self.options}) != len(self.options):
            raise ValueError("option values must differ")
        if self.min is not None and self.max is not None and self.max < self.min:
            raise ValueError("max must not be below min")
        return self


class SurveyIn(Input):
    title: Annotated[str, StringConstraints(min_length=3, max_length=160, strip_whitespace=True)]
    intro: str = Field(default="", max_length=4000)
    questions: list[QuestionIn] = Field(min_length=1, max_length=50)
    audience: Audience = Field(default=Audience.MEMBERS,
                               description="neighbours: anyone with the secret link may answer")

    @field_validator("questions")
    @classmethod
    def _unique(cls, questions: list[QuestionIn]) -> list[QuestionIn]:
        if len({q.id for q in questions}) != len(questions):
            raise ValueError("question ids must differ")
        return questions


class SurveyOut(BaseModel):
    id: uuid.UUID
    project_id: uuid.UUID
    title: str
    intro: str
    questions: list[dict[str, Any]]
    status: SurveyStatus
    audience: Audience
    responses: int
    answered: bool
    created_at: datetime
    answer_url: str | None = Field(
        default=None, description="For neighbours' programs (JSON); shown once, at creation")
    answer_page_url: str | None = Field(
        default=None, description="The page to share with neighbours (no account); shown once, at creation")


class AnswerIn(Input):
    answers: dict[str, Any] = Field(description="Question id to answer; its shape depends on the question")
    h3_cell: Cell | None = Field(default=None, description="Your area, so answers can become needs")
    urgency: Urgency = Urgency.ROUTINE


class AnswerOut(BaseModel):
    id: uuid.UUID
    needs: list[uuid.UUID] = Field(description="The needs your answers became")
    created_at: datetime


class QuestionResult(BaseModel):
    id: str
    type: str
    text: str
    answered: int
    counts: dict[str, int] | None = None
    mean: float | None = None
    texts: list[str] | None = None


class SurveyResults(BaseModel):
    survey: SurveyOut
    responses: int
    needs_raised: int
    questions: list[QuestionResult]
