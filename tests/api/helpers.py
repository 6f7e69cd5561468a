"""Building Mixpanel payloads and sending them to the live server, as the official clients do."""

from __future__ import annotations

import base64
import datetime as dt
import time
import uuid
from typing import Any

import httpx
import orjson

from kindred.storage.base import Project

JSON = {"content-type": "application/json"}
VERBOSE_OK = {"status": 1, "error": None}
DAY_S = 86_400
HOUR_S = 3600
# Reports' fixed datasets start here: a Monday, in the past, so that /import takes them.
MONDAY = dt.datetime(2026, 11, 2, tzinfo=dt.UTC)


def now_s() -> int:
    return int(time.time())


def new_insert_id() -> str:
    return uuid.uuid4().hex


def event(token: str, name: str = "A", **properties: Any) -> dict[str, Any]:
    """A /track event carrying `token`, as the SDKs send it."""
    return {"event": name, "properties": {"token": token, **properties}}


def importable(name: str = "A", **properties: Any) -> dict[str, Any]:
    """An event that `/import?strict=1` accepts: it has a recent time and an `$insert_id`."""
    defaults = {"time": now_s() - 3600, "$insert_id": new_insert_id()}
    return {"event": name, "properties": {**defaults, **properties}}


def encode_json(payload: Any) -> str:
    return orjson.dumps(payload).decode()


def encode_base64(payload: Any) -> str:
    return base64.b64encode(orjson.dumps(payload)).decode()


def track(http: httpx.Client, payload: Any, path: str = "/track", **params: Any) -> httpx.Response:
    """POST a form body `data=<JSON>`, the Python SDK's way; `params` go in the query."""
    return http.post(path, params=params, data={"data": encode_json(payload)})


def post_json(
    http: httpx.Client,
    path: str,
    payload: Any,
    project: Project | None = None,
    **params: Any,
) -> httpx.Response:
    """POST a raw JSON body, authenticated by `project`'s secret when given."""
    content = orjson.dumps(payload)
    if project is None:
        return http.post(path, params=params, content=content, headers=JSON)
    return http.post(path, params=params, content=content, headers=JSON, auth=(project.secret, ""))


def import_events(
    http: httpx.Client,
    project: Project,
    events: list[dict[str, Any]],
    path: str = "/import",
    **params: Any,
) -> httpx.Response:
    """`/import` a JSON array with the project secret, as mixpanel-utils does."""
    return post_json(http, path, events, project, **params)


def engage(
    http: httpx.Client, records: Any, path: str = "/engage", **params: Any
) -> httpx.Response:
    """POST profile (or, with `path="/groups"`, group) updates as a form `data=<JSON>`; verbose
    unless told otherwise."""
    return track(http, records, path, **{"verbose": 1, **params})


def profile_update(token: str, distinct_id: str, **operation: Any) -> dict[str, Any]:
    return {"$token": token, "$distinct_id": distinct_id, **operation}


def by_name(events: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Exported events keyed by event name (each name appearing once)."""
    found = {e["event"]: e["properties"] for e in events}
    assert len(found) == len(events), [e["event"] for e in events]
    return found


def at(days: float = 0, hours: float = 0, seconds: float = 0) -> int:
    """Epoch seconds, counted from MONDAY."""
    return int(MONDAY.timestamp() + days * DAY_S + hours * HOUR_S + seconds)


def dated(name: str, distinct_id: str, time_s: int, **properties: Any) -> dict[str, Any]:
    """An importable event at `time_s` (epoch seconds), with an `$insert_id` of its own."""
    defaults = {"distinct_id": distinct_id, "time": time_s, "$insert_id": new_insert_id()}
    return {"event": name, "properties": {**defaults, **properties}}


def send_dated(http: httpx.Client, project: Project, *events: dict[str, Any]) -> None:
    """`/import?strict=1` the events, every one of which must be accepted."""
    response = import_events(http, project, list(events), strict=1)
    assert response.status_code == 200, response.text


def query_api(http: httpx.Client, project: Project, path: str, **params: Any) -> Any:
    """GET `/api/query<path>` with the project's secret; the answer must be a 200."""
    response = http.get(f"/api/query{path}", params=params, auth=(project.secret, ""))
    assert response.status_code == 200, response.text
    return response.json()
