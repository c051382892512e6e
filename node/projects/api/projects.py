"""Projects, their working groups, roles, call-outs and needs."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from node.api.operations import ApiBlueprint
from node.api.paging import Page, page_of, paginate
from node.assemblies import service as assemblies
from node.assemblies.api import proposal_out
from node.assemblies.schemas import ProposalOut
from node.db import get_session
from node.members.auth import require_member
from node.members.models import Member
from node.projects import schemas, service, term_limits
from node.projects.api.common import settings
from node.projects.models import Project, ProjectMember, Role
from node.projects.templates import PRINCIPLES, TEMPLATES
from node.resources import schemas as resource_schemas
from node.resources.api import listing_out

bp = ApiBlueprint("projects_api", __name__, tag="Projects")


def project_out(db: Session, project: Project, viewer: Member) -> schemas.ProjectOut:
    """A project as members see it."""
    return schemas.ProjectOut(
        id=project.id, slug=project.slug, name=project.name, description=project.description,
        template=project.template, principles=project.principles, ledger_kinds=project.ledger_kinds,
        status=project.status, h3_cell=project.h3_cell,
        coordinator_term_limit=project.coordinator_term_limit,
        term_limit_decision=project.term_limit_decision, ledger_public=project.ledger_public,
        members=service.participant_count(db, project),
        is_member=service.membership(db, project, viewer) is not None, created_at=project.created_at,
    )


def _member_out(row: ProjectMember, member: Member) -> schemas.ProjectMemberOut:
    return schemas.ProjectMemberOut(
        handle=member.handle, display_name=member.display_name, skills=row.skills,
        availability=[schemas.WindowIn(**w) for w in row.availability], in_rotation=row.in_rotation,
        joined_at=row.joined_at,
    )


@bp.operation("/project-templates", "GET", "Templates for the plan's pilot projects")
def list_templates() -> Any:
    require_member()
    items = [
        schemas.TemplateOut(key=t.key, name=t.name, description=t.description, roles=t.roles,
                            shifts=t.shifts, ledger_kinds=t.ledger_kinds, principles=PRINCIPLES)
        .model_dump(mode="json")
        for t in TEMPLATES.values()
    ]
    return {"items": items}


@bp.operation("/projects", "GET", "Projects of this node", query=schemas.ProjectQuery,
              response=Page[schemas.ProjectOut])
def list_projects(query: schemas.ProjectQuery) -> Any:
    db, member = get_session(), require_member()
    stmt = select(Project)
    if query.status is not None:
        stmt = stmt.where(Project.status == query.status)
    if query.mine:
        stmt = stmt.where(Project.id.in_(
            select(ProjectMember.project_id).where(ProjectMember.member_id == member.id)))
    rows, total = paginate(db, stmt.order_by(Project.name, Project.id), query)
    return page_of([project_out(db, r, member).model_dump(mode="json") for r in rows], total, query)


@bp.operation("/projects", "POST", "Start a project, from a template or blank; you join its working group",
              body=schemas.ProjectIn, response=schemas.ProjectOut, status=201, problems=(409,))
def create_project(body: schemas.ProjectIn) -> Any:
    db, member = get_session(), require_member()
    project = service.create_project(db, settings(), member, body)
    db.commit()
    return project_out(db, project, member)


@bp.operation("/projects/<uuid:project_id>", "GET", "One project", response=schemas.ProjectOut,
              problems=(404,))
def get_project(project_id: uuid.UUID) -> Any:
    db, member = get_session(), require_member()
    return project_out(db, service.get_project(db, project_id), member)


@bp.operation("/projects/<uuid:project_id>", "PATCH", "Change a project (its working group)",
              body=schemas.ProjectUpdate, response=schemas.ProjectOut, problems=(403, 404))
def update_project(project_id: uuid.UUID, body: schemas.ProjectUpdate) -> Any:
    db, member = get_session(), require_member()
    project = service.get_project(db, project_id)
    service.require_participant(db, project, member)
    service.update_project(db, settings(), project, body)
    db.commit()
    return project_out(db, project, member)


@bp.operation("/projects/<uuid:project_id>/term-limit", "POST",
              "Propose to an assembly a term limit for the project's coordinating roles",
              body=schemas.TermLimitIn, response=ProposalOut, status=201, problems=(404, 409, 422))
def propose_term_limit(project_id: uuid.UUID, body: schemas.TermLimitIn) -> Any:
    db, member = get_session(), require_member()
    project = service.get_project(db, project_id)
    assembly = assemblies.get_assembly(db, body.assembly_id)
    proposal = term_limits.propose(db, assembly, project, member, body.limit, reason=body.reason,
                                   closes_at=body.closes_at)
    db.commit()
    return proposal_out(db, proposal, member)


@bp.operation("/projects/<uuid:project_id>/members", "GET", "The project's working group")
def list_project_members(project_id: uuid.UUID) -> Any:
    db = get_session()
    require_member()
    project = service.get_project(db, project_id)
    rows = db.execute(
        select(ProjectMember, Member).join(Member, Member.id == ProjectMember.member_id)
        .where(ProjectMember.project_id == project.id).order_by(Member.handle)
    ).all()
    return {"items": [_member_out(row, member).model_dump(mode="json") for row, member in rows]}


@bp.operation("/projects/<uuid:project_id>/membership", "PUT",
              "Join the working group, or change the skills and hours you offer it",
              body=schemas.MembershipIn, response=schemas.ProjectMemberOut, problems=(404, 409))
def join_project(project_id: uuid.UUID, body: schemas.MembershipIn) -> Any:
    db, member = get_session(), require_member()
    row = service.join(db, service.get_project(db, project_id), member, body)
    db.commit()
    return _member_out(row, member)


@bp.operation("/projects/<uuid:project_id>/membership", "DELETE",
              "Leave the working group (your future shifts are given up)", status=204, problems=(403, 404))
def leave_project(project_id: uuid.UUID) -> Response:
    db, member = get_session(), require_member()
    service.leave(db, service.get_project(db, project_id), member)
    db.commit()
    return Response(status=204)


@bp.operation("/projects/<uuid:project_id>/roles", "GET", "Roles the working group rotates")
def list_roles(project_id: uuid.UUID) -> Any:
    db = get_session()
    require_member()
    project = service.get_project(db, project_id)
    rows = db.scalars(select(Role).where(Role.project_id == project.id).order_by(Role.name))
    return {"items": [schemas.RoleOut.model_validate(r).model_dump(mode="json") for r in rows]}


@bp.operation("/projects/<uuid:project_id>/roles", "POST", "Add a role", body=schemas.RoleIn,
              response=schemas.RoleOut, status=201, problems=(403, 404, 409))
def add_role(project_id: uuid.UUID, body: schemas.RoleIn) -> Any:
    db, member = get_session(), require_member()
    project = service.get_project(db, project_id)
    service.require_participant(db, project, member)
    role = service.add_role(db, project, body)
    db.commit()
    return schemas.RoleOut.model_validate(role)


@bp.operation("/projects/<uuid:project_id>/callouts", "POST",
              "Call for volunteers: members hear of it as they chose", body=schemas.CalloutIn,
              response=schemas.CalloutOut, status=201, problems=(403, 404))
def send_callout(project_id: uuid.UUID, body: schemas.CalloutIn) -> Any:
    db, member = get_session(), require_member()
    project = service.get_project(db, project_id)
    service.require_participant(db, project, member)
    service.require_active(project)
    callout, count = service.send_callout(db, project, member, body)
    db.commit()
    return schemas.CalloutOut(id=callout.id, message=callout.message, skill=callout.skill, notified=count,
                              created_at=callout.created_at)


@bp.operation("/projects/<uuid:project_id>/needs", "GET", "Needs posted for the project")
def list_project_needs(project_id: uuid.UUID) -> Any:
    db, member = get_session(), require_member()
    project = service.get_project(db, project_id)
    items = [listing_out(db, listing, member).model_dump(mode="json")
             for listing in service.project_listings(db, project)]
    return {"items": items}


@bp.operation("/projects/<uuid:project_id>/needs", "POST",
              "Post a need for the project (shared like any need)", body=resource_schemas.ListingIn,
              response=resource_schemas.ListingOut, status=201, problems=(403, 404))
def post_project_need(project_id: uuid.UUID, body: resource_schemas.ListingIn) -> Any:
    db, member = get_session(), require_member()
    project = service.get_project(db, project_id)
    service.require_participant(db, project, member)
    service.require_active(project)
    listing = service.post_need(db, settings(), project, member, body)
    db.commit()
    return listing_out(db, listing, member)

