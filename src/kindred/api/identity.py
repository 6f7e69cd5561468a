"""kindred's own identity API: who an id is, why two ids are one person, and how to undo a merge.

Everything lives under /api/kindred/identity/ and authenticates like the read APIs: the project
secret, or a service account with `project_id`. Answers are JSON, and errors take Mixpanel's shape
`{"error": ..., "status": "error"}`. An input appears as:

    {"kind": "identify", "ids": [first, second], "time": <Unix ms>, "insert_id": ..., "seq": ...,
     "status": "applied" | "refused" | "withdrawn", "code": ..., "description": ...}
"""

from __future__ import annotations

import datetime as dt
import functools
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any, TypeVar
from urllib.parse import parse_qsl

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from kindred.api.auth import authenticate_reader
from kindred.api.services import Services, services_of
from kindred.api.wire import json_response
from kindred.errors import ClientError
from kindred.identity import IdentityEngine, IdentityInput, IdentityMode, Outcome
from kindred.identity.engine import WITHDRAWN_CODE
from kindred.storage.base import Project

DEFAULT_CLUSTERS_LIMIT = 20
MAX_CLUSTERS_LIMIT = 1000
# An unmerge body holds one insert id and perhaps a project id; anything larger is a mistake.
MAX_BODY_BYTES = 64 * 1024

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)

T = TypeVar("T")


async def show_id(request: Request) -> Response:
    """GET .../ids/{distinct_id} or .../ids?distinct_id=: the id's person and every input."""
    services = services_of(request)
    try:
        params = await _params(request)
        project = authenticate_reader(request, services.meta, params)
        distinct_id = request.path_params.get("distinct_id") or _required(
            params, "distinct_id", "the id to show, as /api/kindred/identity/ids/ID"
        )
    except ClientError as exc:
        return _error(exc)

    answer = await _read_engine(services, project, functools.partial(_describe_id, distinct_id))
    return json_response(answer)


async def explain(request: Request) -> Response:
    """GET .../explain?a=&b=: the applied inputs linking two ids, or why they are apart."""
    services = services_of(request)
    try:
        params = await _params(request)
        project = authenticate_reader(request, services.meta, params)
        a = _required(params, "a", "the first of the two ids to explain, as ?a=ID1&b=ID2")
        b = _required(params, "b", "the second of the two ids to explain, as ?a=ID1&b=ID2")
    except ClientError as exc:
        return _error(exc)

    answer = await _read_engine(services, project, lambda engine: _explanation(engine, a, b))
    return json_response(answer)


async def unmerge(request: Request) -> Response:
    """POST .../unmerge with insert_id: withdraw that identity event, as if it never arrived."""
    services = services_of(request)
    try:
        params = await _params(request)
        project = authenticate_reader(request, services.meta, params)
        insert_id = _required(
            params, "insert_id", "the $insert_id of the $identify, $create_alias or $merge event"
        )
        done = await services.pipeline.withdraw(project, insert_id)
    except ClientError as exc:
        return _error(exc)

    return json_response(
        {
            "insert_id": done.insert_id,
            "withdrawn": [_input_json(inp) for inp in done.withdrawn],
            "reclassified": [_outcome_json(outcome) for outcome in done.reclassified],
            "canonical_ids": done.canonical_ids,
        }
    )


async def refusals(request: Request) -> Response:
    """GET .../refusals: how many identity inputs are refused now, by Mixpanel's code; with
    `by_day=true`, also `by_day`: {UTC day of the input's event time: {code: count}}."""
    services = services_of(request)
    try:
        params = await _params(request)
        project = authenticate_reader(request, services.meta, params)
    except ClientError as exc:
        return _error(exc)

    by_day = params.get("by_day", "").lower() in ("1", "true", "yes")
    counts, days = await _read_engine(
        services,
        project,
        lambda engine: (engine.refusal_counts(), _refusals_by_day(engine) if by_day else None),
    )
    answer: dict[str, Any] = {"total": counts.total(), "by_code": dict(counts.most_common())}
    if days is not None:
        answer["by_day"] = days
    return json_response(answer)


async def clusters(request: Request) -> Response:
    """GET .../clusters?limit=: the largest clusters, with the size cap they are held to."""
    services = services_of(request)
    try:
        params = await _params(request)
        project = authenticate_reader(request, services.meta, params)
        limit = _limit(params)
    except ClientError as exc:
        return _error(exc)

    largest, cap = await _read_engine(
        services, project, lambda engine: (engine.largest_clusters(limit), _cap(engine))
    )
    return json_response(
        [{"canonical_id": canonical, "size": size, "cap": cap} for canonical, size in largest]
    )


# -- Answers ---------------------------------------------------------------------------------


def _cap(engine: IdentityEngine) -> int | None:
    # Only Original ID Merge caps a cluster (kindred.identity.rules); the others grow freely.
    return engine.max_cluster_size if engine.mode is IdentityMode.ORIGINAL else None


def _refusals_by_day(engine: IdentityEngine) -> dict[str, dict[str, int]]:
    """The inputs refused now, by the UTC day of their event time and then by code, in day order."""
    days: dict[str, Counter[str]] = {}
    for outcome in engine.refused():
        if outcome.code is None:
            continue
        day = EPOCH + dt.timedelta(milliseconds=outcome.input.time_ms)
        days.setdefault(day.date().isoformat(), Counter())[outcome.code] += 1
    return {day: dict(days[day].most_common()) for day in sorted(days)}


def _describe_id(distinct_id: str, engine: IdentityEngine) -> dict[str, Any]:
    outcomes = [_outcome_json(o) for o in engine.inputs(distinct_id, include_withdrawn=True)]
    anchors = [
        {"distinct_id": anchor.distinct_id, "input": _input_json(anchor.input)}
        for anchor in engine.anchors(distinct_id)
    ]
    return {
        "distinct_id": distinct_id,
        "canonical_id": engine.resolve(distinct_id),
        "members": sorted(engine.members(distinct_id)),
        "anchors": anchors,
        "inputs": outcomes,
        "refused": [outcome for outcome in outcomes if outcome["status"] == "refused"],
    }


def _explanation(engine: IdentityEngine, a: str, b: str) -> dict[str, Any]:
    found = engine.explain(a, b)
    return {
        "a": found.a,
        "b": found.b,
        "is_linked": found.is_linked,
        "reason": found.reason,
        "path": [_input_json(inp) for inp in found.path],
        "refused": [_outcome_json(outcome) for outcome in found.refused],
    }


def _input_json(inp: IdentityInput) -> dict[str, Any]:
    return {
        "kind": inp.kind.name.lower(),
        "ids": list(inp.ids),
        "time": inp.time_ms,
        "insert_id": inp.insert_id,
        "seq": inp.seq,
    }


def _outcome_json(outcome: Outcome) -> dict[str, Any]:
    if outcome.code is None:
        status, code = "applied", None
    elif outcome.code == WITHDRAWN_CODE:
        status, code = "withdrawn", None
    else:
        status, code = "refused", outcome.code
    return {
        **_input_json(outcome.input),
        "status": status,
        "code": code,
        "description": outcome.description,
    }


# -- Requests --------------------------------------------------------------------------------


async def _read_engine(
    services: Services, project: Project, read: Callable[[IdentityEngine], T]
) -> T:
    """`read` the project's engine on a worker thread, holding the lock the writer takes."""
    engines = services.pipeline.engines

    def locked_read() -> T:
        # Loading an engine reads the store, so it too stays off the event loop.
        engine = engines.get(project)
        with engines.lock:
            return read(engine)

    return await run_in_threadpool(locked_read)


async def _params(request: Request) -> dict[str, str]:
    """Query parameters, and those of a form or JSON object body."""
    params = dict(request.query_params)
    if request.method != "POST":
        return params
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        raise ClientError(f"the body is {len(body)} bytes; these requests need under 64 KiB")
    if request.headers.get("content-type", "").startswith("application/json"):
        params.update(_json_params(body))
    else:
        params.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    return params


def _json_params(body: bytes) -> dict[str, str]:
    try:
        parsed = orjson.loads(body) if body.strip() else {}
    except orjson.JSONDecodeError:
        parsed = None
    if not isinstance(parsed, dict):
        raise ClientError('a JSON body must be an object, like {"insert_id": "..."}')
    params = {}
    for key, value in parsed.items():
        # project_id may come as a number; every parameter is read as text.
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            raise ClientError(f"{key} must be a string in the JSON body, got {value!r:.60}")
        params[key] = value
    return params


def _required(params: Mapping[str, str], name: str, what: str) -> str:
    value = params.get(name, "")
    if not value:
        raise ClientError(f"{name} is required: {what}")
    return value


def _limit(params: Mapping[str, str]) -> int:
    value = params.get("limit") or str(DEFAULT_CLUSTERS_LIMIT)
    if not value.isdigit() or not 1 <= int(value) <= MAX_CLUSTERS_LIMIT:
        raise ClientError(
            f"limit must be a whole number from 1 to {MAX_CLUSTERS_LIMIT}, got {value!r}"
        )
    return int(value)


def _error(exc: ClientError) -> Response:
    return json_response({"error": str(exc), "status": "error"}, exc.status)
