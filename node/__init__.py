"""A mutualaid neighbourhood node: the Flask application factory."""

from __future__ import annotations

import importlib
import logging
from typing import Any

from flask import Flask

from node.settings import Settings, load_settings

log = logging.getLogger(__name__)


def create_app(config: Settings | dict[str, Any] | None = None) -> Flask:
    """Build a node app from explicit settings, the environment and the instance folder."""
    settings = load_settings(config)
    settings.instance_path.mkdir(parents=True, exist_ok=True)
    app = Flask(__name__, instance_path=str(settings.instance_path), instance_relative_config=True)
    app.config.update(
        MUTUALAID=settings,
        SECRET_KEY=settings.resolve_secret(),
        MAX_CONTENT_LENGTH=settings.max_request_bytes,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        SESSION_COOKIE_NAME="__Host-session" if settings.secure_cookies else "session",
        TESTING=settings.env == "testing",
        JSON_SORT_KEYS=False,
    )
    _init_parts(app)
    for name in settings.extensions:
        # Other packages plug in here so that `node` never imports them by name.
        importlib.import_module(name).init_app(app)
    return app


def _init_parts(app: Flask) -> None:
    from node import db, errors, health, limits, observability
    from node.api import openapi
    from node.assemblies import api as assemblies_api
    from node.formats import api as formats_api
    from node.members import api as members_api
    from node.projects import api as projects_api
    from node.resources import api as resources_api
    from node.web import init_app as init_web

    settings: Settings = app.config["MUTUALAID"]
    observability.init_app(app)
    db.init_app(app, settings.sqlalchemy_url)
    errors.init_app(app)
    limits.init_app(app)
    app.register_blueprint(health.bp)
    app.register_blueprint(openapi.bp)
    app.register_blueprint(members_api.bp)
    app.register_blueprint(resources_api.bp)
    app.register_blueprint(formats_api.bp)
    projects_api.init_app(app)
    app.register_blueprint(assemblies_api.bp)
    init_web(app)
