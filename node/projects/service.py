"""Projects and their working groups, as plain functions over a session. Callers commit."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from node.db import utcnow
from node.errors import Conflict, FieldError, Forbidden, InvalidState, NotFound, ValidationFailed
from node.members.models import Member
from node.projects import schemas
from node.projects.models import (
    Callout,
    Project,
    ProjectListing,
    ProjectMember,
    ProjectStatus,
    Role,
)
from node.projects.notifications import notify_many
from node.projects.templates import PRINCIPLES, get_template
from node.resources.areas import coarse_cell
from node.resources.models import Listing, ListingKind
from node.resources.schemas import ListingIn
from node.resources.service import create_listing
from node.settings import Settings

DEFAULT_LEDGER_KINDS = ["food", "tools", "supplies", "money", "other"]


def get_project(db: Session, project_id: uuid.UUID) -> Project:
    """A project, or a 404 problem."""
    project = db.get(Project, project_id)
    if project is None:
        raise NotFound("no such project")
    return project


def membership(db: Session, project: Project, member: Member) -> ProjectMember | None:
    """The member's place in the project's working group, if they have one."""
    return db.scalar(select(ProjectMember).where(
        ProjectMember.project_id == project.id, ProjectMember.member_id == member.id
    ))


def require_participant(db: Session, project: Project, member: Member) -> ProjectMember:
    """Refuse unless the member is in the project's working group: they run it together."""
    row = membership(db, project, member)
    if row is None:
        raise Forbidden("only members of the project's working group may do this; join it first")
    return row


def require_active(project: Project) -> None:
    """Refuse changes to a project that is paused or closed."""
    if project.status != ProjectStatus.ACTIVE:
        raise InvalidState(f"the project is {project.status.value}")


def create_project(db: Session, settings: Settings, member: Member, data: schemas.ProjectIn) -> Project:
    """Start a project, from a template or blank; its founder joins its working group."""
    template = None
    if data.template is not None:
        template = get_template(data.template)
        if template is None:
            raise ValidationFailed(
                "unknown template", [FieldError("template", f"no template '{data.template}'")]
            )
    if db.scalar(select(Project.id).where(Project.slug == data.slug)) is not None:
        raise Conflict("slug taken", [FieldError("slug", "already used by another project")])
    project = Project(
        slug=data.slug,
        name=data.name,
        description=data.description or (template.description if template else ""),
        template=data.template,
        principles=list(data.principles) if data.principles is not None else list(PRINCIPLES),
        ledger_kinds=list(template.ledger_kinds if template else DEFAULT_LEDGER_KINDS),
        h3_cell=coarse_cell(data.h3_cell, settings.h3_resolution) if data.h3_cell else None,
        coordinator_term_limit=settings.coordinator_term_limit,
        term_limit_decision="node default",
        created_by_id=member.id,
    )
    db.add(project)
    db.flush()
    db.add(ProjectMember(project_id=project.id, member_id=member.id))
    if template is not None:
        roles = {}
        for spec in template.roles:
            role = Role(project_id=project.id, name=spec["name"], skill=spec.get("skill"),
                        coordinating=bool(spec.get("coordinating")), description=spec.get("description", ""))
            db.add(role)
            roles[role.name] = role
        db.flush()
        if data.create_shifts:
            from node.projects import shifts

            for spec in template.shifts:
                series = schemas.SeriesIn(
                    role_id=roles[spec["role"]].id, weekday=spec["weekday"], start_time=spec["start_time"],
                    minutes=spec["minutes"], slots=spec["slots"],
                    starts_on=utcnow().astimezone(shifts.zone(settings)).date(),
                )
                shifts.create_series(db, settings, project, series)
    db.flush()
    return project


def update_project(db: Session, settings: Settings, project: Project, data: schemas.ProjectUpdate) -> Project:
    """Change the fields that were sent."""
    changes = data.model_dump(exclude_unset=True)
    for name in ("name", "description", "principles", "ledger_kinds", "status", "ledger_public"):
        if name in changes and changes[name] is None:
            raise ValidationFailed("cannot be null", [FieldError(name, "cannot be null")])
    if changes.get("h3_cell"):
        changes["h3_cell"] = coarse_cell(changes["h3_cell"], settings.h3_resolution)
    for name, value in changes.items():
        setattr(project, name, value)
    db.flush()
    return project


def join(db: Session, project: Project, member: Member, data: schemas.MembershipIn) -> ProjectMember:
    """Join the project's working group, or change the skills and hours offered to it."""
    row = membership(db, project, member)
    if row is None:
        require_active(project)
        row = ProjectMember(project_id=project.id, member_id=member.id)
        db.add(row)
    row.skills = sorted(set(data.skills))
    row.availability = [window.model_dump() for window in data.availability]
    row.in_rotation = data.in_rotation
    try:
        db.flush()
    except IntegrityError:
        db.rollback()
        raise Conflict("already a member of this project") from None
    return row


def leave(db: Session, project: Project, member: Member) -> None:
    """Leave the working group; places on future shifts are given up."""
    from node.projects.shifts import drop_future_assignments

    row = require_participant(db, project, member)
    drop_future_assignments(db, project, member)
    db.delete(row)
    db.flush()


def participant_count(db: Session, project: Project) -> int:
    """How many people are in the working group."""
    return db.scalar(select(func.count()).where(ProjectMember.project_id == project.id)) or 0


def add_role(db: Session, project: Project, data: schemas.RoleIn) -> Role:
    """Add a role people take turns at."""
    exists = db.scalar(select(Role.id).where(Role.project_id == project.id, Role.name == data.name))
    if exists is not None:
        raise Conflict("role exists", [FieldError("name", "the project already has this role")])
    role = Role(project_id=project.id, **data.model_dump())
    db.add(role)
    db.flush()
    return role


def project_role(db: Session, project: Project, role_id: uuid.UUID, field: str = "role_id") -> Role:
    """A role of this project, or a problem naming the field."""
    role = db.get(Role, role_id)
    if role is None or role.project_id != project.id:
        raise ValidationFailed("unknown role", [FieldError(field, "not a role of this project")])
    return role


def send_callout(
    db: Session, project: Project, author: Member, data: schemas.CalloutIn
) -> tuple[Callout, int]:
    """Call for volunteers (plan 2.2): every member of the node hears of it, as they chose."""
    callout = Callout(project_id=project.id, author_id=author.id, message=data.message, skill=data.skill)
    db.add(callout)
    db.flush()
    everyone = db.scalars(select(Member.id).where(Member.id != author.id))
    wanted = f" (skill wanted: {data.skill})" if data.skill else ""
    count = notify_many(
        db, everyone, "callout", f"{project.name} is looking for volunteers{wanted}",
        f"{data.message}\n\nJoin the working group of {project.name} to take part.",
        dedupe_prefix=f"callout:{callout.id}",
    )
    return callout, count


def post_need(
    db: Session, settings: Settings, project: Project, member: Member, data: ListingIn,
    source: str = "project",
) -> Listing:
    """Post a need for the project through the needs service, so federation hears of it too."""
    listing = create_listing(db, settings, member, ListingKind.NEED, data)
    db.add(ProjectListing(project_id=project.id, listing_id=listing.id, source=source))
    db.flush()
    return listing


def project_listings(db: Session, project: Project) -> list[Listing]:
    """The needs and offers posted for the project, newest first."""
    stmt = (
        select(Listing)
        .join(ProjectListing, ProjectListing.listing_id == Listing.id)
        .where(ProjectListing.project_id == project.id)
        .order_by(Listing.created_at.desc(), Listing.id.desc())
    )
    return list(db.scalars(stmt))
