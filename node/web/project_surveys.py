"""Needs surveys on a phone: a project's working group sends one to members or, through a secret
link, to neighbours without an account; people answer on a page, and the needs they choose
become needs. An answer of the wrong shape is refused with the reason, next to its question."""

from __future__ import annotations

import re
import uuid
from typing import Any

from flask import request, url_for
from flask_babel import gettext
from sqlalchemy import select

from node.db import get_session
from node.errors import Problem
from node.limits import limiter
from node.members.models import Member
from node.projects import service, surveys
from node.projects.models import Project, Survey, SurveyResponse, SurveyStatus
from node.projects.schemas_stories import AnswerIn, SurveyIn
from node.projects.templates import TEMPLATES
from node.resources.models import Category
from node.web import areas, forms
from node.web.base import done, page_member, render, settings
from node.web.projects import bp

NEIGHBOUR_ANSWER_LIMIT = "20 per hour"
CUSTOM_QUESTIONS = 3
CHOICES = ("choice", "multi", "needs")


def _type_labels() -> list[tuple[str, str]]:
    return [
        ("text", gettext("Free text")),
        ("number", gettext("A number")),
        ("scale", gettext("A scale from 1 to 5")),
        ("choice", gettext("One choice")),
        ("multi", gettext("Several choices")),
        ("needs", gettext("Needs: each choice becomes a need")),
    ]


def _ready_questions(project: Project) -> list[dict[str, Any]]:
    template = TEMPLATES.get(project.template or "")
    return list(template.survey) if template else []


def _surveys_page(project: Project, member: Member, status: int = 200, **extra: Any) -> Any:
    db = get_session()
    rows = list(db.scalars(select(Survey).where(Survey.project_id == project.id)
                           .order_by(Survey.created_at.desc(), Survey.id).limit(30)))
    answered = set(db.scalars(select(SurveyResponse.survey_id).where(
        SurveyResponse.member_id == member.id, SurveyResponse.survey_id.in_([r.id for r in rows]))))
    extra.setdefault("values", {"audience": "members", "ready": "yes"})
    return render(
        "projects/surveys.html", status=status, project=project, rows=rows, answered=answered,
        counts={r.id: surveys.response_count(db, r) for r in rows},
        participant=service.membership(db, project, member) is not None,
        ready=_ready_questions(project), types=_type_labels(), custom=range(1, CUSTOM_QUESTIONS + 1),
        categories=list(db.scalars(select(Category).order_by(Category.slug))), **extra,
    )


@bp.get("/projects/<uuid:project_id>/surveys")
def surveys_index(project_id: uuid.UUID) -> Any:
    """A project's surveys, and (for its working group) the form to send one."""
    member, db = page_member(), get_session()
    return _surveys_page(service.get_project(db, project_id), member)


def _option_value(label: str, taken: set[str]) -> str:
    base = re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_")[:36] or "option"
    value, n = base if base[0].isalnum() else f"o{base}", 2
    while value in taken:
        value, n = f"{base}_{n}", n + 1
    taken.add(value)
    return value


def _questions_from(form: Any, project: Project) -> list[dict[str, Any]]:
    """The survey's questions: the pilot's ready ones if chosen, then the ones written in."""
    questions = _ready_questions(project) if form.get("ready") == "yes" else []
    for n in range(1, CUSTOM_QUESTIONS + 1):
        text = (form.get(f"q{n}_text") or "").strip()
        if not text:
            continue
        kind = form.get(f"q{n}_type") or "text"
        question: dict[str, Any] = {"id": f"q{n}", "type": kind, "text": text,
                                    "required": form.get(f"q{n}_required") == "yes"}
        if kind in CHOICES:
            taken: set[str] = set()
            labels = [part.strip() for part in (form.get(f"q{n}_options") or "").split(",") if part.strip()]
            question["options"] = [
                {"value": _option_value(label, taken), "label": label[:120],
                 **({"category": form.get(f"q{n}_category") or "other"} if kind == "needs" else {})}
                for label in labels
            ]
        questions.append(question)
    return questions


@bp.post("/projects/<uuid:project_id>/surveys")
def send_survey(project_id: uuid.UUID) -> Any:
    """Send a survey (the working group): members hear of it; neighbours get a link, shown once."""
    member, db = page_member(), get_session()
    project = service.get_project(db, project_id)
    service.require_participant(db, project, member)
    service.require_active(project)
    values = forms.text(request.form, "title", "intro", "audience", "ready",
                        *(f"q{n}_{part}" for n in range(1, CUSTOM_QUESTIONS + 1)
                          for part in ("text", "type", "options", "category", "required")))
    data = {"title": values.get("title", ""), "intro": values.get("intro", ""),
            "audience": values.get("audience", "members"),
            "questions": _questions_from(request.form, project)}
    try:
        survey, link = surveys.send(db, project, member, forms.parse(SurveyIn, data))
        db.commit()
    except forms.FormErrors as exc:
        if "questions" in exc.fields and not data["questions"]:
            exc.fields["questions"] = gettext("Ask at least one question.")
        return _surveys_page(project, member, 422, values=values, errors=exc)
    except Problem as exc:
        db.rollback()
        return _surveys_page(project, member, exc.status, values=values, errors=forms.from_problem(exc))
    if link is None:
        return done(gettext("The survey is sent to the members."), "web.projects.survey", survey_id=survey.id)
    address = settings().public_url.rstrip("/") + url_for("web.projects.neighbour_survey", link=link)
    return _surveys_page(project, member, 201, sent=survey, address=address)


def _answers_from(form: Any, survey: Survey) -> dict[str, Any]:
    """The form's answers in the shapes the questions take; what cannot be read as its shape is
    passed on as written, so that the survey refuses it with its reason."""
    answers: dict[str, Any] = {}
    for question in survey.questions:
        key, kind = question["id"], question["type"]
        if kind in ("multi", "needs"):
            picked = [v for v in form.getlist(f"a-{key}") if v]
            if picked:
                answers[key] = picked
            continue
        value = (form.get(f"a-{key}") or "").strip()
        if not value:
            continue
        if kind in ("number", "scale"):
            answers[key] = _number(value)
        else:
            answers[key] = value
    return answers


def _number(value: str) -> Any:
    text = value.replace(",", ".")
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return value


def _needs_area(survey: Survey, project: Project) -> bool:
    return project.h3_cell is None and any(q["type"] == "needs" for q in survey.questions)


def _survey_page(survey: Survey, member: Member | None, status: int = 200, link: str | None = None,
                 **extra: Any) -> Any:
    db = get_session()
    project = service.get_project(db, survey.project_id)
    participant = member is not None and service.membership(db, project, member) is not None
    answered = member is not None and db.scalar(select(SurveyResponse.id).where(
        SurveyResponse.survey_id == survey.id, SurveyResponse.member_id == member.id)) is not None
    if "values" not in extra:
        area = areas.default_area(db, settings(), member) if member else settings().default_area_cell or ""
        extra["values"] = {"area": area}
    action = (url_for("web.projects.neighbour_survey", link=link) if link
              else url_for("web.projects.survey", survey_id=survey.id))
    return render(
        "projects/survey.html", status=status, survey=survey, project=project, answered=answered,
        participant=participant, open=survey.status == SurveyStatus.OPEN, form_action=action,
        ask_area=_needs_area(survey, project), neighbour=link is not None,
        results=surveys.results(db, survey) if participant else None,
        labels={q["id"]: {o["value"]: o["label"] for o in q.get("options", [])} for q in survey.questions},
        **extra,
    )


@bp.get("/surveys/<uuid:survey_id>")
def survey(survey_id: uuid.UUID) -> Any:
    """A survey to answer; its working group also sees the answers gathered, without names."""
    member, db = page_member(), get_session()
    found = surveys.get_survey(db, survey_id)
    return _survey_page(found, member)


def _answer(survey: Survey, member: Member | None, link: str | None) -> Any:
    db = get_session()
    project = service.get_project(db, survey.project_id)
    values = {key: request.form.getlist(key) if key.startswith("a-") else request.form.get(key, "")
              for key in request.form if key != "csrf_token"}
    answers = _answers_from(request.form, survey)
    try:
        area = (request.form.get("area") or "").strip()
        cell = areas.to_cell(area, settings()) if area and _needs_area(survey, project) else None
        data = forms.parse(AnswerIn, {"answers": answers, "h3_cell": cell})
        response = surveys.answer(db, settings(), survey, member, data)
        db.commit()
    except forms.FormErrors as exc:
        return _survey_page(survey, member, 422, link, values=values, errors=exc)
    except Problem as exc:
        db.rollback()
        errors = forms.from_problem(exc)
        errors.fields = {{"h3_cell": "area"}.get(k, k.replace("answers.", "a-")): v
                         for k, v in errors.fields.items()}
        return _survey_page(survey, member, exc.status, link, values=values, errors=errors)
    needs = len(response.need_ids)
    message = gettext("Thank you. Your answers are in.")
    if needs:
        message += " " + gettext("They became %(n)s needs, shared with neighbours who can help.", n=needs)
    if link is not None:
        return render("projects/survey_thanks.html", message=message, project=project)
    return done(message, "web.projects.survey", survey_id=survey.id)


@bp.post("/surveys/<uuid:survey_id>")
def answer_survey(survey_id: uuid.UUID) -> Any:
    """Answer a survey as a member; the needs chosen are posted as the member's needs."""
    member, db = page_member(), get_session()
    return _answer(surveys.get_survey(db, survey_id), member, None)


@bp.post("/surveys/<uuid:survey_id>/close")
def close_survey(survey_id: uuid.UUID) -> Any:
    """Stop taking answers (the working group)."""
    member, db = page_member(), get_session()
    found = surveys.get_survey(db, survey_id)
    service.require_participant(db, service.get_project(db, found.project_id), member)
    surveys.close(db, found)
    db.commit()
    return done(gettext("The survey is closed."), "web.projects.survey", survey_id=found.id)


@bp.route("/neighbours/surveys/<link>", methods=["GET", "POST"])
@limiter.limit(NEIGHBOUR_ANSWER_LIMIT, methods=["POST"])
def neighbour_survey(link: str) -> Any:
    """A neighbours' survey, answered without an account through its secret link."""
    found = surveys.by_link(get_session(), link)
    if request.method == "POST":
        return _answer(found, None, link)
    return _survey_page(found, None, link=link)
