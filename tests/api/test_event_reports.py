"""The event breakdown and the activity feed over HTTP (SPEC.md §5.6), on small datasets whose
answers are worked out by hand. People are counted by canonical id: a device and the user it was
identified as count once; duplicates count once; events without a distinct id count as events,
never as people.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from typing import Any

import httpx
import pytest

from kindred.identity import IdentityMode
from kindred.storage.base import Project
from tests.api.helpers import DAY_S, at, dated, query_api, send_dated
from tests.conftest import LiveServer

DAYS = ["2026-11-02", "2026-11-03"]
TWO_DAYS = {"from_date": DAYS[0], "to_date": DAYS[1]}


@pytest.fixture
def project(server: LiveServer) -> Project:
    return server.new_project(IdentityMode.ORIGINAL)


@pytest.fixture
def people(http: httpx.Client, project: Project) -> str:
    """Two days of events: a device identified as u1, u2, an event without a user, and one event
    sent twice. Returns the device id."""
    device = str(uuid.uuid4())
    twice = dated("Viewed", "u1", at(hours=12), plan="pro", n=5)
    send_dated(
        http,
        project,
        dated("Viewed", device, at(hours=10), plan="free"),
        dated("$identify", "u1", at(hours=11), **{"$identified_id": "u1", "$anon_id": device}),
        twice,
        twice,
        dated("Viewed", "u2", at(hours=13), plan="pro", n=2.5),
        dated("Viewed", "", at(hours=14), plan="free"),
        dated("Viewed", "u2", at(days=1, hours=9), plan="pro"),
        dated("Bought", "u1", at(days=1, hours=10)),
    )
    return device


def series(values: list[float]) -> dict[str, float]:
    return dict(zip(DAYS, values, strict=True))


# --- /events ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "viewed", "bought"),
    [
        # Monday: the device, u1 (its duplicate once), u2 and the event without a user.
        pytest.param("general", [4, 1], [0, 1], id="general"),
        # The device and u1 are one person; the event without a user has none.
        pytest.param("unique", [2, 1], [0, 1], id="unique-across-identify"),
        # Monday: three events of people, by two people.
        pytest.param("average", [1.5, 1], [0, 1], id="average"),
    ],
)
def test_events_count_each_event_per_day(
    http: httpx.Client,
    project: Project,
    people: str,
    kind: str,
    viewed: list[float],
    bought: list[float],
) -> None:
    answer = query_api(
        http, project, "/events", event='["Viewed", "Bought"]', type=kind, **TWO_DAYS
    )

    assert answer == {
        "data": {
            "series": DAYS,
            "values": {"Viewed": series(viewed), "Bought": series(bought)},
        },
        "legend_size": 2,
    }


def test_events_per_hour_are_labelled_with_the_hour(
    http: httpx.Client, project: Project, people: str
) -> None:
    answer = query_api(
        http,
        project,
        "/events",
        event='["Viewed"]',
        unit="hour",
        from_date=DAYS[0],
        to_date=DAYS[0],
    )

    assert len(answer["data"]["series"]) == 24
    counted = {label: n for label, n in answer["data"]["values"]["Viewed"].items() if n}
    assert counted == {
        "2026-11-02 10:00:00": 1,
        "2026-11-02 12:00:00": 1,
        "2026-11-02 13:00:00": 1,
        "2026-11-02 14:00:00": 1,
    }


def test_events_interval_counts_back_from_the_current_unit(
    http: httpx.Client, project: Project
) -> None:
    send_dated(http, project, dated("Now", "u1", int(time.time())))

    answer = query_api(http, project, "/events", event='["Now"]', unit="month", interval=2)

    this_month = dt.datetime.now(dt.UTC).date().replace(day=1)
    last_month = (this_month - dt.timedelta(days=1)).replace(day=1)
    assert answer["data"]["series"] == [last_month.isoformat(), this_month.isoformat()]
    assert answer["data"]["values"]["Now"][this_month.isoformat()] == 1


@pytest.mark.parametrize(
    ("params", "named"),
    [
        pytest.param({"unit": "day", **TWO_DAYS}, "event is required", id="no-event"),
        pytest.param({"event": '["A"]', "unit": "day"}, "interval", id="no-range"),
        pytest.param({"event": '["A"]', "type": "total", **TWO_DAYS}, "type", id="bad-type"),
        pytest.param({"event": '["A"]', "unit": "year", **TWO_DAYS}, "unit", id="bad-unit"),
        pytest.param({"event": '["A"]', "interval": 0}, "interval", id="interval-0"),
        pytest.param({"event": '["A"]', "format": "csv", **TWO_DAYS}, "format", id="csv"),
        pytest.param(
            {
                "event": '["A"]',
                "unit": "minute",
                "from_date": "2026-01-01",
                "to_date": "2026-12-31",
            },
            "longer unit",
            id="too-many-points",
        ),
    ],
)
def test_events_refuse_bad_parameters_naming_them(
    http: httpx.Client, project: Project, params: dict[str, Any], named: str
) -> None:
    response = http.get("/api/2.0/events", params=params, auth=(project.secret, ""))

    assert response.status_code == 400
    assert named in response.json()["error"]


def test_events_need_the_secret(http: httpx.Client, project: Project) -> None:
    response = http.get("/api/2.0/events", params={"event": '["A"]', "interval": 1})

    assert response.status_code == 401


# --- /events/properties ----------------------------------------------------------------------


def test_event_properties_split_an_event_by_value(
    http: httpx.Client, project: Project, people: str
) -> None:
    unique = query_api(
        http, project, "/events/properties", event="Viewed", name="plan", type="unique", **TWO_DAYS
    )
    asked = query_api(
        http,
        project,
        "/events/properties",
        event="Viewed",
        name="plan",
        values='["free", "gold"]',
        **TWO_DAYS,
    )

    # Monday "pro": u1 and u2; "free": the device (u1), not the event without a user.
    assert unique == {
        "data": {
            "series": DAYS,
            "values": {"pro": series([2, 1]), "free": series([1, 0])},
        },
        "legend_size": 2,
    }
    # Counted as events: the device's and the one without a user; nothing is "gold".
    assert asked["data"]["values"] == {"free": series([2, 0]), "gold": series([0, 0])}


# --- /stream/query ---------------------------------------------------------------------------


def test_stream_lists_a_persons_events_under_the_canonical_id_once_each(
    http: httpx.Client, project: Project, people: str
) -> None:
    answer = query_api(http, project, "/stream/query", distinct_ids='["u1"]', **TWO_DAYS)

    assert answer["status"] == "ok"
    feed = answer["results"]["events"]
    assert [e["event"] for e in feed] == ["Viewed", "$identify", "Viewed", "Bought"]
    assert {e["properties"]["distinct_id"] for e in feed} == {"u1"}
    assert {e["properties"]["$distinct_id"] for e in feed} == {"u1"}
    first = feed[0]["properties"]
    assert first["$distinct_id_before_identity"] == people
    assert (first["time"], first["plan"]) == (at(hours=10), "free")
    assert "$distinct_id_before_identity" not in feed[2]["properties"]


def test_stream_finds_nothing_by_a_merged_member(
    http: httpx.Client, project: Project, people: str
) -> None:
    by_device = query_api(http, project, "/stream/query", distinct_ids=f'["{people}"]', **TWO_DAYS)
    several = query_api(http, project, "/stream/query", distinct_ids='["u2", "nobody"]', **TWO_DAYS)

    assert by_device == {"status": "ok", "results": {"events": []}}
    assert [e["event"] for e in several["results"]["events"]] == ["Viewed", "Viewed"]


def test_stream_needs_distinct_ids_and_dates(http: httpx.Client, project: Project) -> None:
    auth = (project.secret, "")

    no_ids = http.get("/api/2.0/stream/query", params=TWO_DAYS, auth=auth)
    no_dates = http.get("/api/2.0/stream/query", params={"distinct_ids": '["u1"]'}, auth=auth)

    assert no_ids.status_code == 400
    assert "distinct_ids" in no_ids.json()["error"]
    assert no_dates.status_code == 400
    assert "from_date" in no_dates.json()["error"]


# --- Today and the last 31 days --------------------------------------------------------------


@pytest.fixture
def now_s() -> int:
    """Now, kept at least a minute away from midnight UTC so that "today" cannot change under a
    test."""
    now = int(time.time())
    if not 60 <= now % DAY_S <= DAY_S - 60:
        time.sleep(121 - (now + 60) % DAY_S)
        now = int(time.time())
    return now


def test_top_events_compare_today_with_the_same_hours_yesterday(
    http: httpx.Client, project: Project, now_s: int
) -> None:
    midnight = now_s - now_s % DAY_S
    send_dated(
        http,
        project,
        *(dated("A", user, now_s - 30) for user in ("u1", "u2", "")),
        dated("B", "u1", now_s - 30),
        dated("A", "u1", now_s - DAY_S - 30),
        dated("A", "u1", now_s - DAY_S - 20),
        dated("A", "u3", midnight - 1),  # yesterday, but later in the day than now
    )

    general = query_api(http, project, "/events/top")
    unique = query_api(http, project, "/events/top", type="unique", limit=1)

    assert general == {
        "events": [
            {"amount": 3, "event": "A", "percent_change": 0.5},
            {"amount": 1, "event": "B", "percent_change": 1.0},
        ],
        "type": "general",
    }
    # Today u1 and u2 did A; yesterday, by now, only u1.
    assert unique == {
        "events": [{"amount": 2, "event": "A", "percent_change": 1.0}],
        "type": "unique",
    }


def test_event_names_are_the_most_common_listed_alphabetically(
    http: httpx.Client, project: Project, now_s: int
) -> None:
    counts = {"zeta": 3, "Alpha": 2, "beta": 1}
    send_dated(
        http,
        project,
        *(dated(name, "u1", now_s - n) for name, times in counts.items() for n in range(times)),
        dated("Old", "u1", now_s - 40 * DAY_S),
    )

    assert query_api(http, project, "/events/names") == ["Alpha", "beta", "zeta"]
    assert query_api(http, project, "/events/names", limit=2) == ["Alpha", "zeta"]


def test_event_property_lists_rank_names_and_values(
    http: httpx.Client, project: Project, now_s: int
) -> None:
    send_dated(
        http,
        project,
        dated("Paid", "u1", now_s - 3, plan="pro", n=5),
        dated("Paid", "u2", now_s - 2, plan="pro", n=5),
        dated("Paid", "u3", now_s - 1, plan="free"),
        dated("Other", "u1", now_s - 1, plan="gold"),
    )

    top = query_api(http, project, "/events/properties/top", event="Paid")
    plans = query_api(http, project, "/events/properties/values", event="Paid", name="plan")
    numbers = query_api(http, project, "/events/properties/values", event="Paid", name="n")

    assert top["plan"] == {"count": 3}
    assert top["n"] == {"count": 2}
    assert len(query_api(http, project, "/events/properties/top", event="Paid", limit=1)) == 1
    assert plans == ["pro", "free"]
    assert numbers == ["5"]
    assert query_api(
        http, project, "/events/properties/values", event="Paid", name="plan", limit=1
    ) == ["pro"]


def test_event_property_lists_name_what_is_missing(http: httpx.Client, project: Project) -> None:
    response = http.get(
        "/api/2.0/events/properties/values", params={"event": "A"}, auth=(project.secret, "")
    )

    assert response.status_code == 400
    assert "name is required" in response.json()["error"]
