"""Stories, their photos, and the Atom feed of the public ones."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from node.api.operations import ApiBlueprint
from node.api.paging import Page, page_of, paginate
from node.db import get_session
from node.errors import NotFound
from node.members.auth import require_member
from node.members.models import Member
from node.projects import feeds, stories, uploads
from node.projects import schemas_stories as schemas
from node.projects.api.common import handles, settings
from node.projects.models import Project, Story, Upload, Visibility

bp = ApiBlueprint("stories_api", __name__, tag="Stories")


def story_out(db: Session, story: Story, viewer: Member | None) -> schemas.StoryOut:
    names = handles(db, {story.author_id})
    project = db.get(Project, story.project_id) if story.project_id else None
    photos = db.scalars(select(Upload.id).where(Upload.story_id == story.id).order_by(Upload.created_at))
    return schemas.StoryOut(
        id=story.id, title=story.title, body=story.body, project_id=story.project_id,
        project=project.name if project else None, visibility=story.visibility,
        author=names.get(story.author_id, ""), mine=viewer is not None and viewer.id == story.author_id,
        photos=[f"/api/v1/uploads/{p}" for p in photos], created_at=story.created_at,
        updated_at=story.updated_at,
    )


@bp.operation("/stories", "GET", "Stories members wrote, newest first", query=schemas.StoryQuery,
              response=Page[schemas.StoryOut])
def list_stories(query: schemas.StoryQuery) -> Any:
    db, member = get_session(), require_member()
    stmt = select(Story)
    if query.project_id is not None:
        stmt = stmt.where(Story.project_id == query.project_id)
    if query.visibility is not None:
        stmt = stmt.where(Story.visibility == query.visibility)
    rows, total = paginate(db, stmt.order_by(Story.created_at.desc(), Story.id), query)
    return page_of([story_out(db, r, member).model_dump(mode="json") for r in rows], total, query)


@bp.operation("/stories", "POST", "Tell what happened", body=schemas.StoryIn, response=schemas.StoryOut,
              status=201)
def write_story(body: schemas.StoryIn) -> Any:
    db, member = get_session(), require_member()
    story = stories.write(db, member, body)
    db.commit()
    return story_out(db, story, member)


@bp.operation("/stories/<uuid:story_id>", "GET", "One story", response=schemas.StoryOut, problems=(404,))
def get_story(story_id: uuid.UUID) -> Any:
    db, member = get_session(), require_member()
    return story_out(db, stories.get_story(db, story_id), member)


@bp.operation("/public/stories/<uuid:story_id>", "GET", "A public story, for anyone",
              response=schemas.StoryOut, auth=False, problems=(404,))
def get_public_story(story_id: uuid.UUID) -> Any:
    db = get_session()
    story = db.get(Story, story_id)
    if story is None or story.visibility != Visibility.PUBLIC:
        raise NotFound("no such public story")
    return story_out(db, story, None)


@bp.operation("/stories/<uuid:story_id>", "PATCH", "Change your story", body=schemas.StoryUpdate,
              response=schemas.StoryOut, problems=(403, 404))
def edit_story(story_id: uuid.UUID, body: schemas.StoryUpdate) -> Any:
    db, member = get_session(), require_member()
    story = stories.edit(db, stories.own_story(db, story_id, member), body)
    db.commit()
    return story_out(db, story, member)


@bp.operation("/stories/<uuid:story_id>", "DELETE", "Remove a story and its photos (its author or a steward)",
              status=204, problems=(403, 404))
def remove_story(story_id: uuid.UUID) -> Response:
    db, member = get_session(), require_member()
    stories.remove(db, settings(), stories.get_story(db, story_id), member)
    db.commit()
    return Response(status=204)


@bp.operation("/stories/<uuid:story_id>/photos", "POST",
              "Add a photo to your story (the body is the JPEG, PNG or WebP image itself)",
              response=schemas.StoryOut, status=201, problems=(403, 404, 413))
def add_story_photo(story_id: uuid.UUID) -> Any:
    db, member = get_session(), require_member()
    story = stories.own_story(db, story_id, member)
    uploads.store(db, settings(), member, uploads.read_body(settings()), story=story)
    db.commit()
    return story_out(db, story, member)


@bp.operation("/stories.atom", "GET", "The node's public stories as an Atom feed", auth=False,
              content_type="application/atom+xml")
def stories_feed() -> Response:
    body = feeds.stories_atom(get_session(), settings())
    response = Response(body, mimetype="application/atom+xml")
    response.headers["Cache-Control"] = "public, max-age=600"
    return response
