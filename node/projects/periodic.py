"""The projects' periodic work, run by `mutualaid notify` and by the worker's timer alike:
queue due reminders (shifts, holds ready, overdue items), create coming shifts, send mail."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask

from node.db import session_scope
from node.projects.mail import SendReport, SmtpMailer, send_pending
from node.projects.reminders import queue_reminders
from node.projects.shifts import extend_all_series


@dataclass
class ReminderRun:
    """What one run of `queue_due` did."""

    reminders: int = 0
    created: int = 0


def queue_due(app: Flask) -> ReminderRun:
    """Queue every reminder that is due and create the coming shifts of weekly series.

    Safe to run twice, or in two processes at once: each reminder has a dedupe key and each
    series creates a week only once."""
    settings = app.config["MUTUALAID"]
    with session_scope(app) as db:
        reminders = queue_reminders(db, settings)
        created = extend_all_series(db, settings)
    return ReminderRun(reminders, created)


def send_due(app: Flask) -> SendReport | None:
    """Send pending notifications and due daily digests; None when no SMTP server is set
    (mail then waits in the database)."""
    settings = app.config["MUTUALAID"]
    if not settings.smtp_host:
        return None
    with session_scope(app) as db:
        return send_pending(db, SmtpMailer(settings))
