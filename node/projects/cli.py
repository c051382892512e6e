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
    from node.projects.periodic import queue_due, send_due

    run = queue_due(app)
    click.echo(f"Queued {run.reminders} reminders; created {run.created} coming shifts.")
    report = send_due(app)
    if report is None:
        click.echo("No SMTP server is set (MUTUALAID_SMTP_HOST): mail waits in the database.")
        return
    click.echo(f"Sent {report.sent} notifications ({report.digests} digests); "
               f"{report.retrying} to retry, {report.failed} failed.")
