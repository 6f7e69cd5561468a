"""The Query API's reports: segmentation, funnels and retention (SPEC.md §5.3–5.5).

Handlers turn parameters into a spec of kindred.query and run it on a worker thread; the query
package owns the SQL. Every count is per person as resolved at query time.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from kindred.api.auth import authenticate_reader
from kindred.api.params import QueryParams, error_response, read_params
from kindred.api.services import Services, services_of
from kindred.api.wire import json_response
from kindred.errors import ClientError
from kindred.query.buckets import Unit
from kindred.query.funnels import Funnel, Step, funnel
from kindred.query.retention import Kind, Retention, frequency, retention
from kindred.query.segmentation import (
    Measure,
    Segmentation,
    numeric_segmentation,
    segmentation,
    sum_or_average,
)
from kindred.query.source import DAY_MS, EventQuery, ReportStore
from kindred.storage.base import Project

MAX_LIMIT = 10_000
MAX_FUNNEL_DAYS = 90
LENGTH_UNIT_MS = {"second": 1000, "minute": 60_000, "hour": 3_600_000, "day": DAY_MS}
DEFAULT_FUNNEL_LENGTH_DAYS = 7
SEGMENTATION_UNITS = (Unit.MINUTE, Unit.HOUR, Unit.DAY, Unit.WEEK, Unit.MONTH)
CALENDAR_UNITS = (Unit.DAY, Unit.WEEK, Unit.MONTH)

Report = Callable[[Services, Project, QueryParams], Any]


def endpoint(report: Report) -> Callable[[Request], Awaitable[Response]]:
    """A handler that authenticates, reads parameters and runs `report` off the event loop."""

    async def handle(request: Request) -> Response:
        services = services_of(request)
        params = await read_params(request)
        try:
            project = authenticate_reader(request, services.meta, params.values)
            answer = await run_in_threadpool(report, services, project, params)
        except ClientError as exc:
            return error_response(exc)
        return json_response(answer)

    return handle


def reports_store(services: Services) -> ReportStore:
    """The store as reports query it; only the DuckDB store runs report SQL."""
    store = services.store
    if not isinstance(store, ReportStore):
        raise ClientError("reports need the DuckDB event store; this server runs without one")
    return store


# -- Segmentation -----------------------------------------------------------------------------


def segmentation_report(services: Services, project: Project, params: QueryParams) -> Any:
    return segmentation(reports_store(services), _segmentation(project, params))


def numeric_report(services: Services, project: Project, params: QueryParams) -> Any:
    spec = _segmentation(project, params, on_required=True)
    return numeric_segmentation(reports_store(services), spec)


def sum_report(services: Services, project: Project, params: QueryParams) -> Any:
    spec = _segmentation(project, params, on_required=True)
    return sum_or_average(reports_store(services), spec, average=False)


def average_report(services: Services, project: Project, params: QueryParams) -> Any:
    spec = _segmentation(project, params, on_required=True)
    return sum_or_average(reports_store(services), spec, average=True)


def _segmentation(
    project: Project, params: QueryParams, *, on_required: bool = False
) -> Segmentation:
    event = params.required("event", "the name of the event to count")
    from_ms, to_ms = params.date_range_ms()
    on = params.expression("on")
    if on_required and on is None:
        raise ClientError('on is required: an expression such as properties["amount"]')
    return Segmentation(
        events=EventQuery(
            project.id, from_ms, to_ms, names=(event,), where=params.expression("where")
        ),
        unit=params.unit("unit", SEGMENTATION_UNITS, default=Unit.DAY),
        measure=Measure(params.choice("type", ("general", "unique", "average"), default="general")),
        on=on,
        limit=params.integer("limit", default=60, minimum=1, maximum=MAX_LIMIT),
    )


# -- Funnels ----------------------------------------------------------------------------------


def funnel_report(services: Services, project: Project, params: QueryParams) -> Any:
    saved = _saved_definition(services, project, params)
    steps = _steps(params.json("events", "a JSON array of steps") or saved.get("steps"))
    from_ms, to_ms = params.date_range_ms()
    length, length_unit = _window(params, saved)
    unit_name = params.get("unit")
    spec = Funnel(
        events=EventQuery(project.id, from_ms, to_ms, where=params.expression("where")),
        steps=steps,
        window_ms=length * LENGTH_UNIT_MS[length_unit],
        interval_days=params.integer("interval", default=1, minimum=1, maximum=3660),
        unit=None if unit_name is None else Unit.parse(unit_name, "unit", CALENDAR_UNITS),
        on=params.expression("on"),
        limit=params.integer("limit", default=255, minimum=1, maximum=MAX_LIMIT),
    )
    return funnel(reports_store(services), spec)


def funnel_list(services: Services, project: Project, params: QueryParams) -> Any:
    return [{"funnel_id": f.id, "name": f.name} for f in services.meta.funnels(project.id)]


def save_funnel(services: Services, project: Project, params: QueryParams) -> Any:
    """kindred's own: save a funnel, answering its id for `/funnels?funnel_id=`."""
    name = params.required("name", "what to call the funnel")
    events = params.json("events", "a JSON array of steps")
    _steps(events)  # refuse a funnel that could never run
    length, length_unit = _window(params, {})
    definition = {"steps": events, "length": length, "length_unit": length_unit}
    funnel = services.meta.save_funnel(project.id, name, definition)
    return {"funnel_id": funnel.id, "name": funnel.name}


def _saved_definition(services: Services, project: Project, params: QueryParams) -> dict[str, Any]:
    funnel_id = params.get("funnel_id")
    if funnel_id is None:
        return {}
    for saved in services.meta.funnels(project.id):
        if str(saved.id) == funnel_id:
            return saved.definition
    raise ClientError(
        f"funnel_id {funnel_id} is not a saved funnel of this project; see /funnels/list"
    )


def _steps(value: Any) -> tuple[Step, ...]:
    if value is None:
        raise ClientError(
            'events is required (or funnel_id): a JSON array like [{"event": "Signed up"}, '
            '{"event": "Purchased", "where": "properties[\\"amount\\"] > 10"}]'
        )
    if not isinstance(value, list) or len(value) < 2:
        raise ClientError('events must list at least two steps, each {"event": name}')
    steps = []
    for n, item in enumerate(value):
        if not isinstance(item, dict) or not isinstance(item.get("event"), str):
            raise ClientError(f'events[{n}] must be an object with an "event" name, got {item!r}')
        where = item.get("where") or item.get("selector")
        steps.append(Step(item["event"], _step_where(where, n)))
    return tuple(steps)


def _step_where(text: Any, n: int) -> Any:
    if text is None:
        return None
    return QueryParams({f"events[{n}].where": str(text)}).expression(f"events[{n}].where")


def _window(params: QueryParams, saved: dict[str, Any]) -> tuple[int, str]:
    """The conversion window as (`length`, `length_unit`); a saved funnel gives the defaults."""
    unit = params.choice(
        "length_unit", tuple(LENGTH_UNIT_MS), default=str(saved.get("length_unit", "day"))
    )
    default = int(saved.get("length", DEFAULT_FUNNEL_LENGTH_DAYS))
    length = params.integer("length", default=default, minimum=1, maximum=90 * 86_400)
    if length * LENGTH_UNIT_MS[unit] > MAX_FUNNEL_DAYS * DAY_MS:
        raise ClientError(f"length may be at most {MAX_FUNNEL_DAYS} days, got {length} {unit}s")
    return length, unit


# -- Retention --------------------------------------------------------------------------------


def retention_report(services: Services, project: Project, params: QueryParams) -> Any:
    from_ms, to_ms = params.date_range_ms()
    unit = params.unit("unit", CALENDAR_UNITS, default=Unit.DAY)
    spec = Retention(
        events=EventQuery(project.id, from_ms, to_ms, where=params.expression("where")),
        born_event=params.get("born_event"),
        event=params.get("event"),
        born_where=params.expression("born_where"),
        kind=Kind(params.choice("retention_type", ("birth", "compounded"), default="birth")),
        unit=unit,
        interval=params.integer("interval", default=1, minimum=1, maximum=90),
        interval_count=params.integer("interval_count", default=1, minimum=0, maximum=366),
        unbounded=params.flag("unbounded_retention"),
        on=params.expression("on"),
        limit=params.integer("limit", default=255, minimum=1, maximum=MAX_LIMIT),
    )
    return retention(reports_store(services), spec)


def addiction_report(services: Services, project: Project, params: QueryParams) -> Any:
    from_ms, to_ms = params.date_range_ms()
    event = params.get("event")
    events = EventQuery(
        project.id,
        from_ms,
        to_ms,
        names=None if event is None else (event,),
        where=params.expression("where"),
    )
    unit = params.unit("unit", CALENDAR_UNITS, default=Unit.DAY)
    addiction_unit = params.unit("addiction_unit", (Unit.HOUR, Unit.DAY), default=Unit.HOUR)
    return frequency(reports_store(services), events, unit, addiction_unit)
