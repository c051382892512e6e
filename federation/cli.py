"""`mutualaid` commands for federating: this node's fingerprint, peers, key rotation, catch-up."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import click
from sqlalchemy import select

from node.cli import NodeContext, cli, pass_node


def _problem(exc: Any) -> click.ClickException:
    fields = "; ".join(f"{e.field}: {e.reason}" for e in getattr(exc, "errors", []))
    return click.ClickException(f"{exc.detail}" + (f" ({fields})" if fields else ""))


@cli.command()
@pass_node
def fingerprint(node: NodeContext) -> None:
    """Print this node's id and key fingerprint, to give out of band to nodes that add it."""
    from federation.identity import local_identity
    from federation.keys import fingerprint as fingerprint_of

    identity = local_identity(node.app)
    click.echo(f"node id:     {identity.node_id}")
    click.echo(f"fingerprint: {fingerprint_of(identity.public_key)}")
    click.echo(f"public key:  {identity.public_key}")


@cli.group()
def peer() -> None:
    """Add, block and unblock the nodes this node federates with."""


@peer.command("add")
@click.argument("url")
@click.option("--fingerprint", "given", required=True,
              help="The key fingerprint the other node's operator told you (`mutualaid fingerprint`).")
@click.option("--relation", type=click.Choice(["peer", "federation", "member"]), default="peer",
              show_default=True, help="peer: a neighbour; federation: one this node joins; member: "
              "a node joining this federation.")
@pass_node
def peer_add(node: NodeContext, url: str, given: str, relation: str) -> None:
    """Add the node at URL once its key matches the fingerprint given out of band."""
    from federation.models import Relation
    from federation.peers import add_peer
    from node.db import session_scope
    from node.errors import Problem

    app = node.app
    try:
        with app.app_context(), session_scope(app) as db:
            added = add_peer(db, app, url, given, Relation(relation))
            name, peer_id = added.name, added.id
    except Problem as exc:
        raise _problem(exc) from None
    click.echo(f"Added {name!r} ({peer_id}) as {relation}.")


def _set_status(node: NodeContext, peer_id: str, blocked: bool) -> None:
    from federation.models import PeerStatus
    from federation.peers import set_status
    from node.db import session_scope
    from node.errors import Problem

    try:
        with session_scope(node.app) as db:
            set_status(db, peer_id, PeerStatus.BLOCKED if blocked else PeerStatus.ALLOWED)
    except Problem as exc:
        raise _problem(exc) from None
    click.echo(f"{peer_id} is {'blocked' if blocked else 'allowed'}.")


@peer.command("block")
@click.argument("peer_id")
@pass_node
def peer_block(node: NodeContext, peer_id: str) -> None:
    """Block a node: nothing is sent to it and nothing it sends is accepted."""
    _set_status(node, peer_id, blocked=True)


@peer.command("unblock")
@click.argument("peer_id")
@pass_node
def peer_unblock(node: NodeContext, peer_id: str) -> None:
    """Allow a blocked node again."""
    _set_status(node, peer_id, blocked=False)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@pass_node
def peers(node: NodeContext, as_json: bool) -> None:
    """List known nodes with delivery health, lag and last success."""
    import json

    from federation.models import Peer
    from federation.peers import describe
    from node.db import session_scope

    app = node.app
    with session_scope(app) as db:
        items = describe(db, app, list(db.scalars(select(Peer).order_by(Peer.relation, Peer.id))))
    if as_json:
        click.echo(json.dumps(items, indent=2))
        return
    if not items:
        click.echo("No peers yet: add one with `mutualaid peer add URL --fingerprint ...`.")
        return
    header = f"{'node':38} {'name':20} {'relation':11} {'health':12} {'pending':>7} {'oldest':>8}"
    click.echo(header + "  last success")
    for item in items:
        age = item["oldest_pending_age"]
        click.echo(
            f"{item['id']:38} {item['name'][:20]:20} {item['relation']:11} {item['health']:12} "
            f"{item['pending']:>7} {_age(age):>8}  {(item['last_success_at'] or 'never')[:19]}"
        )


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit}"
    return f"{seconds:.0f}s"


@cli.command("rotate-key")
@click.option("--overlap-days", type=float, default=None,
              help="How long the old key still verifies (default: the feed retention, 90 days; "
              "use a short time such as 0.1 if the old key leaked).")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_node
def rotate_key(node: NodeContext, overlap_days: float | None, yes: bool) -> None:
    """Replace the node key; peers learn the new one from a message the old one signs."""
    from federation.rotation import rotate_key as rotate

    app = node.app
    days = overlap_days if overlap_days is not None else app.config["MUTUALAID"].feed_retention_days
    if not yes:
        click.confirm(f"Replace this node's key? The old key stays valid for {days:g} days.", abort=True)
    try:
        done = rotate(app, timedelta(days=days))
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"New key fingerprint: {done.fingerprint}")
    click.echo(f"The old key verifies until {done.old_valid_until:%Y-%m-%d %H:%M} UTC.")
    click.echo(f"Announced in envelope {done.envelope_id}; restart the workers within that time.")


@cli.command("catch-up")
@click.argument("senders", nargs=-1)
@click.option("--all", "everything", is_flag=True,
              help="Pull every direct peer, not only senders with a known gap (after downtime).")
@pass_node
def catch_up(node: NodeContext, senders: tuple[str, ...], everything: bool) -> None:
    """Pull what this node missed from peers' feeds, with a progress bar and a summary."""
    from federation import catchup

    app = node.app
    with click.progressbar(length=1, label="Catching up", show_pos=True) as bar:
        state = {"base": 0, "last": 0, "expected": 0}

        def progress(done: int, expected: int) -> None:
            # Called per sender with counts that restart at 0 for the next sender.
            if done < state["last"]:
                state["base"] += state["expected"]
            state["last"], state["expected"] = done, max(expected, done)
            bar.length = max(bar.length or 1, state["base"] + state["expected"])
            bar.update(state["base"] + done - bar.pos)

        if senders:
            results = [catchup.pull(app, sender, progress=progress) for sender in senders]
        elif everything:
            results = catchup.pull_all(app, progress)
        else:
            results = catchup.pull_gaps(app, progress)
    _summary(results)


def _summary(results: list[Any]) -> None:
    if not results:
        click.echo("Nothing to catch up: no sender with a known gap (use --all after downtime).")
        return
    incomplete = 0
    for result in results:
        rejected = ", ".join(f"{n} {reason}" for reason, n in sorted(result.rejected.items())) or "none"
        state = "complete" if result.complete else f"INCOMPLETE (have 1..{result.contiguous_after} " \
                                                   f"of {result.highest})"
        incomplete += not result.complete
        click.echo(f"{result.sender}: from {result.source or 'nowhere'}: fetched {result.fetched}, "
                   f"applied {result.accepted}, already had {result.duplicates}, refused {rejected}; {state}")
        for error in result.errors:
            click.echo(f"  error: {error}", err=True)
    if incomplete:
        raise click.ClickException(f"{incomplete} sender(s) still have gaps; the sweep will try again")


from federation import incident_cli as _incident_cli  # noqa: E402, F401  (incident and bundle commands)
