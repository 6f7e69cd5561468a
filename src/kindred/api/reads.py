"""Read-back APIs: raw export (SPEC.md §5.1) and the profile query (§5.2), on resolved identities.

Both report only canonical ids: an event's `distinct_id` is resolved at read time (Original and
Simplified; Legacy resolved at ingestion), and a profile is listed under its person's canonical id
when it is that person's visible profile.

`where` (Mixpanel's segmentation expressions, kindred.query.expr) is compiled to SQL. On the export
it reads the stored event: its properties, `event["$time"]`, its name and its raw distinct id (the
stored id, not the canonical one the export prints). On the engage query, `properties[...]` and
`user[...]` both read the profile's properties.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from kindred.api.auth import authenticate_reader
from kindred.api.params import QueryParams
from kindred.api.reports import reports_store
from kindred.api.services import Services, services_of
from kindred.api.wire import json_response
from kindred.errors import AuthenticationError, ClientError
from kindred.identity import IdentityEngine, IdentityMode
from kindred.identity.events import (
    IdentityEventError,
    identity_input_from_event,
    may_carry_identity,
)
from kindred.identity.profiles import visible_profile
from kindred.query.events import filtered_events, matching_profiles
from kindred.query.expr import Expr, ExpressionError
from kindred.query.source import EventQuery
from kindred.storage.base import Project, StoredEvent, StoredProfile

DAY_MS = 86_400_000
MAX_EXPORT_LIMIT = 100_000
ENGAGE_PAGE_SIZE = 1000
EXPORT_CHUNK_LINES = 1000


async def export(request: Request) -> Response:
    services = services_of(request)
    params = await _params(request)
    try:
        project = authenticate_reader(request, services.meta, params)
        from_ms = _date_ms(params, "from_date")
        to_ms = _date_ms(params, "to_date") + DAY_MS
        names = _json_list(params, "event")
        limit = _int_param(params, "limit", default=None, maximum=MAX_EXPORT_LIMIT)
        query = EventQuery(
            project.id,
            from_ms,
            to_ms,
            names=tuple(names) or None,
            where=_where(params),
            with_anonymous=True,
            dedupe=_flag(params, "dedupe"),
        )
        events = _events_to_export(services, query, limit)
    except ClientError as exc:
        return _error(exc)

    engines = services.pipeline.engines
    engine = engines.get(project)
    lines = _export_lines(
        project,
        engine,
        engines.lock,
        events,
        in_ms=_flag(params, "time_in_ms"),
        # With `where`, SQL has deduplicated already, before `where` read the properties.
        dedupe=query.dedupe and query.where is None,
    )
    return StreamingResponse(iterate_in_threadpool(_chunked(lines)), media_type="text/plain")


async def engage_query(request: Request) -> Response:
    services = services_of(request)
    params = await _params(request)
    try:
        project = authenticate_reader(request, services.meta, params)
        page = _int_param(params, "page", default=0, maximum=None) or 0
        page_size = _int_param(
            params, "page_size", default=ENGAGE_PAGE_SIZE, maximum=ENGAGE_PAGE_SIZE
        )
        if page > 0 and not params.get("session_id"):
            raise ClientError("page > 0 needs the session_id returned with page 0")
        wanted = _json_list(params, "distinct_ids")
        if params.get("distinct_id"):
            wanted.append(params["distinct_id"])
        output = _json_list(params, "output_properties")
        matching = await _matching_where(services, project, params)
    except ClientError as exc:
        return _error(exc)

    group_key = params.get("data_group_id")
    if group_key:
        people = _group_profiles(services, project, group_key, wanted)
    else:
        engines = services.pipeline.engines
        engine = engines.get(project)
        # Read the profiles before taking the engines' lock, which the writer needs.
        stored = {p.distinct_id: p for p in services.store.all_profiles(project.id)}
        with engines.lock:
            people = _visible_profiles(stored, engine, wanted)
    if matching is not None:
        people = [(key, profile) for key, profile in people if profile.distinct_id in matching]
    page_size = page_size or ENGAGE_PAGE_SIZE
    chosen = people[page * page_size : (page + 1) * page_size]
    results = [
        {"$distinct_id": canonical, "$properties": _pick(profile.properties, output)}
        for canonical, profile in chosen
    ]
    return json_response(
        {
            "page": page,
            "page_size": page_size,
            "session_id": params.get("session_id") or secrets.token_hex(8),
            "status": "ok",
            "total": len(people),
            "results": results,
        }
    )


def _export_lines(
    project: Project,
    engine: IdentityEngine,
    engine_lock: AbstractContextManager[Any],
    events: Iterator[StoredEvent],
    *,
    in_ms: bool,
    dedupe: bool,
) -> Iterator[bytes]:
    if dedupe:
        events = _deduplicated(events)
    resolves_at_read = project.identity_mode is not IdentityMode.LEGACY
    for stored in events:
        properties: dict[str, Any] = {
            "time": stored.time_ms if in_ms else stored.time_ms // 1000,
            "distinct_id": stored.distinct_id,
        }
        if stored.insert_id:
            properties["$insert_id"] = stored.insert_id
        properties.update(stored.properties)
        if resolves_at_read and stored.distinct_id:
            canonical = engine.resolve(stored.distinct_id)
            if canonical != stored.distinct_id:
                properties["distinct_id"] = canonical
                properties["$distinct_id_before_identity"] = stored.distinct_id
        if may_carry_identity(project.identity_mode, stored.event, stored.properties):
            with engine_lock:
                _add_identity_outcome(project, engine, stored, properties)
        yield orjson.dumps({"event": stored.event, "properties": properties}) + b"\n"


def _add_identity_outcome(
    project: Project, engine: IdentityEngine, stored: StoredEvent, properties: dict[str, Any]
) -> None:
    """Mark a refused identity input with its current refusal, which a late input may change."""
    try:
        inp = identity_input_from_event(
            project.identity_mode,
            stored.event,
            {**stored.properties, "distinct_id": stored.distinct_id},
            time_ms=stored.time_ms,
            seq=stored.seq,
            insert_id=stored.insert_id,
            via_import=bool(stored.properties.get("$import")),
        )
    except IdentityEventError:
        return
    if inp is None:
        return
    try:
        outcome = engine.outcome(inp)
    except KeyError:
        return
    if outcome.code is None:
        return
    if project.identity_mode is IdentityMode.SIMPLIFIED:
        properties["$identity_failure_reason"] = outcome.code
    else:
        properties["$failure_reason"] = outcome.code
    properties["$failure_description"] = outcome.description


def _events_to_export(
    services: Services, query: EventQuery, limit: int | None
) -> Iterator[StoredEvent]:
    """Every copy of the events `query` names, oldest first; with `where`, filtered in SQL."""
    if query.where is None:
        return services.store.events(
            query.project_id,
            from_ms=query.from_ms,
            to_ms=query.to_ms,
            names=query.names,
            limit=limit,
        )
    with _naming_where():
        return filtered_events(reports_store(services), query, limit=limit)


def _chunked(lines: Iterator[bytes], size: int = EXPORT_CHUNK_LINES) -> Iterator[bytes]:
    """Lines joined in chunks: each chunk is one hop to the thread pool, not each line."""
    chunk: list[bytes] = []
    for line in lines:
        chunk.append(line)
        if len(chunk) >= size:
            yield b"".join(chunk)
            chunk = []
    if chunk:
        yield b"".join(chunk)


def _deduplicated(events: Iterator[StoredEvent]) -> Iterator[StoredEvent]:
    """One copy per (event, raw id, time, $insert_id): the one ingested last (SPEC-DECISIONS)."""
    latest: dict[tuple[str, str, int, str], StoredEvent] = {}
    without_key: list[StoredEvent] = []
    for stored in events:
        if not stored.insert_id:
            without_key.append(stored)
            continue
        key = (stored.event, stored.distinct_id, stored.time_ms, stored.insert_id)
        if key not in latest or latest[key].seq < stored.seq:
            latest[key] = stored
    kept = [*latest.values(), *without_key]
    kept.sort(key=lambda e: (e.time_ms, e.seq))
    return iter(kept)


def _visible_profiles(
    stored: dict[str, StoredProfile], engine: IdentityEngine, wanted: list[str]
) -> list[tuple[str, StoredProfile]]:
    """(canonical id, visible profile) of every person with one, by canonical id."""
    times = {distinct_id: p.updated_ms for distinct_id, p in stored.items()}
    people: dict[str, StoredProfile] = {}
    for distinct_id in stored:
        canonical = engine.resolve(distinct_id)
        if canonical in people:
            continue
        visible = visible_profile(engine, distinct_id, times)
        if visible is not None:
            people[canonical] = stored[visible]
    if wanted:
        # Only canonical ids find a person (SPEC.md §5 and edge case 81).
        return [(c, people[c]) for c in dict.fromkeys(wanted) if c in people]
    return sorted(people.items())


async def _matching_where(
    services: Services, project: Project, params: Mapping[str, str]
) -> set[str] | None:
    """The ids of the profiles `where` keeps (of the group key `data_group_id` names, if any),
    hidden ones included; None without `where`."""
    where = _where(params)
    if where is None:
        return None
    group_key = params.get("data_group_id") or None
    store = reports_store(services)
    with _naming_where():
        return await run_in_threadpool(
            matching_profiles, store, project.id, where, group_key=group_key
        )


def _group_profiles(
    services: Services, project: Project, group_key: str, wanted: list[str]
) -> list[tuple[str, StoredProfile]]:
    """(group id, profile) of the group key `data_group_id` names (SPEC.md §5.2); kindred has no
    numeric data group ids, so the parameter carries the group key itself."""
    if wanted:
        found = services.store.groups(project.id, group_key, wanted)
        return [(g, found[g]) for g in dict.fromkeys(wanted) if g in found]
    return [(p.distinct_id, p) for p in services.store.all_groups(project.id, group_key)]


def _pick(properties: dict[str, Any], output: list[str]) -> dict[str, Any]:
    if not output:
        return properties
    return {name: properties[name] for name in output if name in properties}


async def _params(request: Request) -> dict[str, str]:
    """Query parameters, and those of a form body (Mixpanel's docs POST the engage query)."""
    params = dict(request.query_params)
    if request.method == "POST":
        body = (await request.body()).decode("utf-8", "replace")
        params.update(parse_qsl(body, keep_blank_values=True))
    return params


def _date_ms(params: Mapping[str, str], name: str) -> int:
    value = params.get(name)
    if not value:
        raise ClientError(f"{name} is required, as yyyy-mm-dd")
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise ClientError(f"{name} {value!r} is not a date; use yyyy-mm-dd") from None
    midnight = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
    return int(midnight.timestamp() * 1000)


def _json_list(params: Mapping[str, str], name: str) -> list[str]:
    value = params.get(name)
    if not value:
        return []
    try:
        parsed = orjson.loads(value)
    except orjson.JSONDecodeError:
        raise ClientError(f'{name} must be a JSON array of strings, like ["a", "b"]') from None
    if isinstance(parsed, str):
        return [parsed]
    if not isinstance(parsed, list) or not all(isinstance(v, str) for v in parsed):
        raise ClientError(f'{name} must be a JSON array of strings, like ["a", "b"]')
    return parsed


def _int_param(
    params: Mapping[str, str], name: str, *, default: int | None, maximum: int | None
) -> int | None:
    value = params.get(name)
    if value is None or value == "":
        return default
    if not value.isdigit():
        raise ClientError(f"{name} must be a whole number, got {value!r}")
    number = int(value)
    if maximum is not None and number > maximum:
        raise ClientError(f"{name} may be at most {maximum}, got {number}")
    return number


def _where(params: Mapping[str, str]) -> Expr | None:
    """The `where` expression; a 400 naming the position where it is wrong."""
    return QueryParams(params).expression("where")


@contextmanager
def _naming_where() -> Iterator[None]:
    """Name the parameter in an error found compiling `where`, as its parse errors do."""
    try:
        yield
    except ExpressionError as exc:
        raise ClientError(f"where: {exc}") from None


def _flag(params: Mapping[str, str], name: str) -> bool:
    return params.get(name, "").lower() in ("1", "true", "yes")


def _error(exc: ClientError) -> Response:
    if isinstance(exc, AuthenticationError):
        return json_response({"error": str(exc), "status": "error"}, 401)
    return json_response({"error": str(exc), "status": "error"}, exc.status)
