"""Sending the notification outbox by email (SMTP), with a daily digest for those who chose it.

`send_pending` runs outside any request (the `mutualaid notify` command, later a Celery task).
It claims each row and commits before talking to the mail server, and records the result
right after, so a crash can at worst send one message twice, never lose one. Each message has a
Message-ID made from its row id, so a mail client shows such a repeat as the same message.
"""

from __future__ import annotations

import logging
import smtplib
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from node.db import utcnow
from node.members.models import Member
from node.projects.models import Delivery, Notification, NotificationPrefs, NotificationStatus
from node.settings import Settings

log = logging.getLogger(__name__)
# A row claimed this long ago by a sender that never finished is offered again.
CLAIM_LEASE = timedelta(minutes=10)
BATCH = 500
BACKOFF_BASE = timedelta(minutes=2)
BACKOFF_MAX = timedelta(hours=6)


class Mailer(Protocol):
    """Something that sends email messages; the node's settings say from whom."""

    settings: Settings

    def send(self, message: EmailMessage) -> None: ...

    def close(self) -> None: ...


class SmtpMailer:
    """Sends through the SMTP server in the settings, reusing one connection per run."""

    def __init__(self, settings: Settings) -> None:
        if not settings.smtp_host:
            raise ValueError("no SMTP server is configured (set MUTUALAID_SMTP_HOST)")
        self.settings = settings
        self._conn: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        host = s.smtp_host or ""
        conn: smtplib.SMTP
        if s.smtp_security == "ssl":
            conn = smtplib.SMTP_SSL(host, s.smtp_port, timeout=s.smtp_timeout)
        else:
            conn = smtplib.SMTP(host, s.smtp_port, timeout=s.smtp_timeout)
            if s.smtp_security == "starttls":
                conn.starttls()
        if s.smtp_username:
            conn.login(s.smtp_username, s.smtp_password or "")
        return conn

    def send(self, message: EmailMessage) -> None:
        """Send one message, reconnecting once if the server dropped the connection."""
        if self._conn is None:
            self._conn = self._connect()
        try:
            self._conn.send_message(message)
        except smtplib.SMTPServerDisconnected:
            self._conn = self._connect()
            self._conn.send_message(message)

    def close(self) -> None:
        """End the connection, if one is open."""
        if self._conn is not None:
            try:
                self._conn.quit()
            except smtplib.SMTPException:
                pass
            except OSError:
                pass
            self._conn = None


@dataclass
class SendReport:
    """What one run of `send_pending` did."""

    sent: int = 0
    failed: int = 0
    retrying: int = 0
    digests: int = 0


def send_pending(db: Session, mailer: Mailer, now: datetime | None = None) -> SendReport:
    """Send due instant notifications and due daily digests; commits after every step."""
    now = now or utcnow()
    report = SendReport()
    _release_stale(db, now)
    try:
        for row_id in _claim(db, now):
            _send_one(db, mailer, row_id, now, report)
        for member_id in _digest_members(db, mailer.settings, now):
            _send_digest(db, mailer, member_id, now, report)
    finally:
        mailer.close()
    return report


def _release_stale(db: Session, now: datetime) -> None:
    db.execute(
        update(Notification)
        .where(Notification.status == NotificationStatus.SENDING, Notification.claimed_at < now - CLAIM_LEASE)
        .values(status=NotificationStatus.PENDING)
    )
    db.commit()


def _claim(db: Session, now: datetime) -> list[uuid.UUID]:
    """Mark due instant rows as being sent, so a second sender running at once skips them."""
    stmt = (
        select(Notification.id)
        .where(Notification.status == NotificationStatus.PENDING,
               Notification.delivery == Delivery.INSTANT, Notification.next_attempt_at <= now)
        .order_by(Notification.created_at, Notification.id)
        .limit(BATCH)
        .with_for_update(skip_locked=True)
    )
    ids = list(db.scalars(stmt))
    if ids:
        db.execute(update(Notification).where(Notification.id.in_(ids))
                   .values(status=NotificationStatus.SENDING, claimed_at=now))
    db.commit()
    return ids


def _send_one(db: Session, mailer: Mailer, row_id: uuid.UUID, now: datetime, report: SendReport) -> None:
    row = db.get(Notification, row_id)
    member = db.get(Member, row.member_id) if row else None
    if row is None or member is None:
        db.commit()
        return
    message = _message(mailer.settings, member, row.subject, row.body, f"{row.id}")
    try:
        mailer.send(message)
    except (smtplib.SMTPException, OSError) as exc:
        _failed([row], mailer.settings, now, exc, report)
    else:
        row.status = NotificationStatus.SENT
        row.sent_at = now
        report.sent += 1
    db.commit()


def _failed(rows: list[Notification], settings: Settings, now: datetime, exc: Exception,
            report: SendReport) -> None:
    for row in rows:
        row.attempts += 1
        row.last_error = f"{type(exc).__name__}: {exc}"[:300]
        if row.attempts >= settings.notify_max_attempts:
            row.status = NotificationStatus.FAILED
            report.failed += 1
            log.warning("notification %s failed for good: %s", row.id, row.last_error)
        else:
            row.status = NotificationStatus.PENDING
            row.next_attempt_at = now + min(BACKOFF_MAX, BACKOFF_BASE * 2 ** (row.attempts - 1))
            report.retrying += 1


def _digest_members(db: Session, settings: Settings, now: datetime) -> list[uuid.UUID]:
    """Members with digest rows waiting whose daily digest is due now."""
    waiting = set(db.scalars(
        select(Notification.member_id).where(
            Notification.status == NotificationStatus.PENDING,
            Notification.delivery == Delivery.DIGEST, Notification.next_attempt_at <= now,
        ).distinct()
    ))
    local = now.astimezone(ZoneInfo(settings.time_zone))
    if local.hour < settings.digest_hour:
        return []
    due = []
    for member_id in sorted(waiting):
        prefs = db.get(NotificationPrefs, member_id)
        last = prefs.last_digest_at if prefs else None
        if last is None or last.astimezone(local.tzinfo).date() < local.date():
            due.append(member_id)
    db.commit()
    return due


def _send_digest(
    db: Session, mailer: Mailer, member_id: uuid.UUID, now: datetime, report: SendReport
) -> None:
    rows = list(db.scalars(
        select(Notification).where(
            Notification.member_id == member_id, Notification.status == NotificationStatus.PENDING,
            Notification.delivery == Delivery.DIGEST, Notification.next_attempt_at <= now,
        ).order_by(Notification.created_at, Notification.id).with_for_update(skip_locked=True)
    ))
    member = db.get(Member, member_id)
    if not rows or member is None:
        db.commit()
        return
    for row in rows:
        row.status = NotificationStatus.SENDING
        row.claimed_at = now
    db.commit()
    body = "\n\n".join(f"* {row.subject}\n{row.body}" for row in rows)
    message = _message(mailer.settings, member, f"Your daily digest ({len(rows)})", body,
                       f"digest-{rows[0].id}")
    try:
        mailer.send(message)
    except (smtplib.SMTPException, OSError) as exc:
        _failed(rows, mailer.settings, now, exc, report)
    else:
        for row in rows:
            row.status = NotificationStatus.SENT
            row.sent_at = now
        prefs = db.get(NotificationPrefs, member_id)
        if prefs is None:
            prefs = NotificationPrefs(member_id=member_id, choices={})
            db.add(prefs)
        prefs.last_digest_at = now
        report.digests += 1
        report.sent += len(rows)
    db.commit()


def _message(settings: Settings, member: Member, subject: str, body: str, key: str) -> EmailMessage:
    host = settings.public_url.split("//", 1)[-1].split("/", 1)[0].split(":", 1)[0] or "mutualaid"
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = member.email
    message["Subject"] = f"[{settings.node_name}] {subject}"
    message["Message-ID"] = f"<{key}@{host}>"
    message["Date"] = format_datetime(utcnow())
    footer = (f"\n\n--\n{settings.node_name}: you get this because of your notification choices. "
              f"Change them at {settings.public_url.rstrip('/')}/api/v1/me/notifications")
    message.set_content(body + footer)
    return message
