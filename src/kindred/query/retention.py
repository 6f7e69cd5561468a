"""Retention and frequency (SPEC.md §5.5), per person resolved at query time.

Birth retention: a person's cohort is the bucket of their first-ever `born_event`; they count in
`first` if that falls in the range, and in `counts[i]` if they did the returning `event` (any event
when unset) in the i-th period after their cohort's start; period 0 only counts events at or after
the birth. Compounded retention: every bucket in which a person did `born_event` (or `event`) is a
cohort of theirs. With `unbounded`, a person counts in period i when they came back in period i or
any later one.

Periods are `interval` units long and start at the cohort's bucket: a person born on the 3rd,
with daily units, is back in period 1 on the 4th whatever the hour.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum
from typing import Any

from kindred.errors import ClientError
from kindred.query.buckets import Unit, bucket_sql, buckets, label
from kindred.query.expr import Expr, references_user
from kindred.query.source import (
    DAY_MS,
    EVENT_COLUMNS,
    EventQuery,
    ReportStore,
    events_sql,
    persons_sql,
)
from kindred.query.sql_expr import compile_segment

OVERALL = "$overall"
UNDEFINED_SEGMENT = "undefined"
UNIT_MS = {Unit.DAY: DAY_MS, Unit.WEEK: 7 * DAY_MS}
# The frequency report's slots per bucket: hours of a day, days of a week or month.
SLOTS = {(Unit.DAY, Unit.HOUR): 24, (Unit.WEEK, Unit.DAY): 7, (Unit.MONTH, Unit.DAY): 31}


class Kind(Enum):
    BIRTH = "birth"
    COMPOUNDED = "compounded"


@dataclass(frozen=True, slots=True)
class Retention:
    """`events` gives the project, the range of cohorts and the `where` of returning events."""

    events: EventQuery
    born_event: str | None
    event: str | None = None
    born_where: Expr | None = None
    kind: Kind = Kind.BIRTH
    unit: Unit = Unit.DAY
    interval: int = 1
    interval_count: int = 1
    unbounded: bool = False
    on: Expr | None = None
    limit: int = 255


def retention(store: ReportStore, spec: Retention) -> dict[str, Any]:
    """Mixpanel's retention answer: `{date: {"counts": [n0, n1, ...], "first": cohort size}}`.

    With `on`, a person's segment is the value of `on` on the event that put them in the cohort,
    and each date holds `{"$overall": {...}, segment: {...}}` for the top `limit` segments.
    """
    if spec.kind is Kind.BIRTH and not spec.born_event:
        raise ClientError("born_event is required for birth retention; name the first event")
    periods = spec.interval_count + 1
    cohorts, parameters = _cohorts_sql(spec)
    returns, return_parameters = _returns_sql(spec, periods)
    index = _period_index_sql(spec)
    # Unbounded counts each person once, at the furthest period they reached; _answer adds up.
    period = f"max({index})" if spec.unbounded else index
    sql = f"""
        WITH c AS ({cohorts}), r AS ({returns}),
        reach AS (
            SELECT c.person, c.cohort, c.segment, {period} AS period
            FROM c JOIN r ON r.person = c.person AND r.bucket >= c.cohort AND r.last_ms >= c.born_ms
            WHERE {index} < {periods}
            GROUP BY c.person, c.cohort, c.segment{"" if spec.unbounded else ", period"}
        )
        SELECT cohort, segment, NULL AS period, count(*) FROM c GROUP BY cohort, segment
        UNION ALL
        SELECT cohort, segment, period, count(*) FROM reach GROUP BY ALL
    """
    rows = store.fetch("compute retention", sql, [*parameters, *return_parameters])
    return _answer(spec, rows, periods)


def frequency(
    store: ReportStore, events: EventQuery, unit: Unit, addiction_unit: Unit
) -> dict[str, Any]:
    """`/retention/addiction`: per bucket, how many people did the event in ≥1, ≥2, ... slots."""
    slots = SLOTS.get((unit, addiction_unit))
    if slots is None:
        raise ClientError(
            "unit and addiction_unit must be day and hour, week and day, or month and day; "
            f"got {unit.value} and {addiction_unit.value}"
        )
    base, parameters = events_sql(
        replace(events, dedupe=False),
        [
            "e.person",
            f"{bucket_sql(unit, 'e.time_ms')} AS bucket",
            f"{bucket_sql(addiction_unit, 'e.time_ms')} AS slot",
        ],
    )
    sql = f"""
        WITH per_person AS (
            SELECT bucket, person, count(DISTINCT slot) AS slots FROM ({base}) GROUP BY ALL
        )
        SELECT bucket, slots, count(*) FROM per_person GROUP BY ALL
    """
    people: dict[int, list[int]] = {}
    for bucket, used, count in store.fetch("compute frequency", sql, parameters):
        people.setdefault(bucket, [0] * slots)[min(used, slots) - 1] += count

    data = {}
    for start in buckets(unit, events.from_ms, events.to_ms):
        exactly = people.get(start, [0] * slots)
        # "At least n slots": the people with exactly n, n+1, ... slots.
        at_least = [sum(exactly[n:]) for n in range(slots)]
        data[label(unit, start)] = at_least
    return {"data": data}


def _cohorts_sql(spec: Retention) -> tuple[str, list[Any]]:
    """Rows of (person, cohort bucket start, born_ms): one per birth or per cohort."""
    name = spec.born_event or spec.event
    born = replace(
        spec.events,
        names=None if name is None else (name,),
        where=spec.born_where,
        dedupe=spec.born_where is not None,
    )
    bucket = bucket_sql(spec.unit, "e.time_ms")
    with_user = spec.on is not None and references_user(spec.on)
    segment = "NULL" if spec.on is None else compile_segment(spec.on, EVENT_COLUMNS)
    first_segment = (
        "NULL" if spec.on is None else f"coalesce(arg_min(segment, time_ms), '{UNDEFINED_SEGMENT}')"
    )
    columns = ["e.person", "e.time_ms", f"{segment} AS segment"]
    if spec.kind is Kind.COMPOUNDED:
        base, parameters = events_sql(born, [*columns, f"{bucket} AS cohort"], with_user=with_user)
        sql = f"""
            SELECT person, cohort, min(time_ms) AS born_ms, {first_segment} AS segment
            FROM ({base}) GROUP BY person, cohort
        """
        return sql, parameters

    # A birth is the first time ever: read the born event from the beginning, then keep the
    # people whose first one falls in the range.
    base, parameters = events_sql(replace(born, from_ms=0), columns, with_user=with_user)
    first = f"""
        SELECT person, min(time_ms) AS born_ms, {first_segment} AS segment
        FROM ({base}) GROUP BY person
    """
    cohort = bucket.replace("e.time_ms", "born_ms")
    sql = (
        f"SELECT person, {cohort} AS cohort, born_ms, segment FROM ({first})"
        f" WHERE born_ms >= {spec.events.from_ms}"
    )
    return sql, parameters


def _returns_sql(spec: Retention, periods: int) -> tuple[str, list[Any]]:
    """Rows of (person, bucket, the last event's time in it): what a return needs to know."""
    period_ms = spec.interval * UNIT_MS.get(spec.unit, 31 * DAY_MS)
    returning = replace(
        spec.events,
        names=None if spec.event is None else (spec.event,),
        to_ms=spec.events.to_ms + periods * period_ms,
        dedupe=spec.events.where is not None,
    )
    bucket = bucket_sql(spec.unit, "e.time_ms")
    if returning.where is not None and references_user(returning.where):
        # Reading the profile needs each event's person first.
        base, parameters = events_sql(returning, ["e.person", f"{bucket} AS bucket", "e.time_ms"])
        sql = f"SELECT person, bucket, max(time_ms) AS last_ms FROM ({base}) GROUP BY ALL"
        return sql, parameters

    # Per raw id and bucket first, then resolved: a person with two ids has two rows here, which
    # the `reach` query collapses anyway.
    columns = ["e.id_key", "e.person_key", f"{bucket} AS bucket", "e.time_ms"]
    base, parameters = events_sql(returning, columns, resolve=False)
    per_id = (
        f"SELECT id_key, person_key, bucket, max(time_ms) AS last_ms FROM ({base}) GROUP BY ALL"
    )
    sql, more = persons_sql(per_id, returning)
    return sql, [*parameters, *more]


def _period_index_sql(spec: Retention) -> str:
    if spec.unit is Unit.MONTH:
        months = (
            "date_diff('month', make_timestamp(c.cohort * 1000), make_timestamp(r.bucket * 1000))"
        )
        return f"({months} // {spec.interval})"
    return f"((r.bucket - c.cohort) // {spec.interval * UNIT_MS[spec.unit]})"


def _answer(spec: Retention, rows: list[tuple[Any, ...]], periods: int) -> dict[str, Any]:
    first: dict[tuple[int, str | None], int] = {}
    counts: dict[tuple[int, str | None], list[int]] = {}
    for cohort, segment, period, count in rows:
        if period is None:
            first[(cohort, segment)] = int(count)
        else:
            counts.setdefault((cohort, segment), [0] * periods)[period] = int(count)
    if spec.unbounded:
        # Each person was counted at their furthest period: add up from the far end.
        for row in counts.values():
            for i in range(periods - 2, -1, -1):
                row[i] += row[i + 1]

    def cell(cohort: int, segments: list[str | None]) -> dict[str, Any]:
        return {
            "counts": [
                sum(values)
                for values in zip(
                    *(counts.get((cohort, s), [0] * periods) for s in segments), strict=True
                )
            ],
            "first": sum(first.get((cohort, s), 0) for s in segments),
        }

    starts = buckets(spec.unit, spec.events.from_ms, spec.events.to_ms)
    if spec.on is None:
        return {label(spec.unit, start): cell(start, [None]) for start in starts}

    totals: dict[str, int] = {}
    for (_, segment), size in first.items():
        totals[str(segment)] = totals.get(str(segment), 0) + size
    every = sorted(totals, key=lambda s: (-totals[s], s))
    answer = {}
    for start in starts:
        by_segment: dict[str, Any] = {OVERALL: cell(start, list(every))}
        by_segment.update((segment, cell(start, [segment])) for segment in every[: spec.limit])
        answer[label(spec.unit, start)] = by_segment
    return answer
