"""Everything between nodes: identity, envelopes, peers, outbox, inbox, catch-up and relay."""

from __future__ import annotations

from typing import Any

from flask import Flask

from node.signals import node_initialised


def init_app(app: Flask) -> None:
    """Plug the federation endpoints and outbox hooks into a node app."""
    from federation import metrics, models  # noqa: F401  (models registers the tables)

    metrics.init_app(app)
    _init_protocol(app)
    from federation import incident_api  # incidents, their matching and situation

    incident_api.init_app(app)


def _init_protocol(app: Flask) -> None:
    # The inbox, feed, node document and peers API; listing changes announced to peers.
    from federation import api, apply, listings, pages, views  # noqa: F401  (apply registers the types)

    app.register_blueprint(views.bp)
    app.register_blueprint(api.bp)
    listings.init_app(app)
    pages.init_app(app)


@node_initialised.connect
def _make_identity(app: Flask, **_: Any) -> None:
    # The node key and id are made when the instance is set up, never on a request.
    if "federation" in app.config["MUTUALAID"].extensions:
        from federation.identity import ensure_identity

        ensure_identity(app)
