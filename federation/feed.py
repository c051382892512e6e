"""The feed: the signed envelopes of one sender this node holds, in seq order, for catch-up.

`GET /federation/feed?sender=<id>&after=<seq>&limit=<n>` answers

    {"envelopes": [<envelope>, ...], "through": <highest seq held of that sender>,
     "next_after": <seq to ask after for the next page, or null when this page is the last>}

Envelopes are served as they were stored (the signed text), so the reader verifies each one
itself. A node keeps what it publishes and relays at least `feed_retention_days` (90 days).
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from federation.bodies import NODE_ID_PATTERN
from federation.envelope import MAX_SAFE_INTEGER
from federation.models import Envelope

FEED_PATH = "/federation/feed"
DEFAULT_LIMIT = 500
MAX_LIMIT = 2000


class FeedQuery(BaseModel):
    """Which part of a sender's log to read."""

    model_config = ConfigDict(extra="forbid")
    sender: str = Field(pattern=NODE_ID_PATTERN)
    after: int = Field(default=0, ge=0, le=MAX_SAFE_INTEGER)
    limit: int = Field(default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)


@dataclass(frozen=True)
class FeedPage:
    """One page of a sender's log."""

    texts: list[str]
    through: int
    next_after: int | None

    def json_text(self) -> str:
        """The page as JSON text, the stored envelopes embedded as they are."""
        following = "null" if self.next_after is None else str(self.next_after)
        return (
            '{"envelopes":[' + ",".join(self.texts) + f'],"through":{self.through},'
            f'"next_after":{following}}}'
        )


def read_page(db: Session, query: FeedQuery) -> FeedPage:
    """The envelopes of `query.sender` after `query.after`, ascending, at most `query.limit`."""
    rows = db.execute(
        select(Envelope.seq, Envelope.raw)
        .where(Envelope.sender == query.sender, Envelope.seq > query.after)
        .order_by(Envelope.seq)
        .limit(query.limit)
    ).all()
    through = db.scalar(select(func.max(Envelope.seq)).where(Envelope.sender == query.sender)) or 0
    last = rows[-1][0] if rows else None
    more = last is not None and len(rows) == query.limit and last < through
    return FeedPage([row[1] for row in rows], int(through), int(last) if more and last else None)
