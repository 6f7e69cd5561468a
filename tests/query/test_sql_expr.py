"""Compiled expressions, run in a real DuckDB over a small fixed set of events."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import duckdb
import pytest
from hypothesis import given, settings, strategies as st

from kindred.query.expr import Call, Expr, ExpressionError, In, Literal, Property, parse
from kindred.query.sql_expr import Columns, compile_number, compile_predicate, compile_segment

WEIRD_KEY = 'weird key\'s "x".$ \\ é/~0 日本'
EVENT_COLUMNS = Columns(
    properties="e.properties",
    time_ms="e.time_ms",
    event="e.event",
    user="e.profile",
    distinct_id="e.distinct_id",
)
EVERYONE = {"chrome", "firefox", "empty", "odd"}


@dataclass(frozen=True)
class Row:
    distinct_id: str
    event: str
    time: str  # ISO, UTC
    properties: dict[str, Any]
    profile: dict[str, Any] | None = None


ROWS = [
    Row(
        "chrome",
        "Signed Up",
        "2024-01-01T00:00:00",
        {
            "$browser": "Chrome",
            "n": 5,
            "s": "5",
            "tags": ["a", "b", 1],
            "d": "2024-01-02T03:04:05",
            "flag": True,
            "amount": 10,
        },
        {"plan": "pro", "age": 30},
    ),
    Row(
        "firefox",
        "Purchase",
        "2024-01-02T00:00:00",
        {
            "$browser": "Firefox",
            "n": 2.5,
            "tags": [],
            "flag": False,
            "nothing": None,
            "amount": -3,
            "d": "2024-01-01",
        },
        {"plan": "free"},
    ),
    Row("empty", "Purchase", "2024-01-03T12:00:00", {}),
    Row(
        "odd",
        "Viewed",
        "2024-01-04T00:00:00",
        {
            "$browser": "chrome",
            "n": "abc",
            "tags": "a,b",
            "d": "2024-13-45",
            "flag": "false",
            "obj": {"k": 1},
            WEIRD_KEY: "yes",
        },
        {"plan": "pro"},
    ),
]


def load(rows: list[Row]) -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    connection.execute(
        "CREATE TABLE e (distinct_id VARCHAR, event VARCHAR, time_ms BIGINT, "
        "properties VARCHAR, profile VARCHAR)"
    )
    connection.executemany("INSERT INTO e VALUES (?, ?, ?, ?, ?)", [_values(row) for row in rows])
    return connection


def _values(row: Row) -> list[object]:
    moment = dt.datetime.fromisoformat(row.time).replace(tzinfo=dt.UTC)
    profile = None if row.profile is None else json.dumps(row.profile)
    time_ms = int(moment.timestamp() * 1000)
    return [row.distinct_id, row.event, time_ms, json.dumps(row.properties), profile]


@pytest.fixture(scope="module")
def events() -> Iterator[duckdb.DuckDBPyConnection]:
    connection = load(ROWS)
    yield connection
    connection.close()


def matching(connection: duckdb.DuckDBPyConnection, text: str) -> set[str]:
    predicate = compile_predicate(parse(text), EVENT_COLUMNS)
    found = connection.execute(f"SELECT e.distinct_id FROM e WHERE {predicate}").fetchall()
    return {distinct_id for (distinct_id,) in found}


def per_row(connection: duckdb.DuckDBPyConnection, sql: str) -> dict[str, Any]:
    found = connection.execute(f"SELECT e.distinct_id, {sql} FROM e").fetchall()
    return dict(found)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param('properties["$browser"] == "Chrome"', {"chrome"}, id="string-equals"),
        pytest.param(
            'properties["$browser"] != "Chrome"',
            {"firefox", "empty", "odd"},
            id="not-equals-includes-missing",
        ),
        pytest.param('properties["n"] == 5', {"chrome"}, id="number-equals"),
        pytest.param('properties["s"] == 5', set(), id="numeric-string-is-not-a-number"),
        pytest.param('properties["s"] == "5"', {"chrome"}, id="numeric-string-is-a-string"),
        pytest.param('number(properties["s"]) == 5', {"chrome"}, id="number-cast"),
        pytest.param('number(properties["n"]) > 0', {"chrome", "firefox"}, id="bad-number-cast"),
        pytest.param('properties["n"] > 2', {"chrome", "firefox"}, id="greater"),
        pytest.param('properties["n"] <= 2.5', {"firefox"}, id="at-most"),
        pytest.param('properties["n"] > "a"', {"odd"}, id="strings-order"),
        pytest.param(
            'properties["n"] < 3 or properties["$browser"] == "Chrome"',
            {"chrome", "firefox"},
            id="or",
        ),
        pytest.param('properties["n"] > 2 and properties["flag"]', {"chrome"}, id="and"),
        pytest.param('properties["flag"]', {"chrome"}, id="boolean-property"),
        pytest.param('not properties["flag"]', {"firefox", "empty"}, id="not-undefined-is-true"),
        pytest.param('properties["flag"] == false', {"firefox"}, id="equals-false"),
        pytest.param('boolean(properties["flag"])', {"chrome"}, id="boolean-of-false-string"),
        pytest.param(
            'boolean(properties["n"])', {"chrome", "firefox", "odd"}, id="boolean-of-values"
        ),
        pytest.param(
            'boolean(properties["tags"])', {"chrome", "firefox", "odd"}, id="boolean-of-lists"
        ),
        pytest.param('boolean(properties["obj"])', {"odd"}, id="boolean-of-object"),
        pytest.param(
            'defined(properties["n"])', {"chrome", "firefox", "odd"}, id="defined-any-type"
        ),
        pytest.param('not defined(properties["n"])', {"empty"}, id="not-defined"),
        pytest.param('defined(properties["nothing"])', set(), id="null-is-not-defined"),
        pytest.param('defined(properties["obj"])', {"odd"}, id="object-is-defined"),
        pytest.param('properties["n"] in [1, 5, "abc"]', {"chrome", "odd"}, id="in-mixed-list"),
        pytest.param('properties["n"] not in [5]', {"firefox", "empty", "odd"}, id="not-in-list"),
        pytest.param('properties["$browser"] in []', set(), id="in-empty-list"),
        pytest.param('"ref" in properties["$browser"]', {"firefox"}, id="substring"),
        pytest.param('"hrom" in properties["$browser"]', {"chrome", "odd"}, id="substring-2"),
        pytest.param('"a" in properties["tags"]', {"chrome", "odd"}, id="list-or-substring"),
        pytest.param('1 in properties["tags"]', {"chrome"}, id="number-in-list-property"),
        pytest.param('"1" in properties["tags"]', set(), id="in-list-keeps-types"),
        pytest.param('true in properties["tags"]', set(), id="boolean-not-in-list"),
        pytest.param('"a" not in properties["tags"]', {"firefox", "empty"}, id="not-in-list-prop"),
        pytest.param(
            'event["$time"] >= datetime("2024-01-02T00:00:00")',
            {"firefox", "empty", "odd"},
            id="time-after",
        ),
        pytest.param('event["$time"] < datetime(1704153600)', {"chrome"}, id="time-before-epoch"),
        pytest.param(
            'properties["d"] > datetime("2024-01-01T12:00:00")', {"chrome"}, id="date-property"
        ),
        pytest.param(
            'properties["d"] == datetime("2024-01-02T03:04:05")', {"chrome"}, id="date-equals"
        ),
        pytest.param('properties["d"] < "2024-01-02"', {"firefox"}, id="date-as-string"),
        pytest.param('datetime(properties["d"]) < event["$time"]', {"firefox"}, id="date-vs-time"),
        pytest.param('event["name"] == "Purchase"', {"firefox", "empty"}, id="event-name"),
        pytest.param('event["distinct_id"] == "odd"', {"odd"}, id="event-distinct-id"),
        pytest.param('properties["distinct_id"] == "odd"', {"odd"}, id="lifted-distinct-id"),
        pytest.param(
            'properties["time"] >= 1704153600', {"firefox", "empty", "odd"}, id="lifted-time"
        ),
        pytest.param(
            'properties["time"] < datetime("2024-01-02")', {"chrome"}, id="lifted-time-date"
        ),
        pytest.param('properties["n"] * 2 == 10', {"chrome"}, id="multiply"),
        pytest.param('properties["n"] + 1 > 3', {"chrome", "firefox"}, id="add"),
        pytest.param('properties["amount"] % 4 == -3', {"firefox"}, id="remainder-sign"),
        pytest.param('properties["amount"] / 0 == 0', set(), id="divide-by-zero"),
        pytest.param('-properties["n"] < -3', {"chrome"}, id="negate"),
        pytest.param('floor(properties["n"]) == 2', {"firefox"}, id="floor"),
        pytest.param('ceil(properties["n"]) == 3', {"firefox"}, id="ceil"),
        pytest.param('round(properties["n"]) == 3', {"firefox"}, id="round"),
        pytest.param('properties["$browser"] + "!" == "Chrome!"', {"chrome"}, id="concatenate"),
        pytest.param('properties["n"] + "x" == "5x"', set(), id="number-plus-string"),
        pytest.param('string(properties["n"]) == "2.5"', {"firefox"}, id="string-cast"),
        pytest.param('string(properties["n"]) + "x" == "5x"', {"chrome"}, id="string-of-int"),
        pytest.param('string(properties["flag"]) == "false"', {"firefox", "odd"}),
        pytest.param('user["plan"] == "pro"', {"chrome", "odd"}, id="user"),
        pytest.param('not defined(user["plan"])', {"empty"}, id="no-profile"),
        pytest.param('user["age"] >= 30', {"chrome"}, id="user-number"),
        pytest.param(f"properties[{json.dumps(WEIRD_KEY)}] == 'yes'", {"odd"}, id="weird-key"),
        pytest.param("true", EVERYONE, id="true"),
        pytest.param("false", set(), id="false"),
        pytest.param("1 == 1", EVERYONE, id="constant-comparison"),
        pytest.param('properties["n"]', set(), id="non-boolean-where"),
        pytest.param('properties["n"] == 5 and "x"', set(), id="string-operand-is-false"),
        pytest.param(
            'properties["n"] == 5 or properties["missing"]', {"chrome"}, id="undefined-operand"
        ),
        pytest.param(
            'not (properties["n"] == 5)', {"firefox", "empty", "odd"}, id="not-comparison"
        ),
        pytest.param('not properties["n"]', {"empty"}, id="not-of-non-boolean"),
        pytest.param('properties["missing"] != "x"', EVERYONE, id="missing-not-equal"),
        pytest.param('properties["obj"] == "x"', set(), id="object-equals-nothing"),
        pytest.param('datetime(properties["n"]) == datetime(5)', {"chrome"}, id="epoch-cast"),
        pytest.param('number(properties["d"]) == 1704164645', {"chrome"}, id="date-to-seconds"),
        pytest.param('number(" 42 ") == 42', EVERYONE, id="number-of-padded-string"),
        pytest.param('defined(number("4_2"))', set(), id="number-of-non-decimal"),
        pytest.param("number(true) == 1", EVERYONE, id="number-of-true"),
    ],
)
def test_where_matches_the_expected_rows(
    events: duckdb.DuckDBPyConnection, text: str, expected: set[str]
) -> None:
    assert matching(events, text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            'properties["n"]',
            {"chrome": "5", "firefox": "2.5", "empty": None, "odd": "abc"},
            id="numbers-print-like-mixpanel",
        ),
        pytest.param(
            'properties["flag"]',
            {"chrome": "true", "firefox": "false", "empty": None, "odd": "false"},
            id="booleans",
        ),
        pytest.param(
            'properties["tags"]',
            {"chrome": '["a","b",1]', "firefox": "[]", "empty": None, "odd": "a,b"},
            id="lists-as-json",
        ),
        pytest.param(
            'event["$time"]',
            {
                "chrome": "2024-01-01T00:00:00",
                "firefox": "2024-01-02T00:00:00",
                "empty": "2024-01-03T12:00:00",
                "odd": "2024-01-04T00:00:00",
            },
            id="event-time",
        ),
        pytest.param(
            'properties["n"] > 3',
            {"chrome": "true", "firefox": "false", "empty": None, "odd": None},
            id="comparison",
        ),
        pytest.param(
            'properties["amount"] * 100000',
            {"chrome": "1000000", "firefox": "-300000", "empty": None, "odd": None},
            id="large-integers",
        ),
        pytest.param(
            'properties["n"] / 3',
            {"chrome": "1.6666666666666667", "firefox": "0.8333333333333334"}
            | {"empty": None, "odd": None},
            id="fractions",
        ),
        pytest.param(
            'user["plan"]',
            {"chrome": "pro", "firefox": "free", "empty": None, "odd": "pro"},
            id="user",
        ),
        pytest.param(
            'datetime(properties["d"])',
            {"chrome": "2024-01-02T03:04:05", "firefox": "2024-01-01T00:00:00"}
            | {"empty": None, "odd": None},
            id="dates-parsed",
        ),
        pytest.param(
            'defined(properties["n"])',
            {"chrome": "true", "firefox": "true", "empty": "false", "odd": "true"},
            id="defined",
        ),
    ],
)
def test_segment_labels_each_row(
    events: duckdb.DuckDBPyConnection, text: str, expected: dict[str, str | None]
) -> None:
    assert per_row(events, compile_segment(parse(text), EVENT_COLUMNS)) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param('properties["n"]', {"chrome": 5.0, "firefox": 2.5}, id="numbers"),
        pytest.param('properties["amount"] * 2', {"chrome": 20.0, "firefox": -6.0}, id="math"),
        pytest.param('number(properties["s"])', {"chrome": 5.0}, id="cast"),
        pytest.param('properties["$browser"]', {}, id="strings-are-not-numbers"),
    ],
)
def test_number_is_null_where_not_numeric(
    events: duckdb.DuckDBPyConnection, text: str, expected: dict[str, float]
) -> None:
    values = per_row(events, compile_number(parse(text), EVENT_COLUMNS))

    assert values == {distinct_id: expected.get(distinct_id) for distinct_id in EVERYONE}


def test_profiles_are_filtered_by_their_own_properties() -> None:
    connection = duckdb.connect()
    connection.execute("CREATE TABLE p (distinct_id VARCHAR, properties VARCHAR)")
    profiles = [("u1", {"$email": "a@example.com"}), ("u2", {"$email": "b@example.com"})]
    connection.executemany(
        "INSERT INTO p VALUES (?, ?)", [[id_, json.dumps(props)] for id_, props in profiles]
    )
    columns = Columns(properties="p.properties", time_ms=None, event=None, user=None)

    predicate = compile_predicate(parse('"b@" in properties["$email"]'), columns)

    assert connection.execute(f"SELECT distinct_id FROM p WHERE {predicate}").fetchall() == [
        ("u2",)
    ]


@pytest.mark.parametrize(
    ("text", "columns", "position", "fragment"),
    [
        pytest.param(
            'true and user["plan"] == "pro"',
            Columns("e.properties", "e.time_ms", "e.event", user=None),
            9,
            'user["plan"] needs user profiles',
            id="user-without-profiles",
        ),
        pytest.param(
            'event["$time"] > datetime(0)',
            Columns("p.properties", time_ms=None, event=None, user=None),
            0,
            'event["$time"] is not available here',
            id="event-time-on-profiles",
        ),
        pytest.param(
            'event["distinct_id"] == "x"',
            Columns("e.properties", "e.time_ms", "e.event", "e.profile"),
            0,
            'event["distinct_id"] is not available',
            id="distinct-id-not-exposed",
        ),
    ],
)
def test_compiling_refuses_what_the_query_cannot_read(
    text: str, columns: Columns, position: int, fragment: str
) -> None:
    for compile_ in (compile_predicate, compile_segment, compile_number):
        with pytest.raises(ExpressionError) as caught:
            compile_(parse(text), columns)

        assert caught.value.position == position
        assert fragment in str(caught.value)


def test_an_expression_whose_sql_would_explode_is_refused() -> None:
    expr: Expr = Literal("a")
    for _ in range(60):
        expr = In(Call("string", expr), Property("properties", "tags"))

    with pytest.raises(ExpressionError, match="too complex"):
        compile_predicate(expr, EVENT_COLUMNS)


TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=12)


@settings(deadline=None, max_examples=150)
@given(name=TEXT, value=TEXT, ascii_only=st.booleans())
def test_any_name_and_value_reach_the_sql_only_as_data(
    name: str, value: str, ascii_only: bool
) -> None:
    def quoted(text: str) -> str:
        return json.dumps(text, ensure_ascii=ascii_only)

    rows = [
        Row("hit", "E", "2024-01-01", {name: value}),
        Row("miss", "E", "2024-01-01", {name: value + "x"}),
        Row("listed", "E", "2024-01-01", {name: [value]}),
        Row("unlisted", "E", "2024-01-01", {name: [value + "x"]}),
        Row("empty", "E", "2024-01-01", {}),
    ]
    connection = load(rows)
    prop = f"properties[{quoted(name)}]"

    assert matching(connection, f"{prop} == {quoted(value)}") == {"hit"}
    assert matching(connection, f"{quoted(value)} in {prop}") == {"hit", "miss", "listed"}
    segments = per_row(connection, compile_segment(parse(prop), EVENT_COLUMNS))
    assert segments["hit"] == value
    assert segments["empty"] is None
    connection.close()
