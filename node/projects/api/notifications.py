"""What each member chooses to hear about, and what was sent to them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from node.api.operations import ApiBlueprint
from node.api.paging import Page, PageQuery, page_of, paginate
from node.db import get_session
from node.members.auth import require_member
from node.projects import notifications, schemas
from node.projects.models import Notification

bp = ApiBlueprint("notifications_api", __name__, tag="Notifications")


@bp.operation("/me/notifications", "GET", "What you hear about, and how (off, instant or daily digest)",
              response=schemas.ChoicesOut)
def get_choices() -> Any:
    member = require_member()
    return schemas.ChoicesOut(choices=notifications.choices(get_session(), member.id),
                              kinds=notifications.KINDS)


@bp.operation("/me/notifications", "PATCH", "Choose what you hear about, and how",
              body=schemas.ChoicesIn, response=schemas.ChoicesOut)
def set_choices(body: schemas.ChoicesIn) -> Any:
    db, member = get_session(), require_member()
    sent = body.model_dump(exclude_unset=True)
    changes = {kind: value for kind, value in sent.items() if value is not None}
    chosen = notifications.set_choices(db, member.id, changes)
    db.commit()
    return schemas.ChoicesOut(choices=chosen, kinds=notifications.KINDS)


@bp.operation("/me/notifications/log", "GET", "Notifications recorded for you, newest first",
              query=PageQuery, response=Page[schemas.NotificationOut])
def list_notifications(query: PageQuery) -> Any:
    db, member = get_session(), require_member()
    stmt = select(Notification).where(Notification.member_id == member.id)
    rows, total = paginate(db, stmt.order_by(Notification.created_at.desc(), Notification.id), query)
    return page_of([schemas.NotificationOut.model_validate(r).model_dump(mode="json") for r in rows],
                   total, query)
