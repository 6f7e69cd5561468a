"""The events a report reads: one project, a time range, some names, each event with its person.

Every report counts people by `person`, the key of the canonical id (kindred.storage.keys). An
event stores the person it resolved to when it was written; a merge, a late identity input or an
unmerge since then is in `person_overrides`, so the person is `coalesce(override, stored)`: a join
against a table that the writer keeps small by folding it into the events. A merge therefore shows
in the very next report, without rewriting any event first.

Duplicates (same name, raw id, time and `$insert_id`) collapse to the copy ingested last, before
`where` sees its properties (SPEC-DECISIONS, "Events, time, dedup"). Reports that only ask whether a
person did something at a time can skip that work: a duplicate changes neither answer.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any, Protocol, runtime_checkable

from kindred.errors import ClientError
from kindred.query.expr import Expr, references_user
from kindred.query.sql_expr import Columns, compile_predicate

DAY_MS = 86_400_000
EVENT_COLUMNS = Columns(
    properties="e.properties",
    time_ms="e.time_ms",
    event="e.event",
    user="u.properties",
    distinct_id="e.distinct_id",
)
# A report never reads more than this many days at once: beyond it a typo in a date, not a
# question, is the likely cause, and the scan would take minutes.
MAX_RANGE_DAYS = 3660


@runtime_checkable
class ReportStore(Protocol):
    """What reports need of a store: one read-only query at a time (DuckDBEventStore has it)."""

    def fetch(
        self, action: str, sql: str, parameters: Sequence[Any] = ()
    ) -> list[tuple[Any, ...]]: ...


class Persons(Enum):
    """Where a report reads each event's person from."""

    # The stored person, re-pointed by any pending override: always right.
    CURRENT = "current"
    # The stored person only: right once every override is folded in. The benchmarks' baseline.
    STORED = "stored"


@dataclass(frozen=True, slots=True)
class EventQuery:
    """Which events a report reads.

    `names` None means every event. `to_ms` is exclusive. `with_anonymous` keeps the events sent
    without a distinct id, which counts of events include and counts of people leave out.
    """

    project_id: int
    from_ms: int
    to_ms: int
    names: tuple[str, ...] | None = None
    where: Expr | None = None
    with_anonymous: bool = False
    dedupe: bool = True
    persons: Persons = Persons.CURRENT


def events_sql(
    query: EventQuery, columns: Sequence[str], *, with_user: bool = False, resolve: bool = True
) -> tuple[str, list[Any]]:
    """A SELECT of `columns` from the events `query` names, and its parameters.

    Columns are SQL over `e`: the events table's columns plus `e.person`, the person key. With
    `with_user` (or a `where` that reads `user[...]`), `u.properties` is the person's profile.
    Without `resolve`, `e.person` is left out and so is the join that finds it: for counts of
    events, which need no person.
    """
    with_user = with_user or (query.where is not None and references_user(query.where))
    if not resolve:
        person = ""
    elif query.persons is Persons.STORED:
        person = ", e.person_key AS person"
    else:
        person = ", coalesce(o.person_key, e.person_key) AS person"
    if with_user and not resolve:
        raise ValueError("user properties need the person: resolve the events first")
    conditions = ["e.project_id = ?", "e.time_ms >= ?", "e.time_ms < ?"]
    parameters: list[Any] = [query.project_id, query.from_ms, query.to_ms]
    if query.names is not None:
        conditions.append("e.event IN (SELECT unnest(?::VARCHAR[]))")
        parameters.append(list(query.names))
    if not query.with_anonymous:
        conditions.append("e.id_key <> 0")

    joins = ""
    if query.persons is Persons.CURRENT and resolve:
        joins += (
            " LEFT JOIN person_overrides AS o"
            " ON o.project_id = e.project_id AND o.id_key = e.id_key"
        )
    filters = " AND ".join(conditions)
    inner = f"SELECT e.*{person} FROM events AS e{joins} WHERE {filters}"
    if query.dedupe:
        inner += (
            " QUALIFY e.insert_id = '' OR row_number() OVER"
            " (PARTITION BY e.event, e.id_key, e.time_ms, e.insert_id ORDER BY e.seq DESC) = 1"
        )

    user_join = ""
    if with_user:
        # The person's profile is the one stored under the canonical id ("Profiles" in
        # SPEC-DECISIONS): updates sent under any member are routed there.
        user_join = (
            " LEFT JOIN profiles AS u ON u.project_id = e.project_id AND u.id_key = e.person"
        )
    where = ""
    if query.where is not None:
        where = f" WHERE {compile_predicate(query.where, EVENT_COLUMNS)}"
    return f"SELECT {', '.join(columns)} FROM ({inner}) AS e{user_join}{where}", parameters


def persons_sql(relation: str, query: EventQuery) -> tuple[str, list[Any]]:
    """`relation`, aggregated per raw id, with each row's `person` added; and its parameters.

    `relation` has the columns `id_key` and `person_key` (the stored person of that id's events).
    Resolving after aggregating probes the overrides once per row of `relation` instead of once
    per event. It is exact because an id without an override has one stored person for all its
    events: every change of an id's person writes an override, and folding the override rewrites
    all of that id's events at once.
    """
    if query.persons is Persons.STORED:
        return f"SELECT r.*, r.person_key AS person FROM ({relation}) AS r", []
    sql = (
        f"SELECT r.*, coalesce(o.person_key, r.person_key) AS person FROM ({relation}) AS r"
        " LEFT JOIN person_overrides AS o ON o.project_id = ? AND o.id_key = r.id_key"
    )
    return sql, [query.project_id]


# -- Dates ------------------------------------------------------------------------------------


def parse_date(value: str, name: str) -> dt.date:
    """A yyyy-mm-dd parameter, or a 400 that names it."""
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ClientError(f"{name} must be a date written yyyy-mm-dd, got {value!r}") from None


def date_range_ms(from_date: dt.date, to_date: dt.date) -> tuple[int, int]:
    """Epoch milliseconds from the start of `from_date` to the end of `to_date`, in UTC."""
    if to_date < from_date:
        raise ClientError(f"to_date {to_date} is before from_date {from_date}; swap them")
    if (to_date - from_date).days > MAX_RANGE_DAYS:
        raise ClientError(f"from_date to to_date spans more than {MAX_RANGE_DAYS} days; narrow it")
    start = dt.datetime.combine(from_date, dt.time(), dt.UTC)
    end = dt.datetime.combine(to_date + dt.timedelta(days=1), dt.time(), dt.UTC)
    return int(start.timestamp() * 1000), int(end.timestamp() * 1000)
