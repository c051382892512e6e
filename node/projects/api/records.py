"""The transparency ledger, reports to the assembly, and feedback."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from node.api.operations import ApiBlueprint
from node.api.paging import Page, PageQuery, page_of, paginate
from node.db import get_session
from node.errors import NotFound
from node.members.auth import require_member
from node.members.models import Member
from node.members.service import require_steward
from node.projects import feedback, ledger, reports, service
from node.projects import schemas_records as schemas
from node.projects.api.common import handles
from node.projects.models import Feedback, LedgerEntry, Project, ProjectReport, Side

bp = ApiBlueprint("records_api", __name__, tag="Ledger, reports and feedback")


def entry_out(db: Session, entry: LedgerEntry, names: dict[uuid.UUID, str],
              corrected: dict[uuid.UUID, uuid.UUID]) -> dict[str, Any]:
    return schemas.LedgerOut(
        id=entry.id, direction=entry.direction, kind=entry.kind, quantity=entry.quantity, unit=entry.unit,
        description=entry.description, occurred_at=entry.occurred_at,
        recorded_by=names.get(entry.recorded_by_id) if entry.recorded_by_id else None,
        corrects=entry.corrects_id, corrected_by=corrected.get(entry.id), created_at=entry.created_at,
    ).model_dump(mode="json")


@bp.operation("/projects/<uuid:project_id>/ledger", "GET",
              "What came into and went out of the project (every member may read it)",
              query=schemas.LedgerQuery, response=Page[schemas.LedgerOut], problems=(404,))
def list_ledger(project_id: uuid.UUID, query: schemas.LedgerQuery) -> Any:
    db = get_session()
    require_member()
    project = service.get_project(db, project_id)
    stmt = select(LedgerEntry).where(LedgerEntry.project_id == project.id)
    if query.kind:
        stmt = stmt.where(LedgerEntry.kind == query.kind)
    if query.direction:
        stmt = stmt.where(LedgerEntry.direction == query.direction)
    rows, total = paginate(db, stmt.order_by(LedgerEntry.occurred_at.desc(), LedgerEntry.id), query)
    names = handles(db, {r.recorded_by_id for r in rows})
    pairs = db.execute(select(LedgerEntry.corrects_id, LedgerEntry.id).where(
        LedgerEntry.corrects_id.in_([r.id for r in rows]))).all()
    corrected = {old: new for old, new in pairs if old is not None}
    return page_of([entry_out(db, r, names, corrected) for r in rows], total, query)


@bp.operation("/projects/<uuid:project_id>/ledger", "POST",
              "Record something that came in or went out (its working group); entries are never edited",
              body=schemas.LedgerIn, response=schemas.LedgerOut, status=201, problems=(403, 404, 409))
def add_ledger_entry(project_id: uuid.UUID, body: schemas.LedgerIn) -> Any:
    db, member = get_session(), require_member()
    project = service.get_project(db, project_id)
    service.require_participant(db, project, member)
    ledger.check_kind(project, body.kind)
    if body.corrects is not None:
        ledger.correction_target(db, project, body.corrects)
    entry = ledger.record(db, project, member, body.direction, body.kind, body.quantity, body.unit,
                          body.description, body.occurred_at, body.corrects)
    db.commit()
    return entry_out(db, entry, {member.id: member.handle}, {})


def _totals(db: Session, project: Project) -> schemas.TotalsOut:
    return schemas.TotalsOut(project=project.slug, name=project.name,
                             totals=[schemas.Total(**t) for t in ledger.totals(db, project)])


@bp.operation("/projects/<uuid:project_id>/ledger/totals", "GET", "The ledger's totals per kind and unit",
              response=schemas.TotalsOut, problems=(404,))
def ledger_totals(project_id: uuid.UUID) -> Any:
    db = get_session()
    require_member()
    return _totals(db, service.get_project(db, project_id))


@bp.operation("/public/projects/<slug>/ledger/totals", "GET",
              "A project's ledger totals, for anyone, where the project made them public",
              response=schemas.TotalsOut, auth=False, problems=(404,))
def public_ledger_totals(slug: str) -> Any:
    db = get_session()
    project = db.scalar(select(Project).where(Project.slug == slug))
    if project is None or not project.ledger_public:
        raise NotFound("no such public ledger")
    return _totals(db, project)


# --- reports -------------------------------------------------------------------------------

def report_out(db: Session, report: ProjectReport) -> schemas.ReportOut:
    names = handles(db, {report.author_id})
    return schemas.ReportOut(
        id=report.id, project_id=report.project_id, period_start=report.period_start,
        period_end=report.period_end, summary=report.summary, requests=report.requests,
        figures=report.figures, author=names.get(report.author_id) if report.author_id else None,
        created_at=report.created_at,
    )


@bp.operation("/projects/<uuid:project_id>/reports", "POST",
              "Report back to the assembly for a period; the figures are filled in",
              body=schemas.ReportIn, response=schemas.ReportOut, status=201, problems=(403, 404))
def file_report(project_id: uuid.UUID, body: schemas.ReportIn) -> Any:
    db, member = get_session(), require_member()
    project = service.get_project(db, project_id)
    service.require_participant(db, project, member)
    report = reports.file_report(db, project, member, body)
    db.commit()
    return report_out(db, report)


@bp.operation("/projects/<uuid:project_id>/reports", "GET", "The project's reports, newest first",
              query=PageQuery, response=Page[schemas.ReportOut], problems=(404,))
def list_reports(project_id: uuid.UUID, query: PageQuery) -> Any:
    db = get_session()
    require_member()
    project = service.get_project(db, project_id)
    stmt = select(ProjectReport).where(ProjectReport.project_id == project.id)
    rows, total = paginate(db, stmt.order_by(ProjectReport.created_at.desc(), ProjectReport.id), query)
    return page_of([report_out(db, r).model_dump(mode="json") for r in rows], total, query)


# --- feedback ------------------------------------------------------------------------------

def feedback_out(row: Feedback, names: dict[uuid.UUID, str], viewer: Member) -> schemas.FeedbackOut:
    # Anonymous feedback shows no name, not even to stewards; only its author sees it is theirs.
    show = not row.anonymous or row.author_id == viewer.id
    return schemas.FeedbackOut(id=row.id, subject=row.subject, subject_id=row.subject_id, side=row.side,
                               rating=row.rating, comment=row.comment,
                               author=names.get(row.author_id) if show else None, created_at=row.created_at)


def summary(db: Session, rows: list[Feedback], viewer: Member) -> schemas.FeedbackSummary:
    names = handles(db, {r.author_id for r in rows if not r.anonymous or r.author_id == viewer.id})
    by_side = []
    for side in Side:
        ratings = [r.rating for r in rows if r.side == side]
        mean = round(sum(ratings) / len(ratings), 2) if ratings else None
        by_side.append(schemas.SideSummary(side=side, count=len(ratings), mean_rating=mean))
    subjects: dict[str, int] = {}
    for r in rows:
        subjects[r.subject.value] = subjects.get(r.subject.value, 0) + 1
    return schemas.FeedbackSummary(
        count=len(rows), mean_rating=round(sum(r.rating for r in rows) / len(rows), 2) if rows else None,
        by_side=by_side, by_subject=subjects, items=[feedback_out(r, names, viewer) for r in rows],
    )


@bp.operation("/feedback", "POST", "Say how an exchange, a match or a shift went (once each)",
              body=schemas.FeedbackIn, response=schemas.FeedbackOut, status=201, problems=(403, 404, 409))
def give_feedback(body: schemas.FeedbackIn) -> Any:
    db, member = get_session(), require_member()
    row = feedback.give(db, member, body)
    db.commit()
    return feedback_out(row, {member.id: member.handle}, member)


def _filtered(stmt: Any, query: schemas.FeedbackQuery) -> Any:
    if query.subject is not None:
        stmt = stmt.where(Feedback.subject == query.subject)
    if query.since is not None:
        stmt = stmt.where(Feedback.created_at >= query.since)
    return stmt.order_by(Feedback.created_at.desc(), Feedback.id).limit(500)


@bp.operation("/projects/<uuid:project_id>/feedback", "GET",
              "Feedback on the project, gathered (its working group); anonymous ones without names",
              query=schemas.FeedbackQuery, response=schemas.FeedbackSummary, problems=(403, 404))
def project_feedback(project_id: uuid.UUID, query: schemas.FeedbackQuery) -> Any:
    db, member = get_session(), require_member()
    project = service.get_project(db, project_id)
    service.require_participant(db, project, member)
    rows = list(db.scalars(_filtered(select(Feedback).where(Feedback.project_id == project.id), query)))
    return summary(db, rows, member)


@bp.operation("/feedback", "GET", "Feedback on matches outside any project, gathered (stewards)",
              query=schemas.FeedbackQuery, response=schemas.FeedbackSummary, problems=(403,))
def node_feedback(query: schemas.FeedbackQuery) -> Any:
    db, member = get_session(), require_member()
    require_steward(db, member)
    rows = list(db.scalars(_filtered(select(Feedback).where(Feedback.project_id.is_(None)), query)))
    return summary(db, rows, member)
