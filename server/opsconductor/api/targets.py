"""``/api/v1/targets``: list/get (read) and create/replace/delete (admin) poll targets.

Targets from the inventory file and from NetBox are listed but not editable here (their
file or NetBox is the source of truth). Credential references are never returned, only
which ones are set.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import jsonschema
import msgspec
from litestar import delete, get, post, put
from litestar.datastructures import State
from litestar.params import FromPath

from opsconductor.api.contract import errors, json_body
from opsconductor.errors import Conflict, FieldProblem, NotFound, Unavailable, ValidationFailed
from opsconductor.runtime import Runtime
from opsconductor.sources.inventory import TARGET_SCHEMA
from opsconductor.sources.kinds import Target
from opsconductor.sources.service import SourcesService
from opsconductor.sources.target_store import create_target, delete_target, get_target, replace_target


class TargetView(msgspec.Struct):
    """A poll target; credential references are never shown, only which are configured."""

    name: str
    address: str
    port: int | None
    ports: dict[str, int]
    labels: dict[str, str]
    addons: list[str]
    intervals: dict[str, float]
    enabled: bool
    origin: str
    credential_set: bool
    credentials_for: list[str]
    depends_on: list[str]  # upstream targets, for topology suppression


class TargetList(msgspec.Struct):
    targets: list[TargetView]


TARGET_BODY = json_body("A target, as in the inventory file", "TargetSpec")


def target_view(t: Target) -> TargetView:
    return TargetView(
        name=t.name, address=t.address, port=t.port, ports=dict(t.ports), labels=dict(t.labels),
        addons=list(t.addons), intervals=dict(t.intervals), enabled=t.enabled, origin=t.origin,
        depends_on=list(t.depends_on),
        # Never the references (let alone the secrets): only which are configured.
        credential_set=t.credential is not None,
        credentials_for=sorted(t.credentials),
    )


def _service(state: State) -> SourcesService:
    rt: Runtime = state.runtime
    svc = rt.sources
    if svc is None:
        raise Unavailable("the sources service is not installed")
    return svc


def _validate(body: Any) -> dict[str, Any]:
    validator = jsonschema.Draft202012Validator(TARGET_SCHEMA)
    problems = []
    for e in validator.iter_errors(body):
        where = [str(p) for p in e.absolute_path]
        if where and where[0] in ("credential", "credentials"):
            # jsonschema's message quotes the value: it may be a secret pasted by mistake.
            msg = "must be a reference 'env:NAME' or 'file:/absolute/path', not the secret itself"
        else:
            msg = e.message
        problems.append(FieldProblem(".".join(where) or "(root)", msg))
    if problems:
        raise ValidationFailed("invalid target", problems)
    result: dict[str, Any] = body
    return result


async def _find(svc: SourcesService, name: str) -> Target:
    for t in await svc.current_targets():
        if t.name == name:
            return t
    raise NotFound(f"no target named {name!r}")


@get("/api/v1/targets", opt={"scope": "read"}, tags=["targets"], responses=errors())
async def list_targets_handler(state: State) -> TargetList:
    """Every target: from the inventory file, the API and NetBox."""
    svc = _service(state)
    return TargetList([target_view(t) for t in await svc.current_targets()])


@get("/api/v1/targets/{name:str}", opt={"scope": "read"}, tags=["targets"], responses=errors(404))
async def get_target_handler(state: State, name: FromPath[str]) -> TargetView:
    return target_view(await _find(_service(state), name))


@post("/api/v1/targets", opt={"scope": "admin"}, status_code=201, tags=["targets"], responses=errors(409, 422))
async def create_target_handler(state: State, data: Annotated[Any, TARGET_BODY]) -> TargetView:
    svc = _service(state)
    body = _validate(data)
    if any(t.name == body["name"] for t in svc.inventory):
        raise Conflict(f"target {body['name']!r} is defined in the inventory file")
    async with svc.rt.db.write() as conn:
        t = await create_target(conn, body, "api", datetime.now(UTC))
    await svc.reload()
    return target_view(t)


@put("/api/v1/targets/{name:str}", opt={"scope": "admin"}, tags=["targets"], responses=errors(404, 409, 422))
async def replace_target_handler(state: State, name: FromPath[str], data: Annotated[Any, TARGET_BODY]) -> TargetView:
    svc = _service(state)
    body = _validate(data)
    if body["name"] != name:
        raise ValidationFailed("the name in the body differs from the URL", [FieldProblem("name", "must equal "
                                                                                          "the URL's name")])
    async with svc.rt.db.write() as conn:
        current = await get_target(conn, name)
        if current.origin != "api":
            raise Conflict(f"target {name!r} is managed by {current.origin}; change it there")
        t = await replace_target(conn, name, body, datetime.now(UTC))
    await svc.reload()
    return target_view(t)


@delete("/api/v1/targets/{name:str}", opt={"scope": "admin"}, status_code=204, tags=["targets"],
        responses=errors(404, 409))
async def delete_target_handler(state: State, name: FromPath[str]) -> None:
    svc = _service(state)
    if any(t.name == name for t in svc.inventory):
        raise Conflict(f"target {name!r} is defined in the inventory file")
    async with svc.rt.db.write() as conn:
        await delete_target(conn, name)
    await svc.reload()


ROUTES = [list_targets_handler, get_target_handler, create_target_handler, replace_target_handler,
          delete_target_handler]
