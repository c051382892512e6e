"""Stories members write about what happened (plan 5.2). Callers commit."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from node.errors import FieldError, Forbidden, NotFound, ValidationFailed
from node.members.models import Member
from node.members.service import is_steward
from node.projects import uploads
from node.projects.models import Project, Story, Upload
from node.projects.schemas_stories import StoryIn, StoryUpdate
from node.settings import Settings


def write(db: Session, member: Member, data: StoryIn) -> Story:
    """Publish a story, to members or to everyone."""
    if data.project_id is not None and db.get(Project, data.project_id) is None:
        raise ValidationFailed("unknown project", [FieldError("project_id", "no such project")])
    story = Story(author_id=member.id, title=data.title, body=data.body, project_id=data.project_id,
                  visibility=data.visibility)
    db.add(story)
    db.flush()
    return story


def get_story(db: Session, story_id: uuid.UUID) -> Story:
    """A story, or a 404 problem."""
    story = db.get(Story, story_id)
    if story is None:
        raise NotFound("no such story")
    return story


def own_story(db: Session, story_id: uuid.UUID, member: Member) -> Story:
    """A story the member wrote, or a problem."""
    story = get_story(db, story_id)
    if story.author_id != member.id:
        raise Forbidden("this story belongs to another member")
    return story


def edit(db: Session, story: Story, data: StoryUpdate) -> Story:
    """Change the fields that were sent."""
    changes = data.model_dump(exclude_unset=True)
    for name, value in changes.items():
        if value is None:
            raise ValidationFailed("cannot be null", [FieldError(name, "cannot be null")])
        setattr(story, name, value)
    db.flush()
    return story


def remove(db: Session, settings: Settings, story: Story, member: Member) -> None:
    """Delete a story and its photos: its author may, and so may a steward."""
    if story.author_id != member.id and not is_steward(db, member):
        raise Forbidden("only the author or a steward can remove a story")
    for upload in db.scalars(select(Upload).where(Upload.story_id == story.id)):
        uploads.discard(db, settings, upload)
    db.delete(story)
    db.flush()
