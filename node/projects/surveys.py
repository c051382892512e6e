"""Needs assessments (plan 1.1): a project asks members or neighbours, and answers become needs.

Each chosen option of a "needs" question becomes a need posted through the needs service, so it
is matched and federated like any other. A member's needs are theirs; a neighbour without an
account answers through the survey's secret link, and their needs are posted by the member who
runs the survey, on the neighbour's behalf. Answers of the wrong shape are refused whole.
"""

from __future__ import annotations

import math
import secrets
import uuid
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from node.db import utcnow
from node.errors import Conflict, FieldError, InvalidState, NotFound, ValidationFailed
from node.members.auth import token_digest
from node.members.models import Member
from node.projects.models import Audience, Project, Survey, SurveyResponse, SurveyStatus
from node.projects.notifications import notify_many
from node.projects.schemas_stories import AnswerIn, SurveyIn
from node.projects.service import post_need
from node.resources.areas import coarse_cell
from node.resources.categories import check_category
from node.resources.schemas import ListingIn
from node.settings import Settings

LINK_PREFIX = "srv_"
TEXT_MAX = 2000


def create(db: Session, project: Project, member: Member, data: SurveyIn) -> tuple[Survey, str | None]:
    """Open a survey; for neighbours it gets a secret link, returned once."""
    for index, question in enumerate(data.questions):
        for n, option in enumerate(question.options):
            if option.category is not None:
                check_category(db, option.category, f"questions.{index}.options.{n}.category")
    link = LINK_PREFIX + secrets.token_urlsafe(24) if data.audience == Audience.NEIGHBOURS else None
    survey = Survey(project_id=project.id, title=data.title, intro=data.intro,
                    questions=[q.model_dump(exclude_none=True) for q in data.questions],
                    audience=data.audience,
                    link_hash=token_digest(link) if link else None, created_by_id=member.id)
    db.add(survey)
    db.flush()
    return survey, link


def send(db: Session, project: Project, member: Member, data: SurveyIn) -> tuple[Survey, str | None]:
    """Open a survey for the project and tell the node's members of it, as they chose; a
    neighbours' survey gets its secret link instead (returned once)."""
    survey, link = create(db, project, member, data)
    if survey.audience == Audience.MEMBERS:
        notify_many(db, db.scalars(select(Member.id).where(Member.id != member.id)), "survey",
                    f"{project.name} asks: {survey.title}",
                    f"{survey.intro}\n\nYour answers help {project.name} see what is needed.".lstrip(),
                    dedupe_prefix=f"survey:{survey.id}")
    return survey, link


def get_survey(db: Session, survey_id: uuid.UUID) -> Survey:
    """A survey, or a 404 problem."""
    survey = db.get(Survey, survey_id)
    if survey is None:
        raise NotFound("no such survey")
    return survey


def by_link(db: Session, link: str) -> Survey:
    """The open neighbours' survey behind a secret link, or a 404 problem."""
    survey = db.scalar(select(Survey).where(Survey.link_hash == token_digest(link))) if link else None
    if survey is None or survey.audience != Audience.NEIGHBOURS:
        raise NotFound("no such survey")
    return survey


def close(db: Session, survey: Survey) -> Survey:
    """Stop taking answers."""
    if survey.status == SurveyStatus.CLOSED:
        raise InvalidState("the survey is already closed")
    survey.status = SurveyStatus.CLOSED
    survey.closed_at = utcnow()
    db.flush()
    return survey


def check_answers(questions: list[dict[str, Any]], answers: dict[str, Any]) -> list[FieldError]:
    """Every way the answers do not fit the questions, each naming its field."""
    errors = [FieldError(f"answers.{key}", "no such question") for key in sorted(answers)
              if key not in {q["id"] for q in questions}]
    for question in questions:
        field = f"answers.{question['id']}"
        if question["id"] not in answers or answers[question["id"]] in (None, "", []):
            if question.get("required"):
                errors.append(FieldError(field, "an answer is required"))
            continue
        reason = _shape_error(question, answers[question["id"]])
        if reason:
            errors.append(FieldError(field, reason))
    return errors


def _shape_error(question: dict[str, Any], value: Any) -> str | None:
    kind = question["type"]
    values = [o["value"] for o in question.get("options", [])]
    if kind == "text":
        if not isinstance(value, str):
            return "must be text"
        return f"at most {TEXT_MAX} characters" if len(value) > TEXT_MAX else None
    if kind in ("number", "scale"):
        return _number_error(question, value)
    if kind == "choice":
        if not isinstance(value, str) or value not in values:
            return f"must be one of: {', '.join(values)}"
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return "must be a list of options"
    unknown = [v for v in value if v not in values]
    if unknown:
        return f"unknown options: {', '.join(unknown)}; choose from {', '.join(values)}"
    return "each option at most once" if len(set(value)) != len(value) else None


def _number_error(question: dict[str, Any], value: Any) -> str | None:
    if question["type"] == "scale":
        ok = isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 5
        return None if ok else "must be a whole number from 1 to 5"
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return "must be a number"
    low, high = question.get("min"), question.get("max")
    if (low is not None and value < low) or (high is not None and value > high):
        return f"must be between {low if low is not None else '-'} and {high if high is not None else '-'}"
    return None


def answer(
    db: Session, settings: Settings, survey: Survey, member: Member | None, data: AnswerIn,
) -> SurveyResponse:
    """Record one person's answers and post the needs they chose; refused whole if any is wrong."""
    if survey.status != SurveyStatus.OPEN:
        raise InvalidState("the survey is closed")
    errors = check_answers(survey.questions, data.answers)
    if errors:
        raise ValidationFailed("some answers do not fit their questions", errors)
    if member is not None and db.scalar(select(SurveyResponse.id).where(
            SurveyResponse.survey_id == survey.id, SurveyResponse.member_id == member.id)) is not None:
        raise Conflict("already answered", [FieldError("answers", "you already answered this survey")])
    project = db.get(Project, survey.project_id)
    assert project is not None
    chosen = _chosen_needs(survey, data.answers)
    poster = member or (db.get(Member, survey.created_by_id) if survey.created_by_id else None)
    if chosen and poster is None:
        raise Conflict("nobody can post these needs", [FieldError(
            "answers", "the member who ran this survey has left; ask the project")])
    cell = coarse_cell(data.h3_cell, settings.h3_resolution) if data.h3_cell else project.h3_cell
    if chosen and cell is None:
        raise ValidationFailed("where?", [FieldError("h3_cell", "give your area so that your answers can "
                                                                "become needs")])
    response = SurveyResponse(survey_id=survey.id, member_id=member.id if member else None,
                              answers=data.answers, h3_cell=cell)
    db.add(response)
    try:
        db.flush()
    except IntegrityError:
        raise Conflict("already answered",
                       [FieldError("answers", "you already answered this survey")]) from None
    needs = []
    for option in chosen:
        assert poster is not None and cell is not None
        origin = "" if member else " on behalf of a neighbour"
        listing = post_need(db, settings, project, poster, ListingIn(
            category=option["category"], title=option["label"][:120], urgency=data.urgency, h3_cell=cell,
            description=f"Raised in the needs survey '{survey.title}' of {project.name}{origin}.",
            unit="household",
        ), source="survey")
        needs.append(str(listing.id))
    response.need_ids = needs
    db.flush()
    return response


def _chosen_needs(survey: Survey, answers: dict[str, Any]) -> list[dict[str, Any]]:
    chosen: list[dict[str, Any]] = []
    for question in survey.questions:
        if question["type"] != "needs":
            continue
        picked = set(answers.get(question["id"]) or [])
        chosen.extend(o for o in question["options"] if o["value"] in picked)
    return chosen


def response_count(db: Session, survey: Survey) -> int:
    """How many answered."""
    return db.scalar(select(func.count()).where(SurveyResponse.survey_id == survey.id)) or 0


def results(db: Session, survey: Survey) -> dict[str, Any]:
    """Answers gathered per question, without who gave them."""
    rows = list(db.scalars(select(SurveyResponse).where(SurveyResponse.survey_id == survey.id)
                           .order_by(SurveyResponse.created_at)))
    out = []
    for question in survey.questions:
        key = question["id"]
        given = [r.answers[key] for r in rows if r.answers.get(key) not in (None, "", [])]
        item: dict[str, Any] = {"id": question["id"], "type": question["type"], "text": question["text"],
                                "answered": len(given)}
        if question["type"] in ("choice", "multi", "needs"):
            counts = {o["value"]: 0 for o in question["options"]}
            for value in given:
                for v in value if isinstance(value, list) else [value]:
                    counts[v] = counts.get(v, 0) + 1
            item["counts"] = counts
        elif question["type"] in ("number", "scale"):
            item["mean"] = round(sum(given) / len(given), 2) if given else None
        else:
            item["texts"] = list(given)
        out.append(item)
    return {"responses": len(rows), "needs_raised": sum(len(r.need_ids) for r in rows), "questions": out}
