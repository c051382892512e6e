"""How other packages (delegates, federation) add pages without `node` importing them.

A package makes its blueprint with `pages_blueprint`, which gives it what every page of the
node has (CSRF checks, the chosen language, refusals shown as pages, the layout's context), and
names it in the main menu with `add_to_menu` from its own `init_app`.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, current_app, url_for

from node.errors import Problem
from node.web import csrf, i18n

# Names of every blueprint that serves pages: the `web` one and those made here.
PAGE_BLUEPRINTS: set[str] = {"web"}
MENU = "web_menu"


def pages_blueprint(name: str, import_name: str) -> Blueprint:
    """A blueprint whose views are pages like the node's own."""
    from werkzeug.exceptions import RequestEntityTooLarge

    from node.web.base import csrf_page, layout_context, problem_page, too_large_page

    bp = Blueprint(name, import_name)
    bp.before_request(i18n.remember_language)
    bp.before_request(csrf.protect)
    bp.context_processor(layout_context)
    bp.register_error_handler(Problem, problem_page)
    bp.register_error_handler(csrf.CsrfRefused, csrf_page)
    bp.register_error_handler(RequestEntityTooLarge, too_large_page)
    PAGE_BLUEPRINTS.add(name)
    return bp


def add_to_menu(app: Flask, label: Any, endpoint: str, prefixes: tuple[str, ...]) -> None:
    """Show a link in the main menu; `label` is a lazy translation, `prefixes` mark it current."""
    app.extensions.setdefault(MENU, []).append((label, endpoint, prefixes))


def menu() -> list[dict[str, Any]]:
    """The extra menu links of the running app."""
    return [
        {"label": str(label), "url": url_for(endpoint), "prefixes": prefixes}
        for label, endpoint, prefixes in current_app.extensions.get(MENU, [])
    ]


def page_exists(endpoint: str) -> bool:
    """Whether a page is served, so that a template links to another package's page only then."""
    return endpoint in current_app.view_functions
