"""Projects: the working groups, their shifts and rotation, the tool library, stories and the ledger."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from typing import Any

from flask import Blueprint, request
from flask_babel import gettext
from sqlalchemy import func, select

from node.assemblies import service as assemblies
from node.assemblies.models import Assembly, AssemblyStatus
from node.db import get_session, utcnow
from node.errors import Problem
from node.members.models import Member
from node.projects import ledger, schemas, service, shifts, stories, term_limits, tools
from node.projects.models import Assignment, LibraryItem, Project, ProjectMember, Shift, Story
from node.projects.schemas_stories import StoryIn
from node.projects.templates import TEMPLATES
from node.web import forms
from node.web.base import done, page_member, render, settings
from node.web.listings import handles

bp = Blueprint("projects", __name__)
ROTATION_WEEKS = 4


def _slug(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:30]
    return slug if re.match(r"^[a-z][a-z0-9-]{1,}$", slug) else f"project-{uuid.uuid4().hex[:8]}"


def _template_options() -> list[tuple[str, str]]:
    return [(key, t.name) for key, t in TEMPLATES.items()]


@bp.get("/projects")
def index() -> Any:
    """The node's projects, and a form to start one."""
    return _index_page(page_member(), values={})


def _index_page(member: Member, status: int = 200, **extra: Any) -> Any:
    db = get_session()
    rows = list(db.scalars(select(Project).order_by(Project.name, Project.id).limit(100)))
    counted = db.execute(select(ProjectMember.project_id, func.count()).group_by(ProjectMember.project_id))
    counts = {row[0]: row[1] for row in counted}
    mine = set(db.scalars(select(ProjectMember.project_id).where(ProjectMember.member_id == member.id)))
    return render(
        "projects/index.html",
        status=status,
        rows=rows,
        counts=counts,
        mine=mine,
        templates=_template_options(),
        **extra,
    )


@bp.post("/projects")
def start() -> Any:
    """Start a project, from a template or blank; the member joins its working group."""
    member, db = page_member(), get_session()
    values = forms.text(request.form, "name", "description", "template")
    data: dict[str, Any] = {k: values[k] for k in ("name", "description", "template") if k in values}
    data["slug"] = _slug(values.get("name", ""))
    try:
        project = service.create_project(db, settings(), member, forms.parse(schemas.ProjectIn, data))
        db.commit()
    except forms.FormErrors as exc:
        return _index_page(member, 422, values=values, errors=exc)
    except Problem as exc:
        db.rollback()
        return _index_page(member, 422, values=values, errors=forms.from_problem(exc))
    return done(
        gettext("The project is started. You are in its working group."),
        "web.projects.detail",
        project_id=project.id,
    )


@bp.get("/projects/<uuid:project_id>")
def detail(project_id: uuid.UUID) -> Any:
    """One project: its working group, coming shifts, library, ledger and stories."""
    return _detail_page(project_id, page_member())


def _detail_page(project_id: uuid.UUID, member: Member, status: int = 200, **extra: Any) -> Any:
    from node.web.project_library import condition_labels  # that module adds its views to bp

    db = get_session()
    project = service.get_project(db, project_id)
    group = list(
        db.execute(
            select(Member.handle)
            .join(ProjectMember, ProjectMember.member_id == Member.id)
            .where(ProjectMember.project_id == project.id)
            .order_by(Member.handle)
        ).scalars()
    )
    coming = list(
        db.scalars(
            select(Shift)
            .where(Shift.project_id == project.id, Shift.cancelled_at.is_(None), Shift.starts_at >= utcnow())
            .order_by(Shift.starts_at)
            .limit(12)
        )
    )
    held = {shift.id: shifts.holders(db, shift) for shift in coming}
    names = handles(db, [a for rows in held.values() for a in rows])
    items = list(
        db.scalars(
            select(LibraryItem)
            .where(LibraryItem.project_id == project.id, LibraryItem.retired.is_(False))
            .order_by(LibraryItem.name)
            .limit(50)
        )
    )
    participant = service.membership(db, project, member) is not None
    told = list(
        db.scalars(
            select(Story).where(Story.project_id == project.id).order_by(Story.created_at.desc()).limit(5)
        )
    )
    return render(
        "projects/detail.html",
        project=project,
        group=group,
        coming=coming,
        held=held,
        names=names,
        items=items,
        on_loan={i.id: tools.open_loan(db, i) is not None for i in items},
        participant=participant,
        totals=ledger.totals(db, project) if participant or project.ledger_public else None,
        stories=told,
        pilot=TEMPLATES.get(project.template or ""),
        conditions=condition_labels(),
        status=status,
        assemblies=[(str(a.id), a.title) for a in db.scalars(
            select(Assembly).where(Assembly.status != AssemblyStatus.CLOSED)
            .order_by(Assembly.created_at.desc()).limit(20))],
        **{"limit_values": {"limit": project.coordinator_term_limit}, **extra},
    )


@bp.post("/projects/<uuid:project_id>/term-limit")
def propose_term_limit(project_id: uuid.UUID) -> Any:
    """Put a new term limit for the project's coordinating roles to an assembly."""
    member, db = page_member(), get_session()
    project = service.get_project(db, project_id)
    values = forms.text(request.form, "assembly", "limit", "reason")
    try:
        data = forms.parse(schemas.TermLimitIn, {
            "assembly_id": values.get("assembly"), "limit": values.get("limit"),
            "reason": values.get("reason", ""),
        })
        assembly = assemblies.get_assembly(db, data.assembly_id)
        proposal = term_limits.propose(db, assembly, project, member, data.limit, reason=data.reason)
        db.commit()
    except forms.FormErrors as exc:
        exc.fields = {{"assembly_id": "assembly"}.get(k, k): v for k, v in exc.fields.items()}
        return _detail_page(project.id, member, 422, limit_values=values, limit_errors=exc)
    except Problem as exc:
        db.rollback()
        return _detail_page(project.id, member, exc.status, limit_values=values,
                            limit_errors=forms.from_problem(exc))
    return done(gettext("Your proposal is before the assembly. The limit changes if it passes."),
                "web.assemblies.proposal", proposal_id=proposal.id)


@bp.post("/projects/<uuid:project_id>/<any(join, leave):action>")
def membership(project_id: uuid.UUID, action: str) -> Any:
    """Join the working group, or leave it (future shifts are given up)."""
    member, db = page_member(), get_session()
    project = service.get_project(db, project_id)
    if action == "join":
        service.join(db, project, member, schemas.MembershipIn())
        message = gettext("You are in the working group.")
    else:
        service.leave(db, project, member)
        message = gettext("You left the working group.")
    db.commit()
    return done(message, "web.projects.detail", project_id=project.id)


@bp.post("/shifts/<uuid:shift_id>/signup")
def sign_up(shift_id: uuid.UUID) -> Any:
    """Take a place on a shift."""
    member, db = page_member(), get_session()
    shift = shifts.get_shift(db, shift_id)
    project = service.get_project(db, shift.project_id)
    shifts.sign_up(db, settings(), project, shift, member)
    db.commit()
    return done(gettext("You have a place on this shift."), "web.projects.detail", project_id=project.id)


@bp.post("/assignments/<uuid:assignment_id>/give-up")
def give_up(assignment_id: uuid.UUID) -> Any:
    """Give up one's own place on a shift that has not started."""
    member, db = page_member(), get_session()
    assignment = db.get(Assignment, assignment_id)
    if assignment is None:
        assignment = shifts.get_assignment(db, assignment_id)
    project_id = assignment.shift.project_id
    shifts.give_up(db, assignment, member)
    db.commit()
    return done(gettext("You gave up your place."), "web.projects.detail", project_id=project_id)


@bp.post("/projects/<uuid:project_id>/rotation")
def rotation(project_id: uuid.UUID) -> Any:
    """Fill the open places of the coming weeks fairly (the working group)."""
    member, db = page_member(), get_session()
    project = service.get_project(db, project_id)
    service.require_participant(db, project, member)
    now = utcnow()
    run = shifts.run_rotation(db, settings(), project, now, now + timedelta(weeks=ROTATION_WEEKS), False)
    db.commit()
    message = gettext("The rotation filled %(n)s places.", n=len(run.result.placements))
    return done(message, "web.projects.detail", project_id=project.id)


@bp.post("/items/<uuid:item_id>/hold")
def hold(item_id: uuid.UUID) -> Any:
    """Join an item's waitlist in the tool library."""
    member, db = page_member(), get_session()
    item = tools.get_item(db, item_id)
    tools.place_hold(db, settings(), item, member)
    db.commit()
    message = gettext("You are on the list for %(name)s.", name=item.name)
    if request.form.get("back") == "item":
        return done(message, "web.projects.item", item_id=item.id)
    return done(message, "web.projects.detail", project_id=item.project_id)


@bp.route("/stories", methods=["GET", "POST"])
def story_list() -> Any:
    """Stories members wrote, newest first, and a form to tell one."""
    member, db = page_member(), get_session()
    values: dict[str, Any] = {}
    errors = None
    if request.method == "POST":
        values = forms.text(request.form, "title", "body", "visibility")
        try:
            story = stories.write(db, member, forms.parse(StoryIn, values))
            db.commit()
            return done(gettext("Your story is shared."), "web.projects.story_list", _anchor=f"s-{story.id}")
        except forms.FormErrors as exc:
            errors = exc
        except Problem as exc:
            db.rollback()
            errors = forms.from_problem(exc)
    rows = list(db.scalars(select(Story).order_by(Story.created_at.desc()).limit(30)))
    authors = {
        m.id: m.handle for m in db.scalars(select(Member).where(Member.id.in_({s.author_id for s in rows})))
    }
    return render(
        "projects/stories.html",
        status=422 if errors else 200,
        rows=rows,
        authors=authors,
        values=values,
        errors=errors,
    )


# The pages of swaps, the tool library and surveys add their views to this blueprint.
import node.web.project_library  # noqa: E402
import node.web.project_surveys  # noqa: E402
import node.web.project_swaps  # noqa: E402, F401
