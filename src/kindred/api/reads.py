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

import secrets
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import orjson
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from kindred.api.auth import authenticate_reader
from kindred.api.params import QueryParams, error_response, read_params
from kindred.api.reports import reports_store
from kindred.api.services import Services, services_of
from kindred.api.wire import json_response
from kindred.errors import ClientError
from kindred.identity import IdentityEngine, IdentityMode
from kindred.identity.events import (
    IdentityEventError,
    identity_input_from_event,
    may_carry_identity,
)
from kindred.identity.profiles import visible_profile
from kindred.query.events import filtered_events, matching_profiles
from kindred.query.expr import ExpressionError
from kindred.query.source import EventQuery
from kindred.storage.base import Project, StoredEvent, StoredProfile

DAY_MS = 86_400_000
MAX_EXPORT_LIMIT = 100_000
ENGAGE_PAGE_SIZE = 1000
MAX_ENGAGE_PAGE = 1_000_000
EXPORT_CHUNK_LINES = 1000


async def export(request: Request) -> Response:
    services = services_of(request)
    params = await read_params(request)
    try:
        project = authenticate_reader(request, services.meta, params.values)
        from_ms = params.date_ms("from_date")
        to_ms = params.date_ms("to_date") + DAY_MS
        names = params.json_strings("event")
        limit = params.optional_integer("limit", maximum=MAX_EXPORT_LIMIT)
        query = EventQuery(
            project.id,
            from_ms,
            to_ms,
            names=tuple(names) or None,
            where=params.expression("where"),
            with_anonymous=True,
            dedupe=params.flag("dedupe"),
        )
        events = _events_to_export(services, query, limit)
    except ClientError as exc:
        return error_response(exc)

    engines = services.pipeline.engines
    engine = engines.get(project)
    lines = _export_lines(
        project,
        engine,
        engines.lock,
        events,
        in_ms=params.flag("time_in_ms"),
        # With `where`, SQL has deduplicated already, before `where` read the properties.
        dedupe=query.dedupe and query.where is None,
    )
    return StreamingResponse(iterate_in_threadpool(_chunked(lines)), media_type="text/plain")


async def engage_query(request: Request) -> Response:
    services = services_of(request)
    params = await read_params(request)
    try:
        project = authenticate_reader(request, services.meta, params.values)
        page = params.integer("page", default=0, maximum=MAX_ENGAGE_PAGE)
        page_size = params.integer("page_size", default=ENGAGE_PAGE_SIZE, maximum=ENGAGE_PAGE_SIZE)
        if page > 0 and not params.get("session_id"):
            raise ClientError("page > 0 needs the session_id returned with page 0")
        wanted = params.json_strings("distinct_ids")
        distinct_id = params.get("distinct_id")
        if distinct_id is not None:
            wanted.append(distinct_id)
        output = params.json_strings("output_properties")
        matching = await _matching_where(services, project, params)
    except ClientError as exc:
        return error_response(exc)

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
    services: Services, project: Project, params: QueryParams
) -> set[str] | None:
    """The ids of the profiles `where` keeps (of the group key `data_group_id` names, if any),
    hidden ones included; None without `where`."""
    where = params.expression("where")
    if where is None:
        return None
    group_key = params.get("data_group_id")
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


@contextmanager
def _naming_where() -> Iterator[None]:
    """Name the parameter in an error found compiling `where`, as its parse errors do."""
    try:
        yield
    except ExpressionError as exc:
        raise ClientError(f"where: {exc}") from None
