"""`mutualaid worker`: the Celery worker that delivers the node's outbox."""

from __future__ import annotations

from pathlib import Path

import click

from node.cli import NodeContext, cli, pass_node


@cli.command()
@click.option("--concurrency", type=int, default=None,
              help="Deliveries in parallel (threads; default the worker_concurrency setting).")
@click.option("--beat/--no-beat", default=True, show_default=True,
              help="Also run the timer of the periodic tasks: the sweep, reminders and mail, "
                   "and closing what is due in assemblies (one per node is enough; more do no harm).")
@click.option("--loglevel", default="INFO", show_default=True, help="Celery's log level.")
@pass_node
def worker(node: NodeContext, concurrency: int | None, beat: bool, loglevel: str) -> None:
    """Run a worker that drains the outbox to peers, with the timer of the periodic tasks embedded."""
    from workers.celery_app import make_celery

    app = node.app
    settings = app.config["MUTUALAID"]
    celery = make_celery(app)
    argv = [
        "worker",
        "--pool=threads",  # deliveries wait on the network, not the CPU
        f"--concurrency={concurrency or settings.worker_concurrency}",
        f"--loglevel={loglevel}",
        f"--queues={settings.celery_queue}",
        f"--hostname={settings.celery_queue}@%h",
        "--without-gossip", "--without-mingle", "--without-heartbeat",
    ]
    if beat:
        from celery.beat import EmbeddedService

        # The sweep's timer as a thread of this process: Celery's --beat forks a process that
        # holds a second copy of the app, about 70 MiB of a small node (docs/performance.md).
        schedule = str(Path(settings.instance_path) / "celerybeat-schedule")
        EmbeddedService(celery, thread=True, schedule_filename=schedule).start()
    celery.worker_main(argv)


@cli.command()
@click.option("--loglevel", default="INFO", show_default=True, help="Celery's log level.")
@pass_node
def beat(node: NodeContext, loglevel: str) -> None:
    """Run only the timer of the periodic tasks (for a worker started with --no-beat)."""
    from workers.celery_app import make_celery

    app = node.app
    celery = make_celery(app)
    schedule = Path(app.config["MUTUALAID"].instance_path) / "celerybeat-schedule"
    celery.start(["beat", f"--schedule={schedule}", f"--loglevel={loglevel}"])
