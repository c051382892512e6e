"""Recording notifications: what members chose to hear about, and the outbox rows to send.

A notification is a row written in the same transaction as the change it tells of, so it is
never sent for a change that was rolled back and never lost for one that was committed. Mail
goes out later, from `node.projects.mail.send_pending`, outside any request.

Other parts of the node (assemblies, for their dates) call `notify` the same way.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from zoneinfo import ZoneInfo

from flask import current_app, has_app_context
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from node.projects.models import Delivery, Notification, NotificationPrefs

# What a member can choose to hear about, and what they get until they choose.
KINDS: dict[str, str] = {
    "match": "Matches for your needs and offers",
    "callout": "Calls for volunteers",
    "shift": "Your shifts and swaps",
    "library": "Tool library: holds ready and items overdue",
    "assembly": "Assembly dates",
    "survey": "Needs surveys",
}
DEFAULTS: dict[str, Delivery] = {
    "match": Delivery.INSTANT,
    "callout": Delivery.DIGEST,
    "shift": Delivery.INSTANT,
    "library": Delivery.INSTANT,
    "assembly": Delivery.DIGEST,
    "survey": Delivery.DIGEST,
}


def choices(db: Session, member_id: uuid.UUID) -> dict[str, Delivery]:
    """The member's choice for every kind, defaults filled in."""
    prefs = db.get(NotificationPrefs, member_id)
    chosen = dict(DEFAULTS)
    if prefs is not None:
        for kind, value in prefs.choices.items():
            if kind in KINDS:
                chosen[kind] = Delivery(value)
    return chosen


def set_choices(db: Session, member_id: uuid.UUID, changes: dict[str, Delivery]) -> dict[str, Delivery]:
    """Change some of the member's choices and return them all."""
    prefs = db.get(NotificationPrefs, member_id)
    if prefs is None:
        prefs = NotificationPrefs(member_id=member_id, choices={})
        db.add(prefs)
    merged = dict(prefs.choices)
    merged.update({kind: value.value for kind, value in changes.items()})
    prefs.choices = merged
    db.flush()
    return choices(db, member_id)


def notify(
    db: Session, member_id: uuid.UUID, kind: str, subject: str, body: str,
    dedupe_key: str | None = None,
) -> Notification | None:
    """Queue a message for one member unless they turned this kind off or it was queued before."""
    if kind not in KINDS:
        raise ValueError(f"unknown notification kind {kind!r}")
    delivery = choices(db, member_id)[kind]
    if delivery == Delivery.OFF:
        return None
    if dedupe_key is not None:
        existing = db.scalar(select(Notification).where(Notification.dedupe_key == dedupe_key))
        if existing is not None:
            return None
    row = Notification(
        member_id=member_id, kind=kind, subject=subject[:200], body=body, delivery=delivery,
        dedupe_key=dedupe_key,
    )
    try:
        # A savepoint: two runs queueing the same reminder at once must not fail the second.
        with db.begin_nested():
            db.add(row)
    except IntegrityError:
        return None
    return row


def notify_many(
    db: Session, member_ids: Iterable[uuid.UUID], kind: str, subject: str, body: str,
    dedupe_prefix: str | None = None,
) -> int:
    """Queue the same message for several members; returns how many were queued."""
    count = 0
    for member_id in sorted(set(member_ids)):
        key = f"{dedupe_prefix}:{member_id}" if dedupe_prefix else None
        if notify(db, member_id, kind, subject, body, key) is not None:
            count += 1
    return count


def local_time(value: datetime, zone_name: str | None = None) -> str:
    """A time as members read it: in the node's time zone, naming the zone."""
    name = zone_name or (current_app.config["MUTUALAID"].time_zone if has_app_context() else "UTC")
    local = value.astimezone(ZoneInfo(name))
    return f"{local:%a %d %b %Y, %H:%M} {local.tzname() or name}"
