"""The projects part of the JSON API: one blueprint per area, each with its own tag."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register every blueprint of the projects area."""
    from node.projects import hooks
    from node.projects.api import (
        library,
        notifications,
        projects,
        records,
        shifts,
        stories,
        surveys,
        uploads,
    )

    hooks.connect()
    for module in (projects, shifts, library, records, stories, surveys, uploads, notifications):
        app.register_blueprint(module.bp)
