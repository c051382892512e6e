"""The OpenAPI 3.1 document, built from the operations the API blueprints declare."""

from __future__ import annotations

import re
from typing import Any, Literal

from flask import Blueprint, Flask, current_app, render_template
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from node.api.operations import API_PREFIX, ApiBlueprint, Operation, json_response
from node.errors import all_problem_types

bp = Blueprint("openapi", __name__, url_prefix=API_PREFIX)
_PARAM = re.compile(r"<(?:(\w+):)?(\w+)>")
REF_TEMPLATE = "#/components/schemas/{model}"
_FORMATS = {"uuid": {"type": "string", "format": "uuid"}, "int": {"type": "integer"}}

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string", "description": "Stable URI reference per failure kind"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"field": {"type": "string"}, "reason": {"type": "string"}},
            },
        },
    },
}


def operations(app: Flask) -> list[Operation]:
    """Every operation declared by the app's API blueprints."""
    found: list[Operation] = []
    for blueprint in app.blueprints.values():
        if isinstance(blueprint, ApiBlueprint):
            found.extend(blueprint.operations)
    return found


def build_document(app: Flask) -> dict[str, Any]:
    """Assemble the OpenAPI document for this app."""
    ops = operations(app)
    models = _models(ops)
    modes: tuple[Literal["validation"], Literal["serialization"]] = ("validation", "serialization")
    keys = [(model, mode) for model in models for mode in modes]
    refs, definitions = models_json_schema(keys, ref_template=REF_TEMPLATE)
    schemas: dict[str, Any] = dict(definitions.get("$defs", {}))
    schemas["Problem"] = PROBLEM_SCHEMA
    paths: dict[str, Any] = {}
    for op in ops:
        path, params = _openapi_path(op.rule)
        paths.setdefault(path, {})[op.method.lower()] = _operation(op, params, refs)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "mutualaid node API",
            "version": "1",
            "description": "The JSON API of one mutualaid node. Errors are RFC 9457 problems; "
            "their `type` values are listed under x-problem-types.",
        },
        "servers": [{"url": app.config["MUTUALAID"].public_url}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "token": {"type": "http", "scheme": "bearer"},
                "session": {"type": "apiKey", "in": "cookie", "name": "session"},
            },
        },
        "x-problem-types": {
            f"/problems/{slug}": cls.title for slug, cls in sorted(all_problem_types().items())
        },
    }


def _models(ops: list[Operation]) -> list[type[BaseModel]]:
    seen: list[type[BaseModel]] = []
    for op in ops:
        for model in (op.body, op.query, op.response):
            if model is not None and model not in seen:
                seen.append(model)
    return seen


def _openapi_path(rule: str) -> tuple[str, list[dict[str, Any]]]:
    params: list[dict[str, Any]] = []

    def replace(match: re.Match[str]) -> str:
        converter, name = match.group(1), match.group(2)
        schema = _FORMATS.get(converter or "", {"type": "string"})
        params.append({"name": name, "in": "path", "required": True, "schema": schema})
        return "{" + name + "}"

    return API_PREFIX + _PARAM.sub(replace, rule), params


def _operation(op: Operation, params: list[dict[str, Any]], refs: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "summary": op.summary,
        "operationId": op.endpoint.replace(".", "_"),
        "tags": [op.tag],
        "parameters": list(params),
    }
    if op.query is not None:
        # Enums and nested models are already in components/schemas (see build_document).
        schema = op.query.model_json_schema(ref_template=REF_TEMPLATE)
        required = set(schema.get("required", []))
        for name, prop in schema.get("properties", {}).items():
            doc["parameters"].append(
                {"name": name, "in": "query", "required": name in required, "schema": prop}
            )
    if op.body is not None:
        doc["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": refs[(op.body, "validation")]}},
        }
    doc["responses"] = _responses(op, refs)
    doc["security"] = [{"token": []}, {"session": []}] if op.auth else []
    return doc


def _responses(op: Operation, refs: Any) -> dict[str, Any]:
    ok: dict[str, Any] = {"description": "Success"}
    if op.response is not None:
        ok["content"] = {op.content_type: {"schema": refs[(op.response, "serialization")]}}
    elif op.content_type != "application/json":
        ok["content"] = {op.content_type: {"schema": {"type": "string"}}}
    responses: dict[str, Any] = {str(op.status): ok}
    problem_schema = {"$ref": "#/components/schemas/Problem"}
    problem = {"content": {"application/problem+json": {"schema": problem_schema}}}
    codes = set(op.problems)
    if op.auth:
        codes.add(401)
    if op.body is not None:
        codes.update({400, 415, 422})
    if op.query is not None:
        codes.add(422)
    for code in sorted(codes):
        responses[str(code)] = {"description": "Problem", **problem}
    return responses


@bp.get("/openapi.json")
def openapi_json() -> Any:
    """Serve the OpenAPI document."""
    return json_response(build_document(current_app._get_current_object()))  # type: ignore[attr-defined]


@bp.get("/docs")
def docs_page() -> str:
    """A browsable page of the API, rendered on the server so it needs no JavaScript."""
    doc = build_document(current_app._get_current_object())  # type: ignore[attr-defined]
    groups: dict[str, list[tuple[str, str, Any]]] = {}
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            groups.setdefault(op["tags"][0], []).append((path, method, op))
    return render_template(
        "api_docs.html", doc=doc, groups=sorted(groups.items()), prefix=API_PREFIX
    )
