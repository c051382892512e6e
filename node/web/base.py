"""The parent blueprint of every web page, and the helpers its views share."""

from __future__ import annotations

from typing import Any, NoReturn
from urllib.parse import urlsplit

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from werkzeug.exceptions import RequestEntityTooLarge

from node.db import get_session
from node.errors import Problem, Unauthenticated
from node.members.auth import current_member
from node.members.models import Member
from node.members.service import is_steward
from node.settings import Settings
from node.web import csrf, i18n
from node.web.extend import menu
from node.web.forms import problem_message

web = Blueprint("web", __name__)
web.before_request(i18n.remember_language)
web.before_request(csrf.protect)


def settings() -> Settings:
    """The node's settings."""
    value: Settings = current_app.config["MUTUALAID"]
    return value


def page_member() -> Member:
    """The logged-in member, or a redirect to the login page that comes back here."""
    member = current_member()
    if member is None:
        abort(redirect(url_for("web.account.login", next=request.full_path.rstrip("?"))))
    return member


def safe_next(target: str | None, fallback: str) -> str:
    """A local path to go to after logging in; anything pointing elsewhere becomes `fallback`."""
    if not target:
        return fallback
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return fallback
    return target


def render(template: str, status: int = 200, **context: Any) -> Response:
    """Render a page with what every page needs in its layout."""
    html = render_template(template, **context)
    return Response(html, status=status, mimetype="text/html")


def done(message: str, endpoint: str, **values: Any) -> Response:
    """Say what happened on the next page (post, redirect, get)."""
    flash(message, "done")
    return redirect(url_for(endpoint, **values), code=303)  # type: ignore[return-value]


def fail_page(message: str, status: int) -> Response:
    """An error page in plain words."""
    return render("error.html", status=status, message=message)


def layout_context() -> dict[str, Any]:
    """What the layout of every page needs: who is logged in, the node's name, the menu."""
    member = current_member()
    return {
        "member": member,
        "node_name": settings().node_name,
        "languages": i18n.language_names(),
        "steward": member is not None and is_steward(get_session(), member),
        "more_areas": menu() if member is not None else [],
    }


def problem_page(problem: Problem) -> Response:
    """A service's refusal as a page in plain words (or the login page when not logged in)."""
    if isinstance(problem, Unauthenticated):
        return redirect(url_for("web.account.login", next=request.full_path.rstrip("?")))  # type: ignore[return-value]
    # The service's own reasons (in English) say which rule was in the way.
    details = [error.reason for error in problem.errors] or (
        [problem.detail] if problem.status == 409 else []
    )
    return render("error.html", status=problem.status, message=problem_message(problem), details=details)


def csrf_page(_exc: csrf.CsrfRefused) -> Response:
    """The page for a form that came without this session's token."""
    message = gettext(
        "This form was open too long or came from another site. Go back, reload the page and try again."
    )
    return fail_page(message, 400)


def too_large_page(_exc: RequestEntityTooLarge) -> Response:
    """The page for a form, or a file sent with one, over the node's request size limit."""
    message = gettext("What you sent is too large for this node. Send a smaller file or a shorter text.")
    return fail_page(message, 413)


def stop(message: str, status: int) -> NoReturn:
    """End the request with an error page."""
    abort(fail_page(message, status))


web.context_processor(layout_context)
web.register_error_handler(Problem, problem_page)
web.register_error_handler(csrf.CsrfRefused, csrf_page)
web.register_error_handler(RequestEntityTooLarge, too_large_page)
