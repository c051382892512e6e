"""The `mutualaid notify` command: reminders, pending mail and daily digests."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from flask import Flask

    from node.cli import NodeContext


@click.command("notify")
@click.pass_obj
def notify_command(node: NodeContext) -> None:
    """Queue due reminders, create coming shifts, and send pending mail and daily digests."""
    from node.db import database

    app = node.app
    try:
        _notify(app)
    finally:
        # The command is often run from cron: leave no connection behind.
        database(app).dispose()


def _notify(app: Flask) -> None:
    from node.db import session_scope
    from node.projects.mail import SmtpMailer, send_pending
    from node.projects.reminders import queue_reminders
    from node.projects.shifts import extend_all_series

    settings = app.config["MUTUALAID"]
    with session_scope(app) as db:
        reminders = queue_reminders(db, settings)
        created = extend_all_series(db, settings)
    click.echo(f"Queued {reminders} reminders; created {created} coming shifts.")
    if not settings.smtp_host:
        click.echo("No SMTP server is set (MUTUALAID_SMTP_HOST): mail waits in the database.")
        return
    with session_scope(app) as db:
        report = send_pending(db, SmtpMailer(settings))
    click.echo(f"Sent {report.sent} notifications ({report.digests} digests); "
               f"{report.retrying} to retry, {report.failed} failed.")
