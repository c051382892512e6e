"""The OpenAPI 3.1 document and the browsable docs page."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from openapi_spec_validator import validate
from openapi_spec_validator.validation.validators import OpenAPIV31SpecValidator

from node.api.openapi import operations
from node.errors import all_problem_types


def test_document_is_valid_openapi_3_1(client: Any) -> None:
    r = client.get("/api/v1/openapi.json")
    assert r.status_code == 200 and r.mimetype == "application/json"
    doc = r.json
    assert doc["openapi"] == "3.1.0"
    validate(doc, cls=OpenAPIV31SpecValidator)


def test_document_lists_every_declared_operation(app: Flask, client: Any) -> None:
    paths = client.get("/api/v1/openapi.json").json["paths"]
    for op in operations(app):
        path = "/api/v1" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", op.rule)
        assert op.method.lower() in paths[path], (op.method, path)
    for must in (
        "/api/v1/needs",
        "/api/v1/offers/{listing_id}/suggestions",
        "/api/v1/matches",
        "/api/v1/me/tokens",
        "/api/v1/inventory/{item_id}",
        "/api/v1/join",
    ):
        assert must in paths


def test_document_describes_bodies_pages_auth_and_problems(client: Any) -> None:
    doc = client.get("/api/v1/openapi.json").json
    post = doc["paths"]["/api/v1/needs"]["post"]
    ref = post["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    schema = doc["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert {"category", "title", "h3_cell"} <= set(schema["required"])
    assert schema["additionalProperties"] is False
    assert {"400", "401", "415", "422"} <= set(post["responses"])
    problem = post["responses"]["422"]["content"]["application/problem+json"]["schema"]
    assert problem == {"$ref": "#/components/schemas/Problem"}
    params = {p["name"] for p in doc["paths"]["/api/v1/needs"]["get"]["parameters"]}
    assert {"page", "per_page", "status", "category", "urgency", "mine"} <= params
    assert post["security"] and doc["paths"]["/api/v1/join"]["post"]["security"] == []
    assert set(doc["x-problem-types"]) == {f"/problems/{slug}" for slug in all_problem_types()}


def test_problem_types_lead_somewhere(client: Any) -> None:
    r = client.get("/problems/validation")
    assert r.status_code == 200 and r.json["status"] == 422
    assert client.get("/problems/no-such-kind").status_code == 404


def test_docs_page_lists_operations(client: Any) -> None:
    r = client.get("/api/v1/docs")
    assert r.status_code == 200 and r.mimetype == "text/html"
    page = r.get_data(as_text=True)
    for text in (
        "/api/v1/needs/{listing_id}/suggestions",
        "Post a need",
        "/api/v1/openapi.json",
        "/problems/validation",
        "Needs and offers",
        "Members",
    ):
        assert text in page, text
