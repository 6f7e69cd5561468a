"""Funnels (SPEC.md §5.4): who did these events in order, within a window, counted per person.

An attempt starts at a person's first step-1 event in a date bucket (later step-1 events in that
bucket do not restart it), and each next step is the person's first event of that step at or after
the previous step, all within `window_ms` of the attempt's start. People are counted once per
bucket, and once per segment of `on` (the segment of the attempt's first event). Events past
`to_date` are read for completions.

Each step is one ASOF join: for every attempt, the first matching event at or after the previous
step's time. DuckDB sorts each step's events once, so a funnel costs a few scans and sorts of the
events involved, whatever the number of people.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from kindred.query.buckets import Unit, bucket_sql, buckets, label
from kindred.query.expr import BoolOp, Expr, references_user
from kindred.query.source import DAY_MS, EVENT_COLUMNS, EventQuery, ReportStore, events_sql
from kindred.query.sql_expr import compile_segment

OVERALL = "$overall"
UNDEFINED_SEGMENT = "undefined"


@dataclass(frozen=True, slots=True)
class Step:
    event: str
    where: Expr | None = None


@dataclass(frozen=True, slots=True)
class Funnel:
    """A funnel over the attempts that start in `events`' range (its names are ignored).

    Buckets are `interval_days` long from `from_ms`, or calendar `unit`s when `unit` is set.
    """

    events: EventQuery
    steps: tuple[Step, ...]
    window_ms: int
    interval_days: int = 1
    unit: Unit | None = None
    on: Expr | None = None
    limit: int = 255


def funnel(store: ReportStore, spec: Funnel) -> dict[str, Any]:
    """Mixpanel's funnel answer: `{"meta": {"dates"}, "data": {date: {"steps", "analysis"}}}`.

    With `on`, each date holds `{segment: [steps...]}` for the top `limit` segments, and
    "$overall" for everyone.
    """
    rows = _attempt_counts(store, spec)
    starts = _bucket_starts(spec)
    dates = [label(Unit.DAY, start) for start in starts]
    counts: dict[tuple[int, str | None], list[Any]] = {}
    for row in rows:
        counts[(row[0], row[1])] = list(row[2:])

    data: dict[str, Any] = {}
    if spec.on is None:
        for start, date in zip(starts, dates, strict=True):
            data[date] = _steps_and_analysis(spec.steps, counts.get((start, None)))
        return {"meta": {"dates": dates}, "data": data}

    segments = _top_segments(counts, spec.limit)
    for start, date in zip(starts, dates, strict=True):
        by_segment = {
            segment: _steps_and_analysis(spec.steps, counts.get((start, segment)))["steps"]
            for segment in segments
        }
        overall = _sum_segments([counts[key] for key in counts if key[0] == start])
        data[date] = {OVERALL: _steps_and_analysis(spec.steps, overall)["steps"], **by_segment}
    return {"meta": {"dates": dates}, "data": data}


def _attempt_counts(store: ReportStore, spec: Funnel) -> list[tuple[Any, ...]]:
    """Rows of (bucket start, segment, count per step..., sum of step times per step...)."""
    ctes, parameters = [], []
    first, first_parameters = _first_step_sql(spec)
    ctes.append(f"j0 AS ({first})")
    parameters += first_parameters
    for n, step in enumerate(spec.steps[1:], start=1):
        query = _step_query(spec, step, until_ms=spec.events.to_ms + spec.window_ms)
        sql, step_parameters = events_sql(query, ["e.person", "e.time_ms AS t"])
        ctes.append(f"s{n} AS ({sql})")
        parameters += step_parameters
        # A step repeating the previous one's event needs a later event than that one.
        after = ">" if step.event == spec.steps[n - 1].event else ">="
        ctes.append(
            f"j{n} AS (SELECT j{n - 1}.*, s{n}.t AS t{n} FROM j{n - 1} ASOF LEFT JOIN s{n}"
            f" ON j{n - 1}.person = s{n}.person AND s{n}.t {after} j{n - 1}.t{n - 1})"
        )

    last = len(spec.steps) - 1
    within = [f"t{n} < t0 + {spec.window_ms}" for n in range(1, len(spec.steps))]
    measures = ["count(*)"]
    measures += [f"count(*) FILTER (WHERE {condition})" for condition in within]
    measures += [
        f"sum(t{n} - t{n - 1}) FILTER (WHERE {within[n - 1]})" for n in range(1, len(spec.steps))
    ]
    measures += [
        f"sum(t{n} - t0) FILTER (WHERE {within[n - 1]})" for n in range(1, len(spec.steps))
    ]
    sql = (
        f"WITH {', '.join(ctes)} SELECT bucket, segment, {', '.join(measures)}"
        f" FROM j{last} GROUP BY ALL"
    )
    return store.fetch("compute a funnel", sql, parameters)


def _first_step_sql(spec: Funnel) -> tuple[str, list[Any]]:
    """Each person's attempt per bucket: the first step-1 event, with its segment."""
    query = _step_query(spec, spec.steps[0], until_ms=spec.events.to_ms)
    segment = "NULL" if spec.on is None else compile_segment(spec.on, EVENT_COLUMNS)
    with_user = spec.on is not None and references_user(spec.on)
    base, parameters = events_sql(
        query,
        ["e.person", "e.time_ms", f"{_bucket_sql(spec)} AS bucket", f"{segment} AS segment"],
        with_user=with_user,
    )
    if spec.on is None:
        first_segment = "NULL"
    else:
        first_segment = f"coalesce(arg_min(segment, time_ms), '{UNDEFINED_SEGMENT}')"
    sql = f"""
        SELECT person, bucket, min(time_ms) AS t0, {first_segment} AS segment
        FROM ({base}) GROUP BY person, bucket
    """
    return sql, parameters


def _step_query(spec: Funnel, step: Step, *, until_ms: int) -> EventQuery:
    where = _both(spec.events.where, step.where)
    # Whether a person did an event at a time does not change with duplicates: skip collapsing
    # them unless a `where` reads the properties of one copy.
    return replace(
        spec.events,
        names=(step.event,),
        where=where,
        to_ms=until_ms,
        with_anonymous=False,
        dedupe=where is not None,
    )


def _both(a: Expr | None, b: Expr | None) -> Expr | None:
    if a is None or b is None:
        return a if b is None else b
    return BoolOp("and", (a, b))


def _bucket_sql(spec: Funnel) -> str:
    if spec.unit is not None:
        return bucket_sql(spec.unit, "e.time_ms")
    size = spec.interval_days * DAY_MS
    start = spec.events.from_ms
    return f"((e.time_ms - {start}) // {size} * {size} + {start})"


def _bucket_starts(spec: Funnel) -> list[int]:
    if spec.unit is not None:
        return buckets(spec.unit, spec.events.from_ms, spec.events.to_ms)
    size = spec.interval_days * DAY_MS
    return list(range(spec.events.from_ms, spec.events.to_ms, size))


def _steps_and_analysis(steps: Sequence[Step], counts: list[Any] | None) -> dict[str, Any]:
    n = len(steps)
    if counts is None:
        counts = [0] * n + [None] * (2 * (n - 1))
    converted = [int(c) for c in counts[:n]]
    step_times = counts[n : 2 * n - 1]
    start_times = counts[2 * n - 1 :]

    answer = []
    for i, step in enumerate(steps):
        previous = converted[i - 1] if i else converted[0]
        answer.append(
            {
                "count": converted[i],
                "avg_time": _average_seconds(step_times[i - 1], converted[i]) if i else None,
                "avg_time_from_start": (
                    _average_seconds(start_times[i - 1], converted[i]) if i else None
                ),
                "step_conv_ratio": _ratio(converted[i], previous) if i else 1,
                "overall_conv_ratio": _ratio(converted[i], converted[0]) if i else 1,
                "goal": step.event,
                "event": step.event,
            }
        )
    drops = [_ratio(converted[i], converted[i - 1]) for i in range(1, n)]
    worst = 1 + drops.index(min(drops)) if drops else 0
    analysis = {
        "completion": converted[-1],
        "starting_amount": converted[0],
        "steps": n,
        "worst": worst,
    }
    return {"steps": answer, "analysis": analysis}


def _average_seconds(total_ms: Any, count: int) -> int | None:
    if not count or total_ms is None:
        return None
    return round(float(total_ms) / count / 1000)


def _ratio(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def _top_segments(counts: dict[tuple[int, str | None], list[Any]], limit: int) -> list[str]:
    totals: dict[str, int] = {}
    for (_, segment), row in counts.items():
        if segment is not None:
            totals[segment] = totals.get(segment, 0) + int(row[0])
    return sorted(totals, key=lambda s: (-totals[s], s))[:limit]


def _sum_segments(rows: list[list[Any]]) -> list[Any] | None:
    if not rows:
        return None
    return [sum(value or 0 for value in column) for column in zip(*rows, strict=True)]
