"""Mandates: issuing, the signed credential, recall, and checking delegates' acts."""

from flask import Flask


def init_app(app: Flask) -> None:
    """Plug the delegates endpoints, envelope types and assembly hooks into a node app."""
    from delegates import api, hooks, member_data, models, pages, types  # noqa: F401  (they register themselves)

    app.register_blueprint(api.bp)
    pages.init_app(app)
