"""Event reports (SPEC.md §5.6), the activity feed, and `where` on the export and engage query.

Every report reads its events through `kindred.query.source.events_sql`, so people are counted by
canonical id (the two ids of one person count once) and duplicates collapse to one copy. Counts
are of events, people, or events per person (`Measure`, as in segmentation): people leave out
the events sent without a distinct id, which have none.

The export and the activity feed return events as stored; `where` on the engage query reads a
profile's properties, under `properties[...]` or `user[...]`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from typing import Any

import orjson

from kindred.errors import ClientError
from kindred.query.buckets import Unit, bucket_sql, bucket_start, buckets, label, next_bucket
from kindred.query.expr import Expr, Property
from kindred.query.segmentation import Measure
from kindred.query.source import (
    DAY_MS,
    EVENT_COLUMNS,
    MAX_RANGE_DAYS,
    EventQuery,
    ReportStore,
    events_sql,
)
from kindred.query.sql_expr import Columns, compile_predicate, compile_segment
from kindred.storage.base import StoredEvent
from kindred.storage.keys import id_key

# A report's series has at most this many points: a month of minutes, five years of hours.
MAX_BUCKETS = 50_000
# The export reads this many events per query when filtered by `where`.
EXPORT_PAGE_ROWS = 10_000
# The shortest each unit can be, to bound a series before listing it.
_UNIT_MIN_MS = {
    Unit.MINUTE: 60_000,
    Unit.HOUR: 3_600_000,
    Unit.DAY: DAY_MS,
    Unit.WEEK: 7 * DAY_MS,
    Unit.MONTH: 28 * DAY_MS,
}
# The columns of every report's rows, named so that `_measure_sql` needs no table alias.
_REPORT_COLUMNS = ("e.event AS event", "e.time_ms AS time_ms", "e.person AS person")
# What the export and the activity feed read of each event, in `StoredEvent`'s order.
_STORED_COLUMNS = (
    "e.project_id",
    "e.seq",
    "e.event",
    "e.distinct_id",
    "e.time_ms",
    "e.insert_id",
    "e.properties",
)
# On a profile, properties["x"] and user["x"] both name the profile's own property.
_PROFILE_COLUMNS = Columns(properties="p.properties", time_ms=None, event=None, user="p.properties")


# -- Time ranges ------------------------------------------------------------------------------


def last_units(unit: Unit, count: int, now_ms: int) -> tuple[int, int]:
    """[from_ms, to_ms) of the `count` units up to and including the one holding `now_ms`: what
    Mixpanel's `interval` means (1 is the current unit only)."""
    most = min(MAX_BUCKETS, MAX_RANGE_DAYS * DAY_MS // _UNIT_MIN_MS[unit])
    if not 1 <= count <= most:
        raise ClientError(
            f"interval must be between 1 (the current {unit.value} only) and {most} when unit "
            f"is {unit.value}, got {count}"
        )
    current = bucket_start(unit, dt.datetime.fromtimestamp(now_ms / 1000, dt.UTC))
    start = current
    for _ in range(count - 1):
        start = bucket_start(unit, start - dt.timedelta(milliseconds=1))
    return _epoch_ms(start), _epoch_ms(next_bucket(unit, current))


def series(unit: Unit, from_ms: int, to_ms: int) -> list[int]:
    """The bucket starts of [from_ms, to_ms), refusing more than MAX_BUCKETS of them."""
    if (to_ms - from_ms) // _UNIT_MIN_MS[unit] >= MAX_BUCKETS:
        raise ClientError(
            f"that range holds more than {MAX_BUCKETS} {unit.value}s; "
            "narrow from_date and to_date, or choose a longer unit"
        )
    return buckets(unit, from_ms, to_ms)


def _epoch_ms(moment: dt.datetime) -> int:
    return int(moment.timestamp() * 1000)


# -- Event reports ----------------------------------------------------------------------------


def event_counts(
    store: ReportStore, events: EventQuery, measure: Measure, unit: Unit
) -> dict[str, Any]:
    """`/events`: each of `events.names` per unit, in segmentation's answer shape. Every name is
    listed, with 0 wherever it did not happen."""
    starts = series(unit, events.from_ms, events.to_ms)
    bucket = bucket_sql(unit, "e.time_ms")
    source, parameters = _report_rows(events, measure, f"{bucket} AS bucket")
    sql = f"SELECT event, bucket, {_measure_sql(measure)} FROM ({source}) GROUP BY ALL"
    rows = store.fetch("count events", sql, parameters)
    return _series_answer(unit, starts, events.names or (), rows)


def top_events(
    store: ReportStore, project_id: int, measure: Measure, *, now_ms: int, limit: int
) -> dict[str, Any]:
    """`/events/top`: today's events, largest first, with the change since yesterday.

    Today is the UTC day holding `now_ms`. It is compared with yesterday up to `now_ms` - 1 day,
    so that a morning is compared with a morning rather than a whole day.
    """
    today_ms = now_ms // DAY_MS * DAY_MS
    events = EventQuery(project_id, today_ms - DAY_MS, today_ms + DAY_MS)
    source, parameters = _report_rows(events, measure)
    today = _measure_sql(measure, f"time_ms >= {today_ms}")
    yesterday = _measure_sql(measure, f"time_ms < {now_ms - DAY_MS}")
    sql = f"""
        SELECT * FROM (
            SELECT event, {today} AS today, {yesterday} AS yesterday FROM ({source}) GROUP BY event
        ) WHERE today > 0 {_first_rows("today DESC, event")}
    """
    rows = store.fetch("rank today's events", sql, [*parameters, limit])
    ranked = [
        {"amount": amount, "event": name, "percent_change": _change(amount, before)}
        for name, amount, before in rows
    ]
    return {"events": ranked, "type": measure.value}


def top_event_names(
    store: ReportStore, events: EventQuery, measure: Measure, limit: int
) -> list[str]:
    """`/events/names`: the `limit` largest events, listed alphabetically as Mixpanel lists them
    (ignoring case)."""
    source, parameters = _report_rows(events, measure)
    sql = f"""
        SELECT event FROM ({source}) GROUP BY event
        {_first_rows(f"{_measure_sql(measure)} DESC, event")}
    """
    rows = store.fetch("rank event names", sql, [*parameters, limit])
    return sorted((name for (name,) in rows), key=lambda name: (name.casefold(), name))


def top_properties(store: ReportStore, events: EventQuery, limit: int) -> dict[str, Any]:
    """`/events/properties/top`: the most common property names, with how many events have each."""
    with_anonymous = replace(events, with_anonymous=True)
    source, parameters = events_sql(with_anonymous, ["unnest(json_keys(e.properties)) AS name"])
    sql = f"""
        SELECT name, count(*) AS n FROM ({source}) GROUP BY name {_first_rows("n DESC, name")}
    """
    rows = store.fetch("rank event properties", sql, [*parameters, limit])
    return {name: {"count": count} for name, count in rows}


def top_values(store: ReportStore, events: EventQuery, name: str, limit: int) -> list[str]:
    """`/events/properties/values`: the most common values of a property, as text, the way
    segments read them (5 is "5", true is "true"). Events without it are left out."""
    value = compile_segment(Property("properties", name), EVENT_COLUMNS)
    source, parameters = events_sql(replace(events, with_anonymous=True), [f"{value} AS value"])
    sql = f"""
        SELECT value, count(*) AS n FROM ({source}) WHERE value IS NOT NULL
        GROUP BY value {_first_rows("n DESC, value")}
    """
    rows = store.fetch("rank property values", sql, [*parameters, limit])
    return [value for value, _ in rows]


def property_counts(
    store: ReportStore,
    events: EventQuery,
    name: str,
    measure: Measure,
    unit: Unit,
    *,
    values: Sequence[str] = (),
    limit: int,
) -> dict[str, Any]:
    """`/events/properties`: the events per unit for each value of property `name`.

    The `limit` values whose amounts add up to the most (as segmentation ranks its segments), of
    those in `values` when it is given; the values asked for are listed even where nothing has
    them.
    """
    starts = series(unit, events.from_ms, events.to_ms)
    value = compile_segment(Property("properties", name), EVENT_COLUMNS)
    bucket = bucket_sql(unit, "e.time_ms")
    source, parameters = _report_rows(events, measure, f"{value} AS value", f"{bucket} AS bucket")
    wanted = "value IS NOT NULL"
    if values:
        wanted += " AND value IN (SELECT unnest(?::VARCHAR[]))"
        parameters.append(list(values))
    sql = f"""
        WITH counts AS MATERIALIZED (
            SELECT value, bucket, {_measure_sql(measure)} AS amount FROM ({source})
            WHERE {wanted} GROUP BY value, bucket
        ),
        top AS (SELECT value FROM counts GROUP BY value {_first_rows("sum(amount) DESC, value")})
        SELECT value, bucket, amount FROM counts WHERE value IN (SELECT value FROM top)
    """
    rows = store.fetch("count events by property", sql, [*parameters, limit])
    legends = [*values, *(row[0] for row in rows)]
    return _series_answer(unit, starts, legends, rows)


def _first_rows(order: str) -> str:
    """SQL keeping the first rows by `order`, as many as the next parameter says.

    Not `ORDER BY ... LIMIT ?`: DuckDB 2.0.1 drops the LIMIT of a query over `events_sql` when
    person_overrides holds no row of the project (usual after compaction) and the query also
    groups or deduplicates; the plan loses the LIMIT once the join's empty side is pruned.
    """
    return f"QUALIFY row_number() OVER (ORDER BY {order}) <= ? ORDER BY {order}"


def _report_rows(events: EventQuery, measure: Measure, *columns: str) -> tuple[str, list[Any]]:
    # Counts of events include those sent without a user; counts of people cannot.
    events = replace(events, with_anonymous=measure is Measure.GENERAL)
    return events_sql(events, [*_REPORT_COLUMNS, *columns])


def _measure_sql(measure: Measure, condition: str = "true") -> str:
    """The aggregate of `measure` over the rows for which `condition` holds."""
    if measure is Measure.GENERAL:
        return f"count(*) FILTER (WHERE {condition})"
    people = f"count(DISTINCT person) FILTER (WHERE {condition})"
    if measure is Measure.UNIQUE:
        return people
    # Rounded as segmentation rounds it.
    return f"coalesce(round(count(*) FILTER (WHERE {condition}) / nullif({people}, 0), 6), 0)"


def _series_answer(
    unit: Unit, starts: list[int], legends: Iterable[str], rows: list[tuple[Any, ...]]
) -> dict[str, Any]:
    """Mixpanel's `{"data": {"series", "values"}, "legend_size"}` from rows of (legend, bucket
    start, amount); every legend has every label, 0 where nothing happened."""
    labels = [label(unit, start) for start in starts]
    values: dict[str, dict[str, Any]] = {legend: dict.fromkeys(labels, 0) for legend in legends}
    for legend, start, amount in rows:
        values[legend][label(unit, start)] = amount
    return {"data": {"series": labels, "values": values}, "legend_size": len(values)}


def _change(today: float, yesterday: float) -> float:
    """Mixpanel's `percent_change`, a fraction: 0.5 is half as much again as yesterday. From
    nothing yesterday, any amount today is 1.0 rather than infinitely more."""
    if not yesterday:
        return 1.0
    return (today - yesterday) / yesterday


# -- Activity feed and export -----------------------------------------------------------------


def activity(store: ReportStore, events: EventQuery, distinct_ids: Sequence[str]) -> dict[str, Any]:
    """`/stream/query`: every event of the people named, oldest first, under their canonical id.

    A person's events carry the key of the person's canonical id, so only a canonical id finds
    them (SPEC.md §5): an id merged into another's cluster finds nothing, which is what Mixpanel
    answers too. `time` is in seconds; the raw id is `$distinct_id_before_identity`.
    """
    people = {id_key(distinct_id): distinct_id for distinct_id in distinct_ids}
    source, parameters = events_sql(events, ["e.person", *_STORED_COLUMNS])
    sql = f"""
        SELECT * FROM ({source}) WHERE person IN (SELECT unnest(?::BIGINT[]))
        ORDER BY time_ms, seq
    """
    rows = store.fetch("read the activity feed", sql, [*parameters, list(people)])
    feed = [_activity_event(people[row[0]], _stored_event(row[1:])) for row in rows]
    return {"status": "ok", "results": {"events": feed}}


def _activity_event(canonical: str, stored: StoredEvent) -> dict[str, Any]:
    properties: dict[str, Any] = {"time": stored.time_ms // 1000, "distinct_id": canonical}
    if stored.insert_id:
        properties["$insert_id"] = stored.insert_id
    properties.update(stored.properties)
    # Mixpanel's example of this endpoint calls the id "$distinct_id"; its export "distinct_id".
    properties["$distinct_id"] = canonical
    if stored.distinct_id != canonical:
        properties["$distinct_id_before_identity"] = stored.distinct_id
    return {"event": stored.event, "properties": properties}


def filtered_events(
    store: ReportStore, events: EventQuery, *, limit: int | None
) -> Iterator[StoredEvent]:
    """The events `events` names (filtered by its `where`), oldest first, ties by seq.

    Read a page at a time: each page's scan starts at the time of the previous page's last event,
    so memory stays flat and each event is read about once. Deduplication compares events of one
    time only, so starting there keeps it exact. The first page's SQL is built now, so that an
    expression SQL cannot hold raises here rather than in the middle of a response.
    """
    asked = _page_rows(limit)
    first_page = _export_page_sql(events, None, asked)
    return _pages(store, events, first_page, asked, limit)


def _pages(
    store: ReportStore,
    events: EventQuery,
    page: tuple[str, list[Any]],
    asked: int,
    limit: int | None,
) -> Iterator[StoredEvent]:
    remaining = limit
    while True:
        # Never more than asked, should DuckDB drop the LIMIT (see _first_rows): the next page
        # starts after the last event given, so the answer stays whole either way.
        rows = store.fetch("export events", *page)[:asked]
        yield from map(_stored_event, rows)

        if remaining is not None:
            remaining -= len(rows)
        if len(rows) < asked or remaining == 0:
            return
        asked = _page_rows(remaining)
        after = (rows[-1][4], rows[-1][1])  # time_ms, seq
        page = _export_page_sql(events, after, asked)


def _export_page_sql(
    events: EventQuery, after: tuple[int, int] | None, limit: int
) -> tuple[str, list[Any]]:
    """The first `limit` events after `after`, the (time_ms, seq) of the previous page's last."""
    after_page = ""
    after_parameters: list[Any] = []
    if after is not None:
        events = replace(events, from_ms=max(events.from_ms, after[0]))
        after_page = "WHERE time_ms > ? OR seq > ?"  # every row has time_ms >= after[0]
        after_parameters = list(after)
    source, parameters = events_sql(events, list(_STORED_COLUMNS))
    # OFFSET 0 keeps the LIMIT: see _first_rows. A page is sorted by DuckDB's top-N, which
    # keeps `limit` rows in memory, where a window function would sort every event left.
    sql = f"SELECT * FROM ({source}) {after_page} ORDER BY time_ms, seq LIMIT ? OFFSET 0"
    return sql, [*parameters, *after_parameters, limit]


def _page_rows(remaining: int | None) -> int:
    return EXPORT_PAGE_ROWS if remaining is None else min(EXPORT_PAGE_ROWS, remaining)


def _stored_event(row: Sequence[Any]) -> StoredEvent:
    project_id, seq, name, distinct_id, time_ms, insert_id, properties = row
    return StoredEvent(
        project_id, seq, name, distinct_id, time_ms, insert_id, orjson.loads(properties)
    )


# -- Profiles ---------------------------------------------------------------------------------


def matching_profiles(
    store: ReportStore, project_id: int, where: Expr, *, group_key: str | None = None
) -> set[str]:
    """The ids of the profiles, hidden or not, for which `where` is true: user profiles by raw
    distinct id, or with `group_key` that key's group profiles by group id."""
    predicate = compile_predicate(where, _PROFILE_COLUMNS)
    if group_key is None:
        sql = f"SELECT p.distinct_id FROM profiles AS p WHERE p.project_id = ? AND {predicate}"
        rows = store.fetch("filter profiles by where", sql, [project_id])
    else:
        sql = f"""
            SELECT p.group_id FROM group_profiles AS p
            WHERE p.project_id = ? AND p.group_key = ? AND {predicate}
        """
        rows = store.fetch("filter group profiles by where", sql, [project_id, group_key])
    return {row[0] for row in rows}
