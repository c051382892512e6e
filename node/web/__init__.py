"""The web pages members use on a phone: server-rendered, usable without JavaScript.

Every page lives under the `web` blueprint, which checks the CSRF token of every form, keeps the
chosen language, and turns a service's refusal into a page in plain words. Pages call the
services of each area, never the JSON API.
"""

from __future__ import annotations

from flask import Flask

from node.web import csrf, headers, i18n, labels
from node.web.extend import page_exists


def init_app(app: Flask) -> None:
    """Register languages, security headers and every area's pages."""
    from node.web.site import web

    i18n.init_app(app)
    headers.init_app(app)
    app.jinja_env.filters.update(labels.filters())
    app.jinja_env.globals.update(labels.globals_(), csrf_token=csrf.token, page_exists=page_exists)
    app.register_blueprint(web)
