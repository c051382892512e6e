"""`mutualaid incident ...` and `mutualaid bundle ...`: incidents from the command line, and
offline bundles of envelopes for when the links are down."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click

from node.cli import NodeContext, cli, pass_node


def _fail(exc: Exception) -> click.ClickException:
    fields = "; ".join(f"{e.field}: {e.reason}" for e in getattr(exc, "errors", []))
    detail = getattr(exc, "detail", str(exc))
    return click.ClickException(f"{detail}" + (f" ({fields})" if fields else ""))


@cli.group()
def incident() -> None:
    """Declare, ratify, close and match incidents (a federation node)."""


@incident.command("declare")
@click.option("--kind", required=True, help="e.g. flood, power-cut, storm")
@click.option("--title", required=True)
@click.option("--cell", "cells", multiple=True, required=True, help="An H3 cell of the area (repeat).")
@click.option("--hours", type=click.IntRange(1, 24 * 90), default=72, show_default=True,
              help="How long from now the incident lasts.")
@click.option("--decision", help="The council decision (proposal id) that declares it.")
@click.option("--emergency", is_flag=True, help="Declare now under the emergency rule; the council "
              "must ratify it before the deadline or it lapses.")
@click.option("--by", "handle", help="With --emergency: the handle of the rapid-response team member "
              "who declares it.")
@pass_node
def incident_declare(node: NodeContext, kind: str, title: str, cells: tuple[str, ...], hours: int,
                     decision: str | None, emergency: bool, handle: str | None) -> None:
    """Declare an incident over an area of H3 cells within the federation's."""
    from sqlalchemy import select

    from federation import incidents
    from node.db import session_scope
    from node.errors import Problem
    from node.members.models import Member

    start = datetime.now(UTC)
    try:
        with node.app.app_context(), session_scope(node.app) as db:
            by = db.scalar(select(Member).where(Member.handle == handle)) if handle else None
            row = incidents.declare(db, node.app, kind=kind, title=title, cells=list(cells), starts=start,
                                    ends=start + timedelta(hours=hours), decision=decision,
                                    emergency=emergency, by=by)
            shown = incidents.as_dict(row)
    except Problem as exc:
        raise _fail(exc) from None
    click.echo(f"Declared incident {shown['id']} ({shown['state']}).")


@incident.command("match")
@click.argument("incident_id", type=click.UUID)
@pass_node
def incident_match(node: NodeContext, incident_id: uuid.UUID) -> None:
    """Match the incident's needs and surpluses and offer the pledges to the owning nodes."""
    from federation import incidents
    from node.db import session_scope
    from node.errors import Problem

    try:
        with node.app.app_context(), session_scope(node.app) as db:
            proposals = incidents.match_incident(db, node.app, incident_id)
    except Problem as exc:
        raise _fail(exc) from None
    click.echo(f"Offered {len(proposals)} pledge(s) to the owning nodes.")


@incident.command("situation")
@click.argument("incident_id", type=click.UUID)
@pass_node
def incident_situation(node: NodeContext, incident_id: uuid.UUID) -> None:
    """Print the incident's situation as JSON."""
    from federation.situation import situation
    from node.db import session_scope
    from node.errors import Problem

    try:
        with node.app.app_context(), session_scope(node.app) as db:
            click.echo(json.dumps(situation(db, node.app, incident_id), indent=2))
    except Problem as exc:
        raise _fail(exc) from None


@cli.group()
def bundle() -> None:
    """Carry envelopes between nodes on a file when the links are down."""


@bundle.command("export")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--since", type=click.IntRange(0), default=0, show_default=True,
              help="Only this node's envelopes after this seq.")
@click.option("--all", "everything", is_flag=True, help="Also the other nodes' envelopes this node holds.")
@pass_node
def bundle_export(node: NodeContext, path: Path, since: int, everything: bool) -> None:
    """Write a signed bundle of envelopes to PATH."""
    from federation.bundle import export

    with node.app.app_context():
        count = export(node.app, path, since, everything)
    click.echo(f"Wrote {count} envelope(s) to {path}.")


@bundle.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@pass_node
def bundle_import(node: NodeContext, path: Path) -> None:
    """Apply a bundle's envelopes with the same checks as the inbox, and summarise."""
    from federation.bundle import import_bundle

    total = max(0, len(path.read_text(encoding="utf-8").splitlines()) - 1)
    with node.app.app_context(), click.progressbar(length=total, label="Importing", file=None) as bar:
        summary = import_bundle(node.app, path, progress=bar.update)
    counts = ", ".join(f"{n} {status}" for status, n in sorted(summary.statuses.items())) or "nothing"
    click.echo(f"Manifest: {summary.manifest}. {summary.total} envelope(s): {counts}.")
    for result in summary.refused:
        click.echo(f"  refused {result.id or '?'}: {result.reason}: {result.detail or ''}")
