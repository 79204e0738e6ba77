"""docs/api.md's examples run: against a live server, and against the OpenAPI document (issue 9 item 5)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema

from tests.support.server import LiveServer

DOC = (Path(__file__).resolve().parents[2] / "docs" / "api.md").read_text()


@dataclass
class Example:
    method: str
    target: str
    body: Any
    status: int
    answer: Any


def examples() -> list[Example]:
    section = DOC.split("## Examples", 1)[1].split("\n## ", 1)[0]
    pairs = re.findall(r"```http\n(.*?)```\s*```json (\d{3})\n(.*?)```", section, re.S)
    out = []
    for request, status, answer in pairs:
        first, _, rest = request.partition("\n")
        method, target = first.split()
        out.append(Example(method, target, json.loads(rest) if rest.strip() else None, int(status),
                           json.loads(answer)))
    return out


def operation(doc: dict[str, Any], method: str, target: str) -> dict[str, Any]:
    path = target.split("?", 1)[0]
    for template, item in doc["paths"].items():
        if re.fullmatch(re.sub(r"\{[^}]+\}", "[^/]+", template), path) and method.lower() in item:
            op: dict[str, Any] = item[method.lower()]
            return op
    raise AssertionError(f"{method} {path} is not in the OpenAPI document")


def check(doc: dict[str, Any], schema: dict[str, Any], value: Any) -> None:
    jsonschema.Draft202012Validator({**schema, "components": doc["components"]}).validate(value)


def test_the_examples_cover_bodies_answers_and_problems() -> None:
    found = examples()
    assert len(found) >= 5
    assert {e.status for e in found} >= {200, 201, 400, 422}


async def test_every_example_matches_the_document_and_the_live_server(live_server: LiveServer) -> None:
    async with live_server.admin as c:
        doc = (await c.get("/schema/openapi.json")).json()
        for ex in examples():
            op = operation(doc, ex.method, ex.target)
            if ex.body is not None:
                body_schema = op["requestBody"]["content"]["application/json"]["schema"]
                if ex.status == 422:  # an invalid body: the document refuses it too
                    assert not jsonschema.Draft202012Validator(
                        {**body_schema, "components": doc["components"]}).is_valid(ex.body)
                else:
                    check(doc, body_schema, ex.body)
            declared = op["responses"][str(ex.status)]
            media, spec = next(iter(declared["content"].items()))
            check(doc, spec["schema"], ex.answer)
            r = await c.request(ex.method, ex.target, json=ex.body)
            assert r.status_code == ex.status, (ex.target, r.text)
            assert r.headers["content-type"].startswith(media)
            live = r.json()
            check(doc, spec["schema"], live)
            assert set(live) == set(ex.answer), ex.target  # the example shows every field of the answer
            if ex.status >= 400:
                assert live["detail"] == ex.answer["detail"] and live.get("errors") == ex.answer.get("errors")
