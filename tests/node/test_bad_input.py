"""Bad input on every endpoint of the members and needs-and-offers API.

The cases are generated from the operations the blueprints declare (their body and query models
and path parameters), so a new endpoint is covered as soon as it is declared. Each case must get
a 4xx problem+json with a stable `type`, name the field at fault where there is one, never a 500,
and leave every table exactly as it was.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from flask import Flask
from pydantic import BaseModel
from sqlalchemy import select

from node import create_app
from node.api.operations import API_PREFIX, Operation
from node.db import Base, session_scope
from node.members import api as members_api
from node.members import schemas as member_schemas
from node.members import service as members
from node.members.models import ApiToken
from node.resources import api as resources_api
from node.resources import schemas as resource_schemas
from node.signals import node_initialised
from tests.conftest import PASSWORD, PG_URL, REDIS_URL, TEST_SECRET, Api, _clean_pg
from tests.node.factories import PROBLEM_JSON, need, offer

FAKE_ID = "0b5e4c5e-1d1e-4c3a-9d3a-5a8f3c2b1a00"


OPS: list[Operation] = [*members_api.bp.operations, *resources_api.bp.operations]


# --- the world every case runs against --------------------------------------------------------


@dataclass
class World:
    app: Flask
    alice: Api  # the member sending the bad requests (a steward, so steward-only checks pass)
    anonymous: Api
    mine: dict[str, str] = field(default_factory=dict)
    others: dict[str, str] = field(default_factory=dict)


@pytest.fixture(scope="module")
def world(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    instance = tmp_path_factory.mktemp("bad-input")
    url = database_url
    if not PG_URL:
        shutil.copy(database_url.removeprefix("sqlite:///"), instance / "mutualaid.sqlite3")
        url = f"sqlite:///{instance / 'mutualaid.sqlite3'}"
    app = create_app(
        {
            "env": "testing",
            "instance_path": instance,
            "database_url": url,
            "secret_key": TEST_SECRET,
            "public_url": "http://node.test",
            "join_policy": "open",
            "redis_url": REDIS_URL,
            # Hundreds of requests to /join and /auth/login go to one app here.
            "login_rate_limit": "100000 per minute",
            "max_request_bytes": 64_000,
        }
    )
    app.config["RATELIMIT_KEY_PREFIX"] = f"test-{uuid.uuid4().hex}"
    if PG_URL:
        _clean_pg(app)
    node_initialised.send(app)  # as the app fixture does: the node's key and identity
    apis = {}
    with session_scope(app) as db:
        for handle in ("alice", "bob", "carol"):
            member = members.create_member(db, handle, handle.title(), f"{handle}@example.org", PASSWORD)
            _, token = members.create_token(db, member, "tests")
            apis[handle] = Api(app.test_client(), token, handle)
        members.grant_steward(db, app.config["MUTUALAID"], None, "alice", 30, "test")
        members.grant_steward(db, app.config["MUTUALAID"], None, "bob", 30, "test")
    alice, bob, carol = apis["alice"], apis["bob"], apis["carol"]
    w = World(app, alice, Api(app.test_client(), None, "nobody"))
    for who, api, target in (("alice", alice, w.mine), ("bob", bob, w.others)):
        target["needs"] = api.post("/needs", json=need(title=f"{who}'s need")).json["id"]
        target["offers"] = api.post("/offers", json=offer(title=f"{who}'s offer")).json["id"]
        target["item_id"] = api.post("/inventory", json={"kind": "tool", "name": "Saw"}).json["id"]
        target["token_id"] = api.get("/me/tokens").json["items"][0]["id"]
        terms = {t["handle"]: t["id"] for t in api.get("/stewards").json["items"]}
        target["term_id"] = terms[who]
    carol_offer = carol.post("/offers", json=offer(title="carol's offer")).json["id"]
    # A proposal Alice is the deciding side of, and one she has nothing to do with.
    w.mine["match_id"] = bob.post(
        "/matches", json={"need_id": w.mine["needs"], "offer_id": w.others["offers"]}
    ).json["id"]
    w.others["match_id"] = bob.post(
        "/matches", json={"need_id": w.others["needs"], "offer_id": carol_offer}
    ).json["id"]
    w.mine["carol_offer"] = carol_offer
    yield w
    app.extensions["db"].dispose()


def snapshot(app: Flask) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table (except when a token was last used, which reads may touch)."""
    out = {}
    with session_scope(app) as db:
        for table in Base.metadata.sorted_tables:
            columns = [
                c
                for c in table.columns
                if not (table.name == ApiToken.__tablename__ and c.name == "last_used_at")
            ]
            rows = db.execute(select(*columns)).all()
            out[table.name] = sorted(tuple(str(v) for v in row) for row in rows)
    return out


# --- valid bodies, and which nulls are allowed ---------------------------------------------


def valid_body(model: type[BaseModel], w: World) -> dict[str, Any]:
    """A body the endpoint would accept, to be spoiled one way at a time."""
    bodies: dict[type[BaseModel], dict[str, Any]] = {
        member_schemas.JoinIn: {
            "handle": "newbie",
            "display_name": "New",
            "email": "new@example.org",
            "password": "a long enough password",
        },
        member_schemas.LoginIn: {"email": "alice@example.org", "password": PASSWORD},
        member_schemas.MemberUpdate: {"bio": "hello"},
        member_schemas.PasswordChange: {"current_password": PASSWORD, "new_password": "another long one"},
        member_schemas.EraseIn: {"password": PASSWORD},
        member_schemas.TokenIn: {"name": "script"},
        member_schemas.InvitationIn: {"note": "for a friend"},
        member_schemas.StewardGrant: {"handle": "carol", "days": 5, "reason": "rota"},
        resource_schemas.ListingIn: need(),
        resource_schemas.ListingUpdate: {"title": "changed", "quantity": 3},
        resource_schemas.CategoryIn: {"slug": "firewood", "label": "Firewood"},
        resource_schemas.InventoryIn: {"kind": "tool", "name": "Hammer", "category": "tools"},
        resource_schemas.InventoryUpdate: {"name": "Big hammer"},
        resource_schemas.MatchIn: {"need_id": w.mine["needs"], "offer_id": w.mine["carol_offer"]},
        resource_schemas.CloseIn: {"outcome": "done"},
    }
    return dict(bodies[model])


# (model, field) pairs where null is a meaning ("none", "clear it"), not a mistake.
NULL_OK = {
    ("JoinIn", "phone"),
    ("JoinIn", "invitation"),
    ("MemberUpdate", "phone"),
    ("InventoryIn", "category"),
    ("InventoryIn", "h3_cell"),
    ("InventoryUpdate", "category"),
    ("InventoryUpdate", "h3_cell"),
    *(
        (m, f)
        for m in ("ListingIn", "ListingUpdate")
        for f in ("available_from", "available_until", "expires_at")
    ),
}


def properties(model: type[BaseModel]) -> dict[str, dict[str, Any]]:
    """Each field's JSON schema, with `X | None` unwrapped to X."""
    schema = model.model_json_schema()
    out = {}
    for name, prop in schema.get("properties", {}).items():
        options = [p for p in prop.get("anyOf", [prop]) if p.get("type") != "null"]
        out[name] = options[0] if options else prop
    return out


def wrong_type(prop: dict[str, Any]) -> Any:
    kind = prop.get("type")
    if kind == "string" or "$ref" in prop:
        return 12345
    if kind in ("number", "integer"):
        return "12"
    if kind == "boolean":
        return "yes"
    return [1]


# --- the cases -------------------------------------------------------------------------------


@dataclass
class Case:
    """One bad request and the problem it must get."""

    op: Operation
    name: str
    status: int
    slug: str
    field: str | None = None
    body: Any = None  # JSON-able body, or bytes sent as they are
    content_type: str | None = "application/json"
    path_ids: str = "mine"  # whose resources the path names: mine, others, unknown, malformed
    query: str = ""
    who: str = "alice"
    method: str | None = None

    @property
    def id(self) -> str:
        return f"{self.op.method} {self.op.rule} {self.name}"


def body_cases(op: Operation) -> Iterator[Case]:
    assert op.body is not None
    model = op.body
    yield Case(op, "malformed JSON", 400, "malformed", body=b'{"title": ')
    yield Case(op, "empty body", 400, "malformed", body=b"")
    yield Case(op, "not UTF-8", 400, "malformed", body=b"\xff\xfe{}")
    yield Case(op, "deeply nested", 400, "malformed", body=b"[" * 30_000)
    yield Case(op, "lone surrogate", 400, "malformed", body=b'{"x": "\\ud800"}')
    yield Case(
        op,
        "wrong content type",
        415,
        "unsupported-media-type",
        body=b"title=x",
        content_type="application/x-www-form-urlencoded",
    )
    yield Case(op, "no content type", 415, "unsupported-media-type", body=b"{}", content_type=None)
    yield Case(op, "too large", 413, "too-large", body=b'{"x": "' + b"a" * 70_000 + b'"}')
    yield Case(op, "array body", 422, "validation", "body", body=[])
    yield Case(op, "string body", 422, "validation", "body", body="hello")
    yield Case(op, "unknown field", 422, "validation", "surprise", body={"surprise": 1, "__valid__": True})
    for name, prop in properties(model).items():
        yield Case(op, f"{name} wrong type", 422, "validation", name, body={name: wrong_type(prop)})
        yield Case(op, f"{name} as a list", 422, "validation", name, body={name: [1]})
        yield Case(op, f"{name} as an object", 422, "validation", name, body={name: {"a": 1}})
        if (model.__name__, name) not in NULL_OK:
            yield Case(op, f"{name} null", 422, "validation", name, body={name: None})
        if name in model.model_json_schema().get("required", []):
            yield Case(op, f"{name} missing", 422, "validation", name, body={name: ...})
        if prop.get("type") == "string" and "format" not in prop:
            yield Case(op, f"{name} with NUL", 422, "validation", name, body={name: "a\u0000b"})
            if "maxLength" in prop:
                long = "x" * (prop["maxLength"] + 1)
                yield Case(op, f"{name} oversized", 422, "validation", name, body={name: long})
        if name == "category":
            yield Case(op, "unknown category", 422, "validation", "category", body={name: "no_such_thing"})
            yield Case(op, "category not a slug", 422, "validation", "category", body={name: "Food!"})
        if name == "quantity":
            for label, value in (
                ("negative", -1),
                ("zero", 0),
                ("huge", 1e12),
                ("NaN", "NaN"),
                ("infinite", "Infinity"),
                ("as string", "2"),
            ):
                raw = value if label in ("NaN", "infinite") else None
                body: Any = {name: value} if raw is None else raw
                yield Case(op, f"quantity {label}", 422, "validation", "quantity", body=body)
        if name == "h3_cell":
            yield Case(op, "h3_cell invalid", 422, "validation", "h3_cell", body={name: "881f1d4815ffff0"})
        if prop.get("format") == "date-time":
            naive = "2030-01-01T00:00:00"
            yield Case(op, f"{name} without zone", 422, "validation", name, body={name: naive})
            yield Case(op, f"{name} not a date", 422, "validation", name, body={name: "tomorrow"})
        if prop.get("format") == "uuid":
            yield Case(op, f"{name} unknown", 404, "not-found", name, body={name: FAKE_ID})
        if name == "days":
            yield Case(op, "days beyond the node's maximum", 422, "validation", "days", body={name: 3650})
            yield Case(op, "days zero", 422, "validation", "days", body={name: 0})
            yield Case(op, "days enormous", 422, "validation", "days", body={name: 10**40})
        if name == "handle" and model is member_schemas.StewardGrant:
            yield Case(op, "handle unknown", 404, "not-found", "handle", body={name: "nobody_here"})
    if model in (resource_schemas.ListingIn, resource_schemas.ListingUpdate):
        window = {"available_from": "2030-01-02T00:00:00Z", "available_until": "2030-01-01T00:00:00Z"}
        yield Case(op, "window backwards", 422, "validation", body=window)
        yield Case(
            op,
            "expires in the past",
            422,
            "validation",
            "expires_at",
            body={"expires_at": "2001-01-01T00:00:00Z"},
        )


def query_cases(op: Operation) -> Iterator[Case]:
    assert op.query is not None
    yield Case(op, "unknown parameter", 422, "validation", "surprise", query="surprise=1")
    yield Case(op, "page zero", 422, "validation", "page", query="page=0")
    yield Case(op, "page not a number", 422, "validation", "page", query="page=two")
    yield Case(op, "page enormous", 422, "validation", "page", query="page=" + "9" * 40)
    yield Case(op, "per_page zero", 422, "validation", "per_page", query="per_page=0")
    yield Case(op, "per_page too big", 422, "validation", "per_page", query="per_page=1000")
    yield Case(op, "per_page negative", 422, "validation", "per_page", query="per_page=-5")
    for name, prop in properties(op.query).items():
        if name in ("page", "per_page"):
            continue
        bad = "maybe" if prop.get("type") == "boolean" else "NO SUCH VALUE"
        yield Case(op, f"{name} bad value", 422, "validation", name, query=f"{name}={bad}")
        if name == "category":
            yield Case(op, "unknown category filter", 422, "validation", "category", query="category=nope")


# Operations where naming another member's resource is refused, and how.
OTHERS_REFUSED = {
    "PATCH": 403,
    "DELETE": 403,
    "withdraw": 403,
    "accept": 403,
    "decline": 403,
    "cancel": 403,
    "fulfil": 403,
    "GET match": 403,
}


def path_cases(op: Operation) -> Iterator[Case]:
    if "<uuid:" not in op.rule:
        return
    yield Case(op, "unknown id", 404, "not-found", path_ids="unknown", body=_ok_body_marker(op))
    yield Case(op, "malformed id", 404, "not-found", path_ids="malformed", body=_ok_body_marker(op))
    last = op.rule.rsplit("/", 1)[1]
    if op.rule.startswith("/stewards"):
        return  # a steward may end anyone's term: nothing to refuse here
    if "/me/tokens/" in op.rule:
        yield Case(op, "another member's token", 404, "not-found", path_ids="others")
        return
    key = last if not last.startswith("<") else op.method
    if op.method == "GET" and op.rule.startswith("/matches"):
        key = "GET match"
    if key in OTHERS_REFUSED:
        yield Case(
            op,
            "another member's resource",
            OTHERS_REFUSED[key],
            "forbidden",
            path_ids="others",
            body=_ok_body_marker(op),
        )


def _ok_body_marker(op: Operation) -> Any:
    return {"__valid__": True} if op.body is not None else None


def all_cases() -> list[Case]:
    cases: list[Case] = []
    for op in OPS:
        if op.auth:
            cases.append(
                Case(op, "not logged in", 401, "unauthenticated", who="anonymous", body=_ok_body_marker(op))
            )
        cases.append(Case(op, "wrong method", 405, "method-not-allowed", method="PUT"))
        if op.body is not None:
            cases.extend(body_cases(op))
        if op.query is not None:
            cases.extend(query_cases(op))
        cases.extend(path_cases(op))
    return cases


CASES = all_cases()


def test_every_operation_has_cases() -> None:
    covered = {case.op.endpoint for case in CASES}
    assert covered == {op.endpoint for op in OPS}
    assert len(OPS) >= 35


# --- running a case --------------------------------------------------------------------------


def _path(case: Case, w: World) -> str:
    ids = {"mine": w.mine, "others": w.others}.get(case.path_ids, {})
    path = case.op.rule
    for name in ("listing_id", "item_id", "match_id", "token_id", "term_id"):
        marker = f"<uuid:{name}>"
        if marker not in path:
            continue
        if case.path_ids == "unknown":
            value = FAKE_ID
        elif case.path_ids == "malformed":
            value = "not-a-uuid"
        else:
            value = ids[path.split("/")[1] if name == "listing_id" else name]
        path = path.replace(marker, value)
    return path + (f"?{case.query}" if case.query else "")


def _body(case: Case, w: World) -> bytes | None:
    if case.body is None:
        return b"{}" if case.op.body is not None else None
    if isinstance(case.body, bytes):
        return case.body
    if isinstance(case.body, str) and case.body in ("NaN", "Infinity"):
        spoiled = valid_body(case.op.body, w)  # type: ignore[arg-type]
        return _dumps(spoiled)[:-1].encode() + f', "quantity": {case.body}}}'.encode()
    if isinstance(case.body, dict) and case.op.body is not None:
        body = valid_body(case.op.body, w)
        for name, value in case.body.items():
            if name == "__valid__":
                continue
            if value is ...:
                body.pop(name, None)
            else:
                body[name] = value
        return _dumps(body).encode()
    return _dumps(case.body).encode()


def _dumps(value: Any) -> str:
    import json

    return json.dumps(value)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_input_gets_a_problem_and_changes_nothing(case: Case, world: World) -> None:
    api = world.anonymous if case.who == "anonymous" else world.alice
    headers = dict(api._headers(None))
    if case.content_type:
        headers["Content-Type"] = case.content_type
    before = snapshot(world.app)
    response = api.client.open(
        API_PREFIX + _path(case, world),
        method=case.method or case.op.method,
        headers=headers,
        data=_body(case, world),
    )
    assert response.status_code == case.status, (response.status_code, response.get_data(as_text=True))
    assert response.mimetype == PROBLEM_JSON
    problem = response.get_json(force=True)
    assert problem["type"] == f"/problems/{case.slug}", problem
    assert problem["status"] == case.status and problem["title"] and problem["detail"]
    if case.field is not None:
        assert case.field in [error["field"] for error in problem.get("errors", [])], problem
        assert all(error["reason"] for error in problem["errors"])
    assert snapshot(world.app) == before
