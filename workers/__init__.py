"""The Celery app and its thin tasks, each calling a plain function of another package."""

from __future__ import annotations

from typing import Any

from flask import Flask

from node.settings import Settings
from node.signals import node_initialised


def init_app(app: Flask) -> None:
    """Let the node wake drainers through Celery after each commit.

    Test apps without an explicit broker keep the no-op waker: they drain by calling the
    plain functions, and no broker file is made for every test.
    """
    settings: Settings = app.config["MUTUALAID"]
    if settings.env == "testing" and not settings.broker_url:
        return
    from federation.wake import install
    from workers.celery_app import CeleryWaker

    install(app, CeleryWaker(app))


@node_initialised.connect
def _declare_queue(app: Flask, **_: Any) -> None:
    # kombu's SQL transport creates a queue's row on first use, guarded by a lock of one process
    # only: a web process and the worker first using it at once could both insert it, and one
    # would fail. Made here, when the instance is set up or migrated, it always exists first.
    settings: Settings = app.config["MUTUALAID"]
    if "workers" not in settings.extensions or not settings.celery_broker_url.startswith("sqla+"):
        return
    if settings.env == "testing" and not settings.broker_url:
        return  # test apps without a broker never use one (init_app)
    from workers.celery_app import declare_queue

    declare_queue(settings)
