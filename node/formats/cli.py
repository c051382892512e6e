"""The `mutualaid import-csv` and `mutualaid export` commands."""

from __future__ import annotations

import sys
from typing import IO, TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from node.cli import NodeContext


@click.command("import-csv")
@click.argument("file", type=click.File("rb"))
@click.option("--member", "handle", required=True, help="Handle of the member the rows belong to.")
@click.option("--kind", type=click.Choice(["need", "offer"]), default=None,
              help="Kind of the rows, for a file with no kind column.")
@click.option("--dry-run", is_flag=True, help="Check every row and write nothing.")
@click.pass_obj
def import_csv_command(
    node: NodeContext, file: IO[bytes], handle: str, kind: str | None, dry_run: bool
) -> None:
    """Import needs and offers from a spreadsheet's CSV file (columns: docs/formats.md).

    Good rows are written, each bad row is reported with its reasons and nothing of it is
    written; the command exits with status 1 when any row was rejected.
    """
    from sqlalchemy import select

    from node.db import session_scope
    from node.errors import Problem
    from node.formats.csvio import import_table, read_table
    from node.members.models import Member
    from node.resources.models import ListingKind

    app = node.app
    default_kind = ListingKind(kind) if kind else None
    try:
        table = read_table(file.read(), default_kind)
    except Problem as problem:
        raise click.ClickException(problem_text(problem)) from None
    with session_scope(app) as db:
        member = db.scalar(select(Member).where(Member.handle == handle))
        if member is None:
            raise click.ClickException(f"no member with the handle '{handle}'")
        with click.progressbar(length=len(table.rows), label="Importing rows", file=sys.stderr) as bar:
            report = import_table(db, app.config["MUTUALAID"], member, table, default_kind=default_kind,
                                  dry_run=dry_run, progress=bar.update)
    for line in summary_lines(report.as_dict(), handle):
        click.echo(line)
    if report.errors:
        raise click.exceptions.Exit(1)


def summary_lines(report: dict[str, Any], handle: str) -> list[str]:
    """An honest account of an import: what was written, what was not and why."""
    imported, rows, rejected = report["imported"], report["rows"], report["rejected"]
    if report["dry_run"]:
        lines = [f"Dry run: {imported} of {rows} rows would be imported for {handle}; nothing was written."]
    else:
        lines = [f"Imported {imported} of {rows} rows as {handle}'s needs and offers."]
    if rejected:
        lines.append(f"Rejected {rejected} rows (nothing of them was written):")
        lines.extend(f"  row {e['row']}, {e['field']}: {e['reason']}" for e in report["errors"])
    else:
        lines.append("Rejected 0 rows.")
    return lines


@click.command("export")
@click.option("--format", "fmt", type=click.Choice(["hxl", "csv", "jsonld", "summary"]), default="hxl",
              show_default=True, help="HXL, plain CSV, ValueFlows JSON-LD, or an HXL summary per area.")
@click.option("--kind", type=click.Choice(["needs", "offers", "listings"]), default="listings",
              show_default=True, help="Which open listings to export.")
@click.option("--output", "-o", type=click.File("w", encoding="utf-8"), default="-",
              help="File to write (default: standard output).")
@click.pass_obj
def export_command(node: NodeContext, fmt: str, kind: str, output: IO[str]) -> None:
    """Export the node's open needs and offers."""
    from node.db import session_scope
    from node.formats.exports import FORMATS, export

    app = node.app
    with session_scope(app) as db:
        text, count = export(db, app.config["MUTUALAID"], "listings" if fmt == "summary" else kind, fmt)
    output.write(text)
    click.echo(f"Exported {count} open {kind if fmt != 'summary' else 'listings'} as {FORMATS[fmt].label}.",
               err=True)


def problem_text(problem: Any) -> str:
    """A problem and each field's reason, on separate lines."""
    lines = [problem.detail] + [f"  {e.field}: {e.reason}" for e in problem.errors]
    return "\n".join(lines)
