"""The members part of the JSON API: joining, login, own data, tokens, invitations, stewards."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Flask, Response, current_app
from flask.blueprints import BlueprintSetupState
from sqlalchemy import select

from node.api.operations import ApiBlueprint
from node.api.paging import Page, PageQuery, page_of, paginate
from node.db import get_session
from node.errors import Unauthenticated
from node.limits import limiter
from node.members import schemas, service
from node.members.auth import install_sessions, log_in, log_out, require_member
from node.members.models import ApiToken, Invitation, Member
from node.settings import Settings

bp = ApiBlueprint("members_api", __name__, tag="Members")


@bp.record_once
def _sessions(state: BlueprintSetupState) -> None:
    if isinstance(state.app, Flask):
        install_sessions(state.app)


def settings() -> Settings:
    value: Settings = current_app.config["MUTUALAID"]
    return value


def _login_limit() -> str:
    return settings().login_rate_limit


def private(member: Member) -> schemas.MemberPrivate:
    out = schemas.MemberPrivate.model_validate(member)
    out.is_steward = service.is_steward(get_session(), member)
    return out


@bp.operation("/join", "POST", "Join this node, by open join or with an invitation",
              body=schemas.JoinIn, response=schemas.MemberPrivate, status=201, auth=False,
              problems=(403, 409))
@limiter.limit(_login_limit)
def join(body: schemas.JoinIn) -> Any:
    db = get_session()
    member = service.join(db, settings(), body)
    db.commit()
    log_in(member)
    return private(member)


@bp.operation("/auth/login", "POST", "Log in with email and password (rate limited)",
              body=schemas.LoginIn, response=schemas.MemberPrivate, auth=False, problems=(429,))
@limiter.limit(_login_limit)
def login(body: schemas.LoginIn) -> Any:
    member = service.authenticate(get_session(), body.email, body.password)
    if member is None:
        raise Unauthenticated("wrong email or password")
    log_in(member)
    return private(member)


@bp.operation("/auth/logout", "POST", "End the login session", status=204, auth=False)
def logout() -> Response:
    log_out()
    return Response(status=204)


@bp.operation("/me", "GET", "Your own profile", response=schemas.MemberPrivate)
def me() -> Any:
    return private(require_member())


@bp.operation("/me", "PATCH", "Change your own profile", body=schemas.MemberUpdate,
              response=schemas.MemberPrivate, problems=(409,))
def update_me(body: schemas.MemberUpdate) -> Any:
    db = get_session()
    member = service.update_member(db, require_member(), body)
    db.commit()
    return private(member)


@bp.operation("/me/password", "POST", "Change your password; other sessions end",
              body=schemas.PasswordChange, status=204, problems=(403,))
def change_password(body: schemas.PasswordChange) -> Response:
    db = get_session()
    member = require_member()
    service.change_password(db, member, body.current_password, body.new_password)
    db.commit()
    log_in(member)
    return Response(status=204)


@bp.operation("/me/export", "GET", "Everything this node holds about you, as JSON")
def export_me() -> Any:
    return service.export_member(get_session(), require_member())


@bp.operation("/me/erase", "POST", "Erase your account and all your data from this node",
              body=schemas.EraseIn, status=204, problems=(403,))
def erase_me(body: schemas.EraseIn) -> Response:
    db = get_session()
    service.erase_member(db, require_member(), body.password)
    db.commit()
    log_out()
    return Response(status=204)


@bp.operation("/me/tokens", "GET", "Your API tokens", response=Page[schemas.TokenOut],
              query=PageQuery)
def list_tokens(query: PageQuery) -> Any:
    stmt = select(ApiToken).where(ApiToken.member_id == require_member().id)
    rows, total = paginate(get_session(), stmt.order_by(ApiToken.created_at), query)
    items = [schemas.TokenOut.model_validate(row).model_dump(mode="json") for row in rows]
    return page_of(items, total, query)


@bp.operation("/me/tokens", "POST", "Create an API token for scripts (shown once)",
              body=schemas.TokenIn, response=schemas.TokenCreated, status=201)
def create_token(body: schemas.TokenIn) -> Any:
    db = get_session()
    row, token = service.create_token(db, require_member(), body.name)
    db.commit()
    return schemas.TokenCreated(**schemas.TokenOut.model_validate(row).model_dump(), token=token)


@bp.operation("/me/tokens/<uuid:token_id>", "DELETE", "Revoke one of your tokens", status=204,
              problems=(404,))
def revoke_token(token_id: uuid.UUID) -> Response:
    db = get_session()
    service.revoke_token(db, require_member(), token_id)
    db.commit()
    return Response(status=204)


@bp.operation("/members", "GET", "Members of this node (handles and names, never contacts)",
              query=PageQuery, response=Page[schemas.MemberPublic])
def list_members(query: PageQuery) -> Any:
    db = get_session()
    require_member()
    rows, total = paginate(db, select(Member).order_by(Member.handle), query)
    stewards = {term.member_id for term in service.active_terms(db)}
    items = []
    for row in rows:
        out = schemas.MemberPublic.model_validate(row)
        out.is_steward = row.id in stewards
        items.append(out.model_dump(mode="json"))
    return page_of(items, total, query)


@bp.operation("/invitations", "POST", "Create a single-use invitation link",
              body=schemas.InvitationIn, response=schemas.InvitationCreated, status=201)
def create_invitation(body: schemas.InvitationIn) -> Any:
    db = get_session()
    invitation, token = service.create_invitation(db, settings(), require_member(), body.note)
    db.commit()
    base = settings().public_url.rstrip("/")
    return schemas.InvitationCreated(
        **schemas.InvitationOut.model_validate(invitation).model_dump(),
        token=token,
        url=f"{base}/join?invitation={token}",
    )


@bp.operation("/invitations", "GET", "Invitations you created", query=PageQuery,
              response=Page[schemas.InvitationOut])
def list_invitations(query: PageQuery) -> Any:
    stmt = select(Invitation).where(Invitation.created_by_id == require_member().id)
    rows, total = paginate(get_session(), stmt.order_by(Invitation.created_at), query)
    items = [schemas.InvitationOut.model_validate(r).model_dump(mode="json") for r in rows]
    return page_of(items, total, query)


def _term_out(db: Any, term: Any) -> dict[str, Any]:
    member = db.get(Member, term.member_id)
    granter = db.get(Member, term.granted_by_id) if term.granted_by_id else None
    return schemas.StewardTermOut(
        id=term.id, handle=member.handle if member else "", reason=term.reason,
        starts_at=term.starts_at, ends_at=term.ends_at,
        granted_by=granter.handle if granter else None,
    ).model_dump(mode="json")


@bp.operation("/stewards", "GET", "Steward terms in force now", response=schemas.StewardTermList)
def list_stewards() -> Any:
    db = get_session()
    require_member()
    return {"items": [_term_out(db, term) for term in service.active_terms(db)]}


@bp.operation("/stewards", "POST", "Grant a steward term (stewards only, bounded length)",
              body=schemas.StewardGrant, response=schemas.StewardTermOut, status=201,
              problems=(403, 404))
def grant_steward(body: schemas.StewardGrant) -> Any:
    db = get_session()
    actor = require_member()
    service.require_steward(db, actor)
    term = service.grant_steward(db, settings(), actor, body.handle, body.days, body.reason)
    db.commit()
    return _term_out(db, term)


@bp.operation("/stewards/<uuid:term_id>/end", "POST", "End a steward term early", status=204,
              problems=(403, 404, 409))
def end_steward_term(term_id: uuid.UUID) -> Response:
    db = get_session()
    service.end_term(db, require_member(), term_id)
    db.commit()
    return Response(status=204)


