"""Event reports, the activity feed and the read APIs' filters, run in a real DuckDB store."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kindred.errors import ClientError
from kindred.ingest.model import EventRecord
from kindred.query import events as reports
from kindred.query.buckets import Unit
from kindred.query.events import (
    activity,
    event_counts,
    filtered_events,
    last_units,
    matching_profiles,
    property_counts,
    series,
    top_event_names,
    top_events,
    top_properties,
    top_values,
)
from kindred.query.expr import ExpressionError, parse
from kindred.query.segmentation import Measure
from kindred.query.source import EventQuery
from kindred.storage.base import WriteBatch
from kindred.storage.duckdb_store import DuckDBEventStore

P = 1  # the project


def ms(text: str) -> int:
    return int(dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC).timestamp() * 1000)


D1 = ms("2026-11-02")
D2 = ms("2026-11-03")
HOUR = 3_600_000


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DuckDBEventStore]:
    opened = DuckDBEventStore(tmp_path / "kindred.duckdb")
    yield opened
    opened.close()


class Writer:
    """Writes events with consecutive seqs, each under the person given (its raw id if none)."""

    def __init__(self, store: DuckDBEventStore) -> None:
        self.store = store
        self.seq = 0

    def event(
        self,
        name: str,
        distinct_id: str,
        time_ms: int,
        insert_id: str = "",
        person: str | None = None,
        **properties: Any,
    ) -> None:
        record = EventRecord(name, distinct_id, time_ms, insert_id, properties)
        persons = {} if person is None else {self.seq: person}
        self.store.write(WriteBatch(events=[(P, self.seq, record)], persons=persons))
        self.seq += 1


@pytest.fixture
def writer(store: DuckDBEventStore) -> Writer:
    return Writer(store)


def two_days(names: tuple[str, ...] | None = None) -> EventQuery:
    return EventQuery(P, D1, D2 + 86_400_000, names=names)


def write_people(writer: Writer) -> None:
    """Device d1 and user u1 are one person (d1's later events stored under u1; its earlier ones
    re-pointed by an override); u2 is another; one event has no user; one is sent twice."""
    writer.event("Viewed", "d1", D1 + 1 * HOUR, "i1", plan="free")
    writer.event("Viewed", "u1", D1 + 2 * HOUR, "i2", plan="pro", n=5)
    writer.event("Viewed", "u1", D1 + 2 * HOUR, "i2", plan="pro", n=5)  # a duplicate
    writer.event("Viewed", "u2", D1 + 3 * HOUR, "i3", plan="pro", n=2.5)
    writer.event("Viewed", "", D1 + 4 * HOUR, "i4", plan="free")
    writer.event("Viewed", "d1", D2 + 1 * HOUR, "i5", person="u1", plan="pro")
    writer.event("Bought", "u1", D2 + 2 * HOUR, "i6")
    writer.store.write(WriteBatch(overrides=[(P, "d1", "u1")]))


# -- Time ranges ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("unit", "count", "now", "expected"),
    [
        pytest.param(Unit.DAY, 1, "2026-11-04T13:00", ("2026-11-04", "2026-11-05"), id="today"),
        pytest.param(Unit.DAY, 3, "2026-11-04T13:00", ("2026-11-02", "2026-11-05"), id="3-days"),
        pytest.param(Unit.HOUR, 2, "2026-11-04T13:30", ("2026-11-04T12:00", "2026-11-04T14:00")),
        pytest.param(Unit.WEEK, 2, "2026-11-04T13:00", ("2026-10-26", "2026-11-09"), id="weeks"),
        pytest.param(Unit.MONTH, 2, "2026-01-15", ("2025-12-01", "2026-02-01"), id="new-year"),
    ],
)
def test_interval_counts_back_whole_units_from_the_current_one(
    unit: Unit, count: int, now: str, expected: tuple[str, str]
) -> None:
    assert last_units(unit, count, ms(now)) == (ms(expected[0]), ms(expected[1]))


@pytest.mark.parametrize(
    ("unit", "count"), [(Unit.DAY, 0), (Unit.DAY, 3661), (Unit.MINUTE, 50_001)]
)
def test_interval_out_of_range_is_refused_naming_the_limit(unit: Unit, count: int) -> None:
    with pytest.raises(ClientError, match="interval must be between 1"):
        last_units(unit, count, D1)


def test_a_series_of_too_many_points_is_refused() -> None:
    assert len(series(Unit.MINUTE, D1, D1 + 10 * 60_000)) == 10
    with pytest.raises(ClientError, match="choose a longer unit"):
        series(Unit.MINUTE, D1, D1 + 365 * 86_400_000)


# -- Event reports ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("measure", "viewed", "bought"),
    [
        # d1, u1 (the duplicate once), u2 and the event without a user.
        pytest.param(Measure.GENERAL, [4, 1], [0, 1], id="general"),
        # d1 and u1 are one person; the event without a user has none.
        pytest.param(Measure.UNIQUE, [2, 1], [0, 1], id="unique"),
        # The three events of people, by two people.
        pytest.param(Measure.AVERAGE, [1.5, 1.0], [0, 1.0], id="average"),
    ],
)
def test_event_counts_per_day(
    store: DuckDBEventStore,
    writer: Writer,
    measure: Measure,
    viewed: list[float],
    bought: list[float],
) -> None:
    write_people(writer)

    answer = event_counts(store, two_days(("Viewed", "Bought", "Never")), measure, Unit.DAY)

    days = ["2026-11-02", "2026-11-03"]
    assert answer == {
        "data": {
            "series": days,
            "values": {
                "Viewed": dict(zip(days, viewed, strict=True)),
                "Bought": dict(zip(days, bought, strict=True)),
                "Never": {"2026-11-02": 0, "2026-11-03": 0},
            },
        },
        "legend_size": 3,
    }


def test_event_counts_per_hour_label_each_hour(store: DuckDBEventStore, writer: Writer) -> None:
    write_people(writer)

    answer = event_counts(
        store, EventQuery(P, D1, D2, names=("Viewed",)), Measure.GENERAL, Unit.HOUR
    )

    values = answer["data"]["values"]["Viewed"]
    assert len(answer["data"]["series"]) == 24
    assert {label: n for label, n in values.items() if n} == {
        "2026-11-02 01:00:00": 1,
        "2026-11-02 02:00:00": 1,
        "2026-11-02 03:00:00": 1,
        "2026-11-02 04:00:00": 1,
    }


def test_top_events_compare_today_with_the_same_hours_yesterday(
    store: DuckDBEventStore, writer: Writer
) -> None:
    now = D2 + 12 * HOUR
    for hours in (1, 2, 3):
        writer.event("A", f"u{hours}", D2 + hours * HOUR)
    writer.event("A", "u1", D1 + 1 * HOUR)
    writer.event("A", "u2", D1 + 2 * HOUR)
    writer.event("A", "u3", D1 + 13 * HOUR)  # yesterday, but later in the day than now
    writer.event("B", "u1", D2 + 4 * HOUR)

    answer = top_events(store, P, Measure.GENERAL, now_ms=now, limit=10)

    assert answer == {
        "events": [
            {"amount": 3, "event": "A", "percent_change": 0.5},
            {"amount": 1, "event": "B", "percent_change": 1.0},
        ],
        "type": "general",
    }
    assert [
        e["event"] for e in top_events(store, P, Measure.UNIQUE, now_ms=now, limit=1)["events"]
    ] == ["A"]


def test_top_event_names_are_the_most_common_listed_alphabetically(
    store: DuckDBEventStore, writer: Writer
) -> None:
    for name, times in (("zeta", 3), ("Alpha", 2), ("beta", 1)):
        for n in range(times):
            writer.event(name, "u1", D1 + n)

    assert top_event_names(store, two_days(), Measure.GENERAL, 2) == ["Alpha", "zeta"]
    assert top_event_names(store, two_days(), Measure.GENERAL, 10) == ["Alpha", "beta", "zeta"]


def test_top_properties_count_the_events_having_each(
    store: DuckDBEventStore, writer: Writer
) -> None:
    write_people(writer)

    assert top_properties(store, two_days(("Viewed",)), 2) == {
        "plan": {"count": 5},  # the duplicate once
        "n": {"count": 2},
    }


def test_top_values_are_text_most_common_first(store: DuckDBEventStore, writer: Writer) -> None:
    write_people(writer)

    assert top_values(store, two_days(("Viewed",)), "plan", 10) == ["pro", "free"]
    assert top_values(store, two_days(("Viewed",)), "n", 10) == ["2.5", "5"]
    assert top_values(store, two_days(("Viewed",)), "missing", 10) == []


def test_property_counts_split_an_event_by_value(store: DuckDBEventStore, writer: Writer) -> None:
    write_people(writer)

    answer = property_counts(
        store, two_days(("Viewed",)), "plan", Measure.UNIQUE, Unit.DAY, limit=10
    )

    assert answer["data"]["values"] == {
        "pro": {"2026-11-02": 2, "2026-11-03": 1},  # u1, u2; then u1 through d1
        "free": {"2026-11-02": 1, "2026-11-03": 0},  # d1 (the event without a user has none)
    }
    assert answer["legend_size"] == 2


def test_property_counts_keep_the_top_values_and_list_those_asked_for(
    store: DuckDBEventStore, writer: Writer
) -> None:
    write_people(writer)
    events = two_days(("Viewed",))

    top = property_counts(store, events, "plan", Measure.GENERAL, Unit.DAY, limit=1)
    asked = property_counts(
        store, events, "plan", Measure.GENERAL, Unit.DAY, values=["free", "gold"], limit=10
    )

    assert list(top["data"]["values"]) == ["pro"]
    assert asked["data"]["values"] == {
        "free": {"2026-11-02": 2, "2026-11-03": 0},
        "gold": {"2026-11-02": 0, "2026-11-03": 0},
    }


# -- Activity feed and export -----------------------------------------------------------------


def test_activity_lists_a_persons_events_under_the_canonical_id(
    store: DuckDBEventStore, writer: Writer
) -> None:
    write_people(writer)

    feed = activity(store, two_days(), ["u1"])["results"]["events"]
    by_member = activity(store, two_days(), ["d1"])

    assert [(e["event"], e["properties"].get("$distinct_id_before_identity")) for e in feed] == [
        ("Viewed", "d1"),
        ("Viewed", None),  # the duplicate once
        ("Viewed", "d1"),
        ("Bought", None),
    ]
    first = feed[0]["properties"]
    assert first["distinct_id"] == first["$distinct_id"] == "u1"
    assert (first["time"], first["$insert_id"], first["plan"]) == (
        (D1 + HOUR) // 1000,
        "i1",
        "free",
    )
    assert by_member == {"status": "ok", "results": {"events": []}}


def test_filtered_events_page_through_every_match_in_order(
    store: DuckDBEventStore, writer: Writer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reports, "EXPORT_PAGE_ROWS", 2)
    for n in range(7):
        # Pairs of events share a time, so pages break between events of one time.
        writer.event("E", "u1", D1 + n // 2, keep=n != 3, n=n)
    events = EventQuery(P, D1, D2, where=parse('properties["keep"]'), with_anonymous=True)

    every = [e.properties["n"] for e in filtered_events(store, events, limit=None)]
    first_four = [e.properties["n"] for e in filtered_events(store, events, limit=4)]

    assert every == [0, 1, 2, 4, 5, 6]
    assert first_four == [0, 1, 2, 4]


def test_filtered_events_keep_every_copy_unless_deduplicating(
    store: DuckDBEventStore, writer: Writer
) -> None:
    write_people(writer)
    where = parse('properties["plan"] == "pro"')
    events = EventQuery(P, D1, D2, where=where, with_anonymous=True, dedupe=False)

    copies = [e.insert_id for e in filtered_events(store, events, limit=None)]
    deduplicated = EventQuery(P, D1, D2, where=where, with_anonymous=True)

    assert copies == ["i2", "i2", "i3"]
    assert [e.insert_id for e in filtered_events(store, deduplicated, limit=None)] == ["i2", "i3"]


# -- Profiles ---------------------------------------------------------------------------------


def test_matching_profiles_read_properties_and_user_alike(store: DuckDBEventStore) -> None:
    store.write(
        WriteBatch(
            profiles=[
                (P, "u1", {"plan": "pro", "age": 30}, 1),
                (P, "u2", {"plan": "free"}, 1),
                (P, "u3", {}, 1),
                (2, "other", {"plan": "pro"}, 1),
            ],
            groups=[(P, "company", "acme", {"plan": "pro"}, 1), (P, "company", "b", {}, 1)],
        )
    )

    def matching(text: str, group_key: str | None = None) -> set[str]:
        return matching_profiles(store, P, parse(text), group_key=group_key)

    assert matching('properties["plan"] == "pro"') == {"u1"}
    assert matching('user["plan"] == "free"') == {"u2"}
    assert matching('not defined(properties["plan"])') == {"u3"}
    assert matching('properties["age"] >= 18 and user["plan"] == "pro"') == {"u1"}
    assert matching('properties["plan"] == "pro"', "company") == {"acme"}


class _NoStore:
    def fetch(self, action: str, sql: str, parameters: Any = ()) -> list[tuple[Any, ...]]:
        raise AssertionError("no query should run")


def test_matching_profiles_refuse_event_fields_before_querying() -> None:
    where = parse('event["$time"] > datetime("2026-01-01")')

    with pytest.raises(ExpressionError, match=r'event\["\$time"\] is not available here'):
        matching_profiles(_NoStore(), P, where)
