"""The `mutualaid` command: set up, run and look after a node."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import click
from flask import Flask

from node.formats.cli import export_command, import_csv_command
from node.projects.cli import notify_command
from node.settings import SETTINGS_FILE, ConfigurationError, Settings, load_settings


class NodeContext:
    """The settings given on the command line, and the app built from them on first use."""

    def __init__(self, instance: str | None) -> None:
        self.overrides: dict[str, Any] = {"instance_path": Path(instance)} if instance else {}
        self._app: Flask | None = None

    @property
    def settings(self) -> Settings:
        return load_settings(dict(self.overrides))

    @property
    def app(self) -> Flask:
        if self._app is None:
            from node import create_app

            try:
                self._app = create_app(dict(self.overrides))
            except ConfigurationError as exc:
                raise click.ClickException(str(exc)) from None
        return self._app

    def close(self) -> None:
        """Close the app's database connections (a command run in-process must not leak them)."""
        if self._app is not None:
            self._app.extensions["db"].dispose()


pass_node = click.make_pass_decorator(NodeContext)


@click.group(context_settings={
    "help_option_names": ["-h", "--help"], "terminal_width": 110, "max_content_width": 110,
})
@click.option("--instance", envvar="MUTUALAID_INSTANCE_PATH", metavar="DIR",
              help="The node's instance folder (default ./instance).")
@click.pass_context
def cli(ctx: click.Context, instance: str | None) -> None:
    """Run and look after a mutualaid node."""
    ctx.obj = NodeContext(instance)
    ctx.call_on_close(ctx.obj.close)


@cli.command()
@click.option("--name", default=None, help="The node's name, shown to members and peers.")
@click.option("--public-url", default=None, help="The URL members and peers reach it at.")
@click.option("--join-policy", type=click.Choice(["open", "invite"]), default=None,
              help="Whether anyone may join, or only people with an invitation.")
@pass_node
def init(node: NodeContext, name: str | None, public_url: str | None, join_policy: str | None) -> None:
    """Create the instance folder: settings file, secret, node key and database."""
    path = node.settings.instance_path
    path.mkdir(parents=True, exist_ok=True)
    settings_file = path / SETTINGS_FILE
    if not settings_file.exists():
        values = {"node_name": name, "public_url": public_url, "join_policy": join_policy}
        lines = [f"{key} = {json.dumps(value)}" for key, value in values.items() if value]
        settings_file.write_text("# Settings of this node; MUTUALAID_* variables override them.\n"
                                 + "\n".join(lines) + "\n")
    _migrate(node.app)
    click.echo(f"Node ready in {path}")


def _migrate(app: Flask) -> None:
    """Upgrade the schema, then let every package set up what it needs (keys, categories)."""
    from node import migrate
    from node.db import database, session_scope
    from node.resources.categories import ensure_builtin
    from node.signals import node_initialised

    migrate.upgrade(database(app))
    with session_scope(app) as db:
        ensure_builtin(db, app.config["MUTUALAID"].extra_categories)
    node_initialised.send(app)


@cli.command("migrate")
@pass_node
def migrate_command(node: NodeContext) -> None:
    """Bring the database schema up to date (safe to run again)."""
    _migrate(node.app)
    click.echo("Database is up to date.")


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=5000, show_default=True, help="Port to listen on.")
@pass_node
def run(node: NodeContext, host: str, port: int) -> None:
    """Run the node's web server on embedded defaults (use gunicorn in production)."""
    app = node.app
    _migrate(app)
    click.echo(f"Node '{app.config['MUTUALAID'].node_name}' at http://{host}:{port}/")
    app.run(host=host, port=port, threaded=True, use_reloader=False)


@cli.command("add-member")
@click.argument("handle")
@click.argument("email")
@click.option("--name", "display_name", default=None, help="Display name (default: the handle).")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True,
              help="Their password (asked for when not given).")
@click.option("--steward-days", type=int, default=0,
              help="Also make them a steward for this many days.")
@pass_node
def add_member(node: NodeContext, handle: str, email: str, display_name: str | None,
               password: str, steward_days: int) -> None:
    """Add a member directly, optionally as a steward for a term."""
    from node.db import session_scope
    from node.errors import Problem
    from node.members import service

    app = node.app
    try:
        with session_scope(app) as db:
            member = service.create_member(db, handle, display_name or handle, email, password)
            if steward_days:
                service.grant_steward(db, app.config["MUTUALAID"], None, member.handle,
                                      steward_days, "granted from the command line")
    except Problem as exc:
        raise click.ClickException(_problem_text(exc)) from None
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Added member {handle}" + (f", steward for {steward_days} days" if steward_days else ""))


@cli.command("create-token")
@click.argument("handle")
@click.option("--name", default="command line", show_default=True, help="What the token is for.")
@pass_node
def create_token(node: NodeContext, handle: str, name: str) -> None:
    """Create an API token for a member and print it (it is shown only this once)."""
    from sqlalchemy import select

    from node.db import session_scope
    from node.members import service
    from node.members.models import Member

    with session_scope(node.app) as db:
        member = db.scalar(select(Member).where(Member.handle == handle))
        if member is None:
            raise click.ClickException(f"no member with the handle {handle!r}")
        _, token = service.create_token(db, member, name)
    click.echo(token)


@cli.command()
@click.option("--note", default="", help="A note to remember who it is for.")
@pass_node
def invite(node: NodeContext, note: str) -> None:
    """Create a single-use invitation link and print it."""
    from node.db import session_scope
    from node.members import service

    app = node.app
    settings = app.config["MUTUALAID"]
    with session_scope(app) as db:
        invitation, token = service.create_invitation(db, settings, None, note)
        expires = invitation.expires_at
    click.echo(f"{settings.public_url.rstrip('/')}/join?invitation={token}")
    click.echo(f"(valid until {expires:%Y-%m-%d %H:%M} UTC, for one person)", err=True)


@cli.command("grant-steward")
@click.argument("handle")
@click.option("--days", type=int, required=True, help="Length of the term in days.")
@click.option("--reason", default="granted from the command line", help="Why.")
@pass_node
def grant_steward(node: NodeContext, handle: str, days: int, reason: str) -> None:
    """Make a member a steward for a bounded term."""
    from node.db import session_scope
    from node.errors import Problem
    from node.members import service

    app = node.app
    try:
        with session_scope(app) as db:
            term = service.grant_steward(db, app.config["MUTUALAID"], None, handle, days, reason)
            ends = term.ends_at
    except Problem as exc:
        raise click.ClickException(_problem_text(exc)) from None
    click.echo(f"{handle} is a steward until {ends:%Y-%m-%d}")


@cli.command()
@pass_node
def expire(node: NodeContext) -> None:
    """Mark needs and offers past their expiry as expired."""
    from node.db import session_scope
    from node.resources.service import expire_due

    with session_scope(node.app) as db:
        count = expire_due(db)
    click.echo(f"Expired {count} listings.")


@cli.command("settings")
@pass_node
def show_settings(node: NodeContext) -> None:
    """Print the settings in force (secrets hidden)."""
    data = node.settings.model_dump(mode="json")
    for key in ("secret_key", "smtp_password"):
        if data.get(key):
            data[key] = "(set)"
    for url_key in ("database_url", "broker_url", "redis_url"):
        if data.get(url_key) and "@" in data[url_key]:
            data[url_key] = "(set, contains credentials)"
    click.echo(json.dumps(data, indent=2))


@cli.command("backup")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@pass_node
def backup_command(node: NodeContext, file: Path) -> None:
    """Write the whole node (every table, node key, secret, uploads) to FILE."""
    from node import backup
    from node.db import Database

    settings = node.settings
    if file.exists():
        raise click.ClickException(f"{file} exists; choose a new file name")
    database = Database(settings.sqlalchemy_url)
    try:
        total = sum(backup.count_rows(database).values()) + len(backup.instance_files(settings))
    finally:
        database.dispose()
    with click.progressbar(length=total, label="Backing up") as bar:
        summary = backup.backup(settings, file, bar.update)
    _report(summary, f"Backed up to {file}")
    click.echo("This file holds the node's private key and secret: keep it as safe as the node.")


@cli.command("restore")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace a database that already holds data.")
@pass_node
def restore_command(node: NodeContext, file: Path, force: bool) -> None:
    """Restore a backup FILE into this node (the archive is verified first)."""
    from node import backup

    try:
        archive = backup.Archive(file)
        total = 2 * archive.total
        archive.close()
        with click.progressbar(length=total, label="Restoring") as bar:
            summary = backup.restore(node.settings, file, force=force, progress=bar.update)
    except backup.BackupError as exc:
        raise click.ClickException(str(exc)) from None
    _report(summary, f"Restored from {file}")


def _report(summary: Any, headline: str) -> None:
    tables = sum(1 for rows in summary.tables.values() if rows)
    click.echo(f"{headline} in {summary.seconds:.1f} s: {summary.rows:,} rows from {tables} tables "
               f"({len(summary.tables)} in all), {len(summary.files)} files ({summary.file_bytes:,} bytes).")
    schema = ", ".join(summary.revisions) or "none"
    click.echo(f"Node {summary.node_id or '(no identity yet)'}; schema {schema}.")
    for note in summary.notes:
        click.echo(f"Note: {note}")


@cli.command()
@click.option("--dir", "root", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Keep the region's data in this new folder (default: a temporary one, removed after).")
@click.option("--base-port", type=int, default=5000, show_default=True,
              help="Port of the federation node; neighbourhoods take the next ones (0: any free ports).")
@click.option("--neighbourhoods", type=click.IntRange(1, 12), default=3, show_default=True,
              help="How many neighbourhood nodes to start.")
@click.option("--keep", is_flag=True, help="Keep the temporary folder after stopping.")
def demo(root: Path | None, base_port: int, neighbourhoods: int, keep: bool) -> None:
    """Run a whole region on this machine: a federation and neighbourhood nodes, until Ctrl-C."""
    from node.demo import DemoError, run

    try:
        status = run(root, base_port, neighbourhoods, keep, say=lambda text: click.echo(text))
    except DemoError as exc:
        raise click.ClickException(str(exc)) from None
    raise SystemExit(status)


def _problem_text(problem: Any) -> str:
    fields = "; ".join(f"{e.field}: {e.reason}" for e in problem.errors)
    return f"{problem.detail}" + (f" ({fields})" if fields else "")


def _load_plugin_commands() -> None:
    # Other packages add their commands here, as they add their routes in create_app.
    for name in Settings.model_fields["extensions"].get_default(call_default_factory=True):
        try:
            importlib.import_module(f"{name}.cli")
        except ModuleNotFoundError as exc:
            if exc.name != f"{name}.cli":
                raise


cli.add_command(import_csv_command)
cli.add_command(export_command)
cli.add_command(notify_command)
_load_plugin_commands()


def main() -> None:
    """Entry point of the `mutualaid` console script."""
    cli(prog_name="mutualaid")


if __name__ == "__main__":
    main()
