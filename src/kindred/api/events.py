"""The Query API's event breakdown and activity feed (SPEC.md §5.6).

`/events` counts events over time, `/events/top` ranks today's events and `/events/names` the last
31 days'; `/events/properties/top` and `/events/properties/values` list an event's properties and a
property's values; `/events/properties` counts one event by a property over time; `/stream/query`
lists what people did. Each handler reads parameters into a call of kindred.query.events, which
owns the SQL; `kindred.api.reports.endpoint` authenticates and runs it off the event loop.
"""

from __future__ import annotations

from typing import Any

from kindred.api.params import QueryParams
from kindred.api.reports import MAX_LIMIT, reports_store
from kindred.api.services import Services
from kindred.errors import ClientError
from kindred.query.buckets import Unit
from kindred.query.events import (
    MAX_BUCKETS,
    activity,
    event_counts,
    last_units,
    property_counts,
    top_event_names,
    top_events,
    top_properties,
    top_values,
)
from kindred.query.segmentation import Measure
from kindred.query.source import DAY_MS, EventQuery
from kindred.storage.base import Project

RECENT_DAYS = 31  # what /events/names and the property lists look back over, today included
EVENT_NAME = "the name of one event"
PROPERTY_NAME = "the name of one property"


def events_report(services: Services, project: Project, params: QueryParams) -> Any:
    """`/events`: each named event per unit; `event` is a JSON array of names."""
    names = params.json_strings("event")
    if not names:
        raise ClientError('event is required: a JSON array of event names, like ["Signed Up"]')
    unit = _unit(params)
    from_ms, to_ms = _range(params, unit, services.clock_ms())
    events = EventQuery(project.id, from_ms, to_ms, names=tuple(dict.fromkeys(names)))
    return event_counts(reports_store(services), events, _measure(params), unit)


def top_events_report(services: Services, project: Project, params: QueryParams) -> Any:
    """`/events/top`: today's events, largest first, with the change since yesterday."""
    limit = _limit(params, default=100)
    now_ms = services.clock_ms()
    return top_events(
        reports_store(services), project.id, _measure(params), now_ms=now_ms, limit=limit
    )


def event_names_report(services: Services, project: Project, params: QueryParams) -> Any:
    """`/events/names`: the most common events of the last 31 days."""
    events = _recent(project, services.clock_ms())
    limit = _limit(params, default=255)
    return top_event_names(reports_store(services), events, _measure(params), limit)


def top_properties_report(services: Services, project: Project, params: QueryParams) -> Any:
    """`/events/properties/top`: an event's most common property names."""
    name = params.required("event", EVENT_NAME)
    events = _recent(project, services.clock_ms(), event=name)
    return top_properties(reports_store(services), events, _limit(params, default=10))


def top_values_report(services: Services, project: Project, params: QueryParams) -> Any:
    """`/events/properties/values`: a property's most common values on an event. Mixpanel's
    `values` and `bucket` filters of this list are accepted and ignored."""
    name = params.required("event", EVENT_NAME)
    prop = params.required("name", PROPERTY_NAME)
    events = _recent(project, services.clock_ms(), event=name)
    return top_values(reports_store(services), events, prop, _limit(params, default=255))


def event_properties_report(services: Services, project: Project, params: QueryParams) -> Any:
    """`/events/properties`: one event per unit, for each value of one property."""
    name = params.required("event", EVENT_NAME)
    prop = params.required("name", PROPERTY_NAME)
    unit = _unit(params)
    from_ms, to_ms = _range(params, unit, services.clock_ms())
    return property_counts(
        reports_store(services),
        EventQuery(project.id, from_ms, to_ms, names=(name,)),
        prop,
        _measure(params),
        unit,
        values=params.json_strings("values"),
        limit=_limit(params, default=255),
    )


def stream_report(services: Services, project: Project, params: QueryParams) -> Any:
    """`/stream/query`: every event of the people `distinct_ids` names, by canonical id."""
    wanted = params.json_strings("distinct_ids")
    if not wanted:
        raise ClientError('distinct_ids is required: a JSON array of ids, like ["u1"]')
    from_ms, to_ms = params.date_range_ms()
    return activity(reports_store(services), EventQuery(project.id, from_ms, to_ms), wanted)


def _measure(params: QueryParams) -> Measure:
    return Measure(params.choice("type", tuple(m.value for m in Measure), default="general"))


def _unit(params: QueryParams) -> Unit:
    params.choice("format", ("json",), default="json")
    return params.unit("unit", tuple(Unit), default=Unit.DAY)


def _limit(params: QueryParams, *, default: int) -> int:
    return params.integer("limit", default=default, minimum=1, maximum=MAX_LIMIT)


def _range(params: QueryParams, unit: Unit, now_ms: int) -> tuple[int, int]:
    """[from_ms, to_ms) of `from_date` and `to_date`, else of the last `interval` units."""
    if params.get("from_date") or params.get("to_date"):
        return params.date_range_ms()
    if params.get("interval") is None:
        raise ClientError(
            "give from_date and to_date (yyyy-mm-dd), or interval: how many units back, "
            "1 being the current one"
        )
    count = params.integer("interval", default=1, minimum=1, maximum=MAX_BUCKETS)
    return last_units(unit, count, now_ms)


def _recent(project: Project, now_ms: int, *, event: str | None = None) -> EventQuery:
    """The events of the last 31 UTC days, today included."""
    to_ms = now_ms // DAY_MS * DAY_MS + DAY_MS
    names = None if event is None else (event,)
    return EventQuery(project.id, to_ms - RECENT_DAYS * DAY_MS, to_ms, names=names)
