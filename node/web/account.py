"""Joining, logging in and out, and a member's own data: profile, password, export, erase."""

from __future__ import annotations

import json
import uuid
from typing import Any

from flask import Blueprint, Response, redirect, request, url_for
from flask_babel import gettext
from flask_limiter import RequestLimit
from sqlalchemy import select

from node.db import get_session
from node.errors import Problem
from node.limits import limiter
from node.members import schemas, service
from node.members.auth import log_in, log_out
from node.members.models import Invitation
from node.web import forms
from node.web.base import done, fail_page, page_member, render, safe_next, settings

bp = Blueprint("account", __name__)
JOIN_FIELDS = ("handle", "display_name", "email", "password", "phone", "invitation")
PROFILE_FIELDS = ("display_name", "email", "phone", "bio", "languages")


def _login_limit() -> str:
    return settings().login_rate_limit


def _too_many(_limit: RequestLimit) -> Response:
    message = gettext("Too many tries. Wait a minute, then try again.")
    return fail_page(message, 429)


login_limit = limiter.limit(_login_limit, methods=["POST"], on_breach=_too_many)


@bp.route("/login", methods=["GET", "POST"])
@login_limit
def login() -> Any:
    """The login form; a wrong email or password says so without telling which."""
    target = safe_next(request.values.get("next"), url_for("web.home.index"))
    if request.method == "GET":
        return render("account/login.html", next=target)
    email = (request.form.get("email") or "").strip()
    member = service.authenticate(get_session(), email, request.form.get("password") or "")
    if member is None:
        message = gettext("Wrong email or password.")
        return render("account/login.html", status=401, next=target, email=email, error=message)
    log_in(member)
    return redirect(target, code=303)


@bp.route("/join", methods=["GET", "POST"])
@login_limit
def join() -> Any:
    """Joining the node, openly or with an invitation link (`/join?invitation=TOKEN`)."""
    invitation = request.values.get("invitation", "")
    context: dict[str, Any] = {"invitation": invitation, "invite_only": settings().join_policy != "open"}
    if request.method == "GET":
        return render("account/join.html", values={}, **context)
    values = forms.text(request.form, *JOIN_FIELDS)
    values["password"] = request.form.get("password") or ""
    try:
        data = forms.parse(schemas.JoinIn, values)
        db = get_session()
        member = service.join(db, settings(), data)
        db.commit()
    except forms.FormErrors as exc:
        return render("account/join.html", status=422, values=values, errors=exc, **context)
    except Problem as exc:
        get_session().rollback()
        return render(
            "account/join.html", status=422, values=values, errors=forms.from_problem(exc), **context
        )
    log_in(member)
    return done(
        gettext("Welcome, %(name)s! You are now a member.", name=member.display_name), "web.home.index"
    )


@bp.post("/logout")
def logout() -> Any:
    """End the login session."""
    log_out()
    return done(gettext("You are logged out."), "web.home.index")


@bp.route("/me", methods=["GET", "POST"])
def me() -> Any:
    """A member's own data: the profile form, and links to export or erase it."""
    member = page_member()
    if request.method == "GET":
        return render("account/me.html", values={})
    values = {name: (request.form.get(name) or "").strip() for name in PROFILE_FIELDS}
    if not values["phone"]:
        values["phone"] = None  # type: ignore[assignment]
    try:
        data = forms.parse(schemas.MemberUpdate, values)
        service.update_member(get_session(), member, data)
        get_session().commit()
    except forms.FormErrors as exc:
        return render("account/me.html", status=422, values=values, errors=exc)
    except Problem as exc:
        get_session().rollback()
        return render("account/me.html", status=422, values=values, errors=forms.from_problem(exc))
    return done(gettext("Your profile is saved."), "web.account.me")


@bp.post("/me/password")
def password() -> Any:
    """Change the password; other logged-in devices are logged out."""
    member = page_member()
    values = {
        "current_password": request.form.get("current_password") or "",
        "new_password": request.form.get("new_password") or "",
    }
    try:
        data = forms.parse(schemas.PasswordChange, values)
        service.change_password(get_session(), member, data.current_password, data.new_password)
        get_session().commit()
    except forms.FormErrors as exc:
        return render("account/me.html", status=422, values={}, password_errors=exc)
    except Problem as exc:
        get_session().rollback()
        return render("account/me.html", status=422, values={}, password_errors=forms.from_problem(exc))
    log_in(member)
    return done(gettext("Your password is changed."), "web.account.me")


@bp.get("/me/export")
def export() -> Response:
    """Everything the node holds about the member, as a file to keep."""
    member = page_member()
    data = service.export_member(get_session(), member)
    body = json.dumps(data, indent=2, ensure_ascii=False)
    response = Response(body, mimetype="application/json")
    response.headers["Content-Disposition"] = f'attachment; filename="mutualaid-{member.handle}.json"'
    return response


@bp.route("/me/erase", methods=["GET", "POST"])
def erase() -> Any:
    """Erase the account and everything that is the member's, after asking for the password."""
    member = page_member()
    if request.method == "GET":
        return render("account/erase.html")
    if request.form.get("confirm") != "yes":
        errors = forms.FormErrors({"confirm": gettext("Tick the box to confirm.")})
        return render("account/erase.html", status=422, errors=errors)
    try:
        service.erase_member(get_session(), member, request.form.get("password") or "")
        get_session().commit()
    except Problem as exc:
        get_session().rollback()
        return render("account/erase.html", status=422, errors=forms.from_problem(exc))
    log_out()
    return done(gettext("Your account and your data are erased from this node."), "web.home.index")


@bp.route("/invite", methods=["GET", "POST"])
def invite() -> Any:
    """Make a single-use invitation link for a neighbour."""
    member = page_member()
    db = get_session()
    link = None
    if request.method == "POST":
        note = (request.form.get("note") or "").strip()[:200]
        _, token = service.create_invitation(db, settings(), member, note)
        db.commit()
        link = f"{settings().public_url.rstrip('/')}/join?invitation={token}"
    return render("account/invite.html", link=link, invitations=_my_invitations(member.id))


def _my_invitations(member_id: uuid.UUID) -> list[Invitation]:
    stmt = (
        select(Invitation)
        .where(Invitation.created_by_id == member_id)
        .order_by(Invitation.created_at.desc())
        .limit(20)
    )
    return list(get_session().scalars(stmt))
