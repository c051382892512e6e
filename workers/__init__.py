"""The Celery app and its thin tasks, each calling a plain function of another package."""

from __future__ import annotations

from flask import Flask

from node.settings import Settings


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
