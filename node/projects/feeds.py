"""The Atom feed of the stories a node makes public."""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from node.db import utcnow
from node.members.models import Member
from node.projects.models import Story, Upload, Visibility
from node.settings import Settings

FEED_SIZE = 50
# XML 1.0 allows no control characters but tab, newline and carriage return; text members typed
# may still hold them, and one such character would make the whole feed unreadable.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def xml_text(value: str) -> str:
    """The text with every character XML 1.0 cannot carry removed."""
    return _XML_INVALID.sub("", value)


def stories_atom(db: Session, settings: Settings) -> bytes:
    """Public stories, newest first, as an Atom 1.0 document."""
    from feedgen.feed import FeedGenerator  # with lxml: loaded when the feed is first fetched

    base = settings.public_url.rstrip("/")
    rows = db.execute(
        select(Story, Member.handle).join(Member, Member.id == Story.author_id)
        .where(Story.visibility == Visibility.PUBLIC)
        .order_by(Story.created_at.desc(), Story.id).limit(FEED_SIZE)
    ).all()
    feed = FeedGenerator()
    feed.id(f"{base}/api/v1/stories.atom")
    feed.title(xml_text(f"{settings.node_name}: stories"))
    feed.subtitle("What neighbours did together, told by those who did it.")
    feed.link(href=f"{base}/api/v1/stories.atom", rel="self", type="application/atom+xml")
    feed.link(href=base, rel="alternate")
    feed.language("en")
    newest: datetime = rows[0][0].updated_at if rows else utcnow()
    feed.updated(newest)
    for story, handle in reversed(rows):
        entry = feed.add_entry()
        url = f"{base}/api/v1/public/stories/{story.id}"
        entry.id(f"urn:uuid:{story.id}")
        entry.title(xml_text(story.title))
        entry.author(name=xml_text(handle))
        entry.link(href=url, rel="alternate")
        entry.published(story.created_at)
        entry.updated(story.updated_at)
        entry.content(xml_text(story.body), type="text")
        photos = select(Upload).where(Upload.story_id == story.id).order_by(Upload.created_at)
        for photo in db.scalars(photos):
            entry.link(href=f"{base}/api/v1/uploads/{photo.id}", rel="enclosure", type=photo.content_type,
                       length=str(photo.size))
    return bytes(feed.atom_str(pretty=True))
