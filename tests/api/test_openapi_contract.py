"""The OpenAPI document describes every request and response (issue 9 item 5).

New routes are held to it too: a POST without a typed body, an untyped 2xx or an undeclared problem
response fails here. docs/api.md says how to write a route that passes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from opsconductor.api.app import create_app
from opsconductor.config.settings import Settings

METHODS = ("get", "post", "put", "patch", "delete")
HOW = "see docs/api.md, 'Adding a route'"
PUBLIC = {"/healthz", "/readyz"}


@pytest.fixture(scope="module")
def doc(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    app = create_app(Settings(data_dir=tmp_path_factory.mktemp("data")))
    schema: dict[str, Any] = app.openapi_schema.to_schema()
    return schema


def operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(p, m, op) for p, item in doc["paths"].items() for m, op in item.items() if m in METHODS]


def resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def test_every_write_has_a_request_body_with_a_schema(doc: dict[str, Any]) -> None:
    missing = [(p, m) for p, m, op in operations(doc) if m in ("post", "put", "patch")
               and not op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")]
    assert missing == [], f"give these a data: JSONBody[Struct] parameter; {HOW}"


def test_every_2xx_body_is_a_typed_schema(doc: dict[str, Any]) -> None:
    untyped = []
    for p, m, op in operations(doc):
        for code, resp in op["responses"].items():
            if not code.startswith("2") or code == "204":
                continue
            if "content" not in resp:  # Alertmanager's DELETE answers 200 with no body; amtool expects that
                assert (p, m) == ("/api/v2/silence/{silence_id}", "delete"), (p, m, code)
                continue
            schema = resp["content"]["application/json"]["schema"]
            target = resolve(doc, schema)
            if not ("properties" in target or target.get("type") in ("array", "string")):
                untyped.append((p, m, code))
    assert untyped == [], f"return a msgspec.Struct, not dict[str, Any]; {HOW}"


def test_every_authenticated_route_declares_its_problem_responses(doc: dict[str, Any]) -> None:
    wrong = []
    for p, m, op in operations(doc):
        codes = {c for c in op["responses"] if not c.startswith("2")}
        needed = {"400", "503"} if p in PUBLIC else {"400", "401", "403", "503"}
        if not needed <= codes:
            wrong.append((p, m, sorted(needed - codes)))
        for c in codes:
            content = op["responses"][c]["content"]
            if p == "/api/v1/rules/reload" and c == "422":  # refused reloads answer with the reload status
                assert content["application/json"]["schema"] == {"$ref": "#/components/schemas/ReloadStatus"}
            elif p == "/readyz" and c == "503":  # not ready: {"status": "unavailable", "detail": ...}
                assert content["application/json"]["schema"] == {"$ref": "#/components/schemas/Health"}
            else:
                assert list(content) == ["application/problem+json"], (p, m, c)
                assert content["application/problem+json"]["schema"] == {"$ref": "#/components/schemas/Problem"}
    assert wrong == [], f"add responses=errors(...) to these routes; {HOW}"
    problem = doc["components"]["schemas"]["Problem"]
    assert set(problem["required"]) == {"type", "title", "status", "detail", "instance"}


def test_every_route_with_a_body_can_answer_413(doc: dict[str, Any]) -> None:
    for p, m, op in operations(doc):
        if "requestBody" in op:
            assert op["responses"]["413"]["content"]["application/problem+json"]["schema"] == {
                "$ref": "#/components/schemas/Problem"}, (p, m)


def test_ids_in_paths_are_bounded_and_404_is_declared(doc: dict[str, Any]) -> None:
    for p, m, op in operations(doc):
        for param in op.get("parameters", []):
            if param["in"] == "path" and param["schema"].get("type") == "integer":
                assert param["schema"]["maximum"] == 2**63 - 1 and param["schema"]["minimum"] == 1, (p, m)
                assert isinstance(param["schema"]["maximum"], int)
                if m != "post" or not p.endswith("/bulk/{action}"):
                    assert "404" in op["responses"], (p, m)


def test_bearer_security_scheme_and_public_health(doc: dict[str, Any]) -> None:
    assert doc["components"]["securitySchemes"]["bearer"] == {
        "type": "http", "scheme": "bearer", "description": "An API key: opsconductor keys create"}
    assert doc["security"] == [{"bearer": []}]
    for p, m, op in operations(doc):
        assert (op.get("security") == [{}]) == (p in PUBLIC), (p, m)


def test_the_event_body_is_the_shipped_event_schema(doc: dict[str, Any]) -> None:
    import json

    shipped = json.loads((Path(__file__).resolve().parents[2] / "schemas" / "event.schema.json").read_text())
    component = doc["components"]["schemas"]["Event"]
    assert set(component["properties"]) == set(shipped["properties"])
    assert component["required"] == shipped["required"]
    body = doc["paths"]["/api/v1/events"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["oneOf"][0] == {"$ref": "#/components/schemas/Event"}
    assert body["oneOf"][1]["items"] == {"$ref": "#/components/schemas/Event"}
