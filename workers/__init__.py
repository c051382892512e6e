"""The Celery app and its thin tasks, each calling a plain function of another package."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask

from node.settings import Settings
from node.signals import node_initialised

log = logging.getLogger(__name__)


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

    try:
        declare_queue(settings)
    except Exception as exc:  # a broker that is down must not stop set-up or migrations
        log.warning("the broker did not answer (%s); its queue is made when first used",
                    type(exc).__name__)
