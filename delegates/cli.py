"""`mutualaid close-due`: apply the clock to assemblies and, at a federation, to the council."""

from __future__ import annotations

import click

from node.cli import NodeContext, cli, pass_node


@cli.command("close-due", short_help="Decide what is due in assemblies and the council.")
@pass_node
def close_due(node: NodeContext) -> None:
    """Decide what is due: open and close assemblies whose time came, decide proposals whose
    closing time passed, and (at a federation) close council proposals and publish their
    signed decisions. Run it from cron or a worker's timer every few minutes."""
    from delegates.due import close_due as run_close_due

    decided, closed = run_close_due(node.app)
    click.echo(f"Decided {decided} assembly proposal(s); closed {closed} council proposal(s).")
