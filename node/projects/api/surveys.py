"""Needs surveys: asking members or neighbours, answers that become needs, and the results."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from node.api.operations import ApiBlueprint
from node.api.paging import Page, PageQuery, page_of, paginate
from node.db import get_session
from node.errors import Forbidden
from node.limits import limiter
from node.members.auth import require_member
from node.members.models import Member
from node.projects import schemas_stories as schemas
from node.projects import service, surveys
from node.projects.api.common import settings
from node.projects.models import Survey, SurveyResponse

bp = ApiBlueprint("surveys_api", __name__, tag="Needs surveys")
PUBLIC_ANSWER_LIMIT = "20 per hour"


def survey_out(
    db: Session, survey: Survey, viewer: Member | None, link: str | None = None
) -> schemas.SurveyOut:
    answered = viewer is not None and db.scalar(select(SurveyResponse.id).where(
        SurveyResponse.survey_id == survey.id, SurveyResponse.member_id == viewer.id)) is not None
    base = settings().public_url.rstrip("/")
    url = f"{base}/api/v1/public/surveys/{link}" if link else None
    page = f"{base}/neighbours/surveys/{link}" if link else None
    return schemas.SurveyOut(
        id=survey.id, project_id=survey.project_id, title=survey.title, intro=survey.intro,
        questions=survey.questions, status=survey.status, audience=survey.audience,
        responses=surveys.response_count(db, survey), answered=answered, created_at=survey.created_at,
        answer_url=url, answer_page_url=page,
    )


@bp.operation("/projects/<uuid:project_id>/surveys", "POST",
              "Start a needs survey (its working group); members hear of it as they chose",
              body=schemas.SurveyIn, response=schemas.SurveyOut, status=201, problems=(403, 404))
def create_survey(project_id: uuid.UUID, body: schemas.SurveyIn) -> Any:
    db, member = get_session(), require_member()
    project = service.get_project(db, project_id)
    service.require_participant(db, project, member)
    service.require_active(project)
    survey, link = surveys.send(db, project, member, body)
    db.commit()
    return survey_out(db, survey, member, link)


@bp.operation("/projects/<uuid:project_id>/surveys", "GET", "The project's surveys", query=PageQuery,
              response=Page[schemas.SurveyOut], problems=(404,))
def list_surveys(project_id: uuid.UUID, query: PageQuery) -> Any:
    db, member = get_session(), require_member()
    project = service.get_project(db, project_id)
    stmt = select(Survey).where(Survey.project_id == project.id)
    rows, total = paginate(db, stmt.order_by(Survey.created_at.desc(), Survey.id), query)
    return page_of([survey_out(db, r, member).model_dump(mode="json") for r in rows], total, query)


@bp.operation("/surveys/<uuid:survey_id>", "GET", "One survey and its questions", response=schemas.SurveyOut,
              problems=(404,))
def get_survey(survey_id: uuid.UUID) -> Any:
    db, member = get_session(), require_member()
    return survey_out(db, surveys.get_survey(db, survey_id), member)


@bp.operation("/surveys/<uuid:survey_id>/responses", "POST",
              "Answer a survey; the needs you choose are posted as your needs", body=schemas.AnswerIn,
              response=schemas.AnswerOut, status=201, problems=(404, 409))
def answer_survey(survey_id: uuid.UUID, body: schemas.AnswerIn) -> Any:
    db, member = get_session(), require_member()
    response = surveys.answer(db, settings(), surveys.get_survey(db, survey_id), member, body)
    db.commit()
    return schemas.AnswerOut(id=response.id, needs=[uuid.UUID(n) for n in response.need_ids],
                             created_at=response.created_at)


@bp.operation("/surveys/<uuid:survey_id>/close", "POST", "Stop taking answers (its working group)",
              response=schemas.SurveyOut, problems=(403, 404, 409))
def close_survey(survey_id: uuid.UUID) -> Any:
    db, member = get_session(), require_member()
    survey = surveys.get_survey(db, survey_id)
    service.require_participant(db, service.get_project(db, survey.project_id), member)
    surveys.close(db, survey)
    db.commit()
    return survey_out(db, survey, member)


@bp.operation("/surveys/<uuid:survey_id>/results", "GET",
              "Answers gathered per question, without names (its working group)",
              response=schemas.SurveyResults, problems=(403, 404))
def survey_results(survey_id: uuid.UUID) -> Any:
    db, member = get_session(), require_member()
    survey = surveys.get_survey(db, survey_id)
    project = service.get_project(db, survey.project_id)
    if service.membership(db, project, member) is None:
        raise Forbidden("the results are for the project's working group")
    gathered = surveys.results(db, survey)
    return schemas.SurveyResults(survey=survey_out(db, survey, member), responses=gathered["responses"],
                                 needs_raised=gathered["needs_raised"],
                                 questions=[schemas.QuestionResult(**q) for q in gathered["questions"]])


@bp.operation("/public/surveys/<link>", "GET", "A neighbours' survey, through its secret link",
              response=schemas.SurveyOut, auth=False, problems=(404,))
def public_survey(link: str) -> Any:
    db = get_session()
    return survey_out(db, surveys.by_link(db, link), None)


@bp.operation("/public/surveys/<link>", "POST",
              "Answer a neighbours' survey without an account (rate limited)", body=schemas.AnswerIn,
              response=schemas.AnswerOut, status=201, auth=False, problems=(404, 409, 429))
@limiter.limit(PUBLIC_ANSWER_LIMIT)
def answer_public_survey(link: str, body: schemas.AnswerIn) -> Any:
    db = get_session()
    response = surveys.answer(db, settings(), surveys.by_link(db, link), None, body)
    db.commit()
    return schemas.AnswerOut(id=response.id, needs=[uuid.UUID(n) for n in response.need_ids],
                             created_at=response.created_at)
