"""Segmentation, funnels and retention over HTTP, on small datasets whose answers are worked out by
hand (SPEC.md §5.3–5.5, edge cases 76–78). Every count is per person as resolved at query time.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from kindred.identity import IdentityMode
from kindred.storage.base import Project
from tests.api.helpers import at, dated, query_api, send_dated
from tests.conftest import LiveServer


def identify(user: str, device: str, time_s: int) -> dict[str, Any]:
    return dated("$identify", user, time_s, **{"$identified_id": user, "$anon_id": device})


def device() -> str:
    return str(uuid.uuid4())


@pytest.fixture
def project(server: LiveServer) -> Project:
    return server.new_project(IdentityMode.ORIGINAL)


# --- Segmentation ---------------------------------------------------------------------------


def test_segmentation_counts_two_ids_of_one_person_as_one_unique(
    http: httpx.Client, project: Project
) -> None:
    d1 = device()
    send_dated(
        http,
        project,
        dated("Viewed", d1, at(hours=1)),
        identify("U1", d1, at(hours=2)),
        dated("Viewed", "U1", at(hours=3)),
        dated("Viewed", "U2", at(hours=4)),
        dated("Viewed", "", at(hours=5)),  # no user: an event, but nobody
    )
    dates = {"from_date": "2026-11-02", "to_date": "2026-11-03"}

    general = query_api(http, project, "/segmentation", event="Viewed", **dates)
    unique = query_api(http, project, "/segmentation", event="Viewed", type="unique", **dates)
    average = query_api(http, project, "/segmentation", event="Viewed", type="average", **dates)

    assert general == {
        "data": {
            "series": ["2026-11-02", "2026-11-03"],
            "values": {"Viewed": {"2026-11-02": 4, "2026-11-03": 0}},
        },
        "legend_size": 1,
    }
    assert unique["data"]["values"] == {"Viewed": {"2026-11-02": 2, "2026-11-03": 0}}
    assert average["data"]["values"]["Viewed"]["2026-11-02"] == 1.5  # 3 events by 2 people


def test_segmentation_collapses_duplicates_and_splits_by_on(
    http: httpx.Client, project: Project
) -> None:
    copy = dated("Bought", "U1", at(hours=1), plan="pro")
    send_dated(
        http,
        project,
        copy,
        copy,  # the SDK retried: one purchase
        dated("Bought", "U2", at(hours=2), plan="free"),
        dated("Bought", "U3", at(days=1), plan="pro"),
        dated("Bought", "U4", at(days=1)),
    )

    answer = query_api(
        http,
        project,
        "/segmentation",
        event="Bought",
        on='properties["plan"]',
        from_date="2026-11-02",
        to_date="2026-11-03",
    )

    assert answer["data"]["values"] == {
        "pro": {"2026-11-02": 1, "2026-11-03": 1},
        "free": {"2026-11-02": 1, "2026-11-03": 0},
        "undefined": {"2026-11-02": 0, "2026-11-03": 1},
    }
    assert answer["legend_size"] == 3


def test_segmentation_where_sum_and_average(http: httpx.Client, project: Project) -> None:
    send_dated(
        http,
        project,
        dated("Paid", "U1", at(hours=1), amount=10),
        dated("Paid", "U2", at(hours=2), amount=30),
        dated("Paid", "U3", at(hours=3), amount="n/a"),
    )
    day = {"from_date": "2026-11-02", "to_date": "2026-11-02"}

    big = query_api(
        http, project, "/segmentation", event="Paid", where='properties["amount"] > 15', **day
    )
    total = query_api(
        http, project, "/segmentation/sum", event="Paid", on='properties["amount"]', **day
    )
    mean = query_api(
        http, project, "/segmentation/average", event="Paid", on='properties["amount"]', **day
    )

    assert big["data"]["values"] == {"Paid": {"2026-11-02": 1}}
    assert total["results"] == {"2026-11-02": 40.0}
    assert mean["results"] == {"2026-11-02": pytest.approx(40 / 3)}  # "n/a" counts as 0.0


def test_a_malformed_expression_is_refused_with_its_position(
    http: httpx.Client, project: Project
) -> None:
    response = http.get(
        "/api/query/segmentation",
        params={
            "event": "A",
            "from_date": "2026-11-02",
            "to_date": "2026-11-02",
            "where": 'properties["a"] == )',
        },
        auth=(project.secret, ""),
    )

    assert response.status_code == 400
    assert response.json()["status"] == "error"
    assert "where:" in response.json()["error"]
    assert "position 19" in response.json()["error"]


# --- Funnels --------------------------------------------------------------------------------

FUNNEL = '[{"event": "Viewed"}, {"event": "Added"}, {"event": "Bought"}]'


def funnel_counts(http: httpx.Client, project: Project, **params: Any) -> list[int]:
    answer = query_api(
        http,
        project,
        "/funnels",
        **{"events": FUNNEL, "from_date": "2026-11-02", "to_date": "2026-11-02", **params},
    )
    (day,) = answer["data"].values()
    return [step["count"] for step in day["steps"]]


def test_a_funnel_converts_only_once_the_merge_links_the_device_to_the_user(
    http: httpx.Client, project: Project
) -> None:
    d1 = device()
    send_dated(
        http,
        project,
        dated("Viewed", d1, at(hours=1)),
        dated("Added", d1, at(hours=2)),
        dated("Bought", "U1", at(hours=3)),
    )
    assert funnel_counts(http, project) == [1, 1, 0]  # the device and U1 are two people

    send_dated(http, project, identify("U1", d1, at(hours=4)))

    assert funnel_counts(http, project) == [1, 1, 1]


def test_a_late_identity_input_is_effective_in_the_next_funnel(
    http: httpx.Client, project: Project
) -> None:
    d1 = device()
    send_dated(http, project, dated("Viewed", d1, at(hours=1)), dated("Bought", "U1", at(hours=9)))
    send_dated(http, project, dated("Added", "U1", at(hours=5)))
    # Sent last, but older than the events it links: the merge still applies to all of them.
    send_dated(http, project, identify("U1", d1, at(hours=0.5)))

    assert funnel_counts(http, project) == [1, 1, 1]


def test_the_window_runs_from_the_first_step_one_event_and_excludes_its_end(
    http: httpx.Client, project: Project
) -> None:
    window = {"length": 2, "length_unit": "hour"}
    send_dated(
        http,
        project,
        # U1: a second Viewed does not restart the window; Bought lands 1 s inside it.
        dated("Viewed", "U1", at(hours=1)),
        dated("Viewed", "U1", at(hours=2)),
        dated("Added", "U1", at(hours=2.5)),
        dated("Bought", "U1", at(hours=3, seconds=-1)),
        # U2: Bought lands exactly at the end of the window: too late.
        dated("Viewed", "U2", at(hours=1)),
        dated("Added", "U2", at(hours=1.5)),
        dated("Bought", "U2", at(hours=3)),
        # U3: the steps out of order: Added before Viewed does not count.
        dated("Added", "U3", at(hours=1)),
        dated("Viewed", "U3", at(hours=1.5)),
    )

    assert funnel_counts(http, project, **window) == [3, 2, 1]


def test_funnel_response_has_mixpanels_shape(http: httpx.Client, project: Project) -> None:
    send_dated(
        http,
        project,
        dated("Viewed", "U1", at(hours=1)),
        dated("Added", "U1", at(hours=1, seconds=30)),
        dated("Viewed", "U2", at(hours=1)),
    )

    answer = query_api(
        http, project, "/funnels", events=FUNNEL, from_date="2026-11-02", to_date="2026-11-02"
    )

    assert answer["meta"] == {"dates": ["2026-11-02"]}
    day = answer["data"]["2026-11-02"]
    assert day["analysis"] == {"completion": 0, "starting_amount": 2, "steps": 3, "worst": 2}
    first, second, third = day["steps"]
    assert first == {
        "count": 2,
        "avg_time": None,
        "avg_time_from_start": None,
        "step_conv_ratio": 1,
        "overall_conv_ratio": 1,
        "goal": "Viewed",
        "event": "Viewed",
    }
    assert second["count"] == 1 and second["avg_time"] == 30
    assert second["step_conv_ratio"] == 0.5 and second["overall_conv_ratio"] == 0.5
    assert third["count"] == 0 and third["step_conv_ratio"] == 0.0


def test_a_saved_funnel_is_listed_and_queried_by_its_id(
    http: httpx.Client, project: Project
) -> None:
    send_dated(http, project, dated("Viewed", "U1", at(hours=1)), dated("Added", "U1", at(hours=2)))
    saved = http.post(
        "/api/kindred/funnels",
        data={"name": "Checkout", "events": FUNNEL, "length": 1, "length_unit": "day"},
        auth=(project.secret, ""),
    )
    assert saved.status_code == 200, saved.text
    funnel_id = saved.json()["funnel_id"]

    listed = query_api(http, project, "/funnels/list")
    by_id = funnel_counts(http, project, events=None, funnel_id=funnel_id)

    assert listed == [{"funnel_id": funnel_id, "name": "Checkout"}]
    assert by_id == [1, 1, 0]


def test_a_funnel_breaks_down_by_the_first_events_segment(
    http: httpx.Client, project: Project
) -> None:
    send_dated(
        http,
        project,
        dated("Viewed", "U1", at(hours=1), browser="Chrome"),
        dated("Added", "U1", at(hours=2)),
        dated("Viewed", "U2", at(hours=1), browser="Firefox"),
        dated("Viewed", "U3", at(hours=1), browser="Chrome"),
    )

    answer = query_api(
        http,
        project,
        "/funnels",
        events=FUNNEL,
        on='properties["browser"]',
        from_date="2026-11-02",
        to_date="2026-11-02",
    )

    day = answer["data"]["2026-11-02"]
    counts = {segment: [s["count"] for s in steps] for segment, steps in day.items()}
    assert counts == {"$overall": [3, 1, 0], "Chrome": [2, 1, 0], "Firefox": [1, 0, 0]}


# --- Retention ------------------------------------------------------------------------------


def test_weekly_birth_retention_follows_people_across_ids(
    http: httpx.Client, project: Project
) -> None:
    d1 = device()
    send_dated(
        http,
        project,
        # Week 0: U1 (as a device) and U2 are born; week 1: U1 comes back as U1.
        dated("Signed up", d1, at(days=1)),
        identify("U1", d1, at(days=1, hours=1)),
        dated("Signed up", "U2", at(days=2)),
        dated("Opened", "U1", at(days=8)),
        # Week 1: U3 is born and comes back in week 2; U2 comes back in week 2 too.
        dated("Signed up", "U3", at(days=9)),
        dated("Opened", "U3", at(days=15)),
        dated("Opened", "U2", at(days=16)),
    )

    answer = query_api(
        http,
        project,
        "/retention",
        born_event="Signed up",
        unit="week",
        interval_count=2,
        from_date="2026-11-02",
        to_date="2026-11-15",
    )
    unbounded = query_api(
        http,
        project,
        "/retention",
        born_event="Signed up",
        unit="week",
        interval_count=2,
        unbounded_retention="true",
        from_date="2026-11-02",
        to_date="2026-11-15",
    )

    # Period 0 counts any event at or after the birth, the birth itself included.
    assert answer == {
        "2026-11-02": {"counts": [2, 1, 1], "first": 2},
        "2026-11-09": {"counts": [1, 1, 0], "first": 1},
    }
    assert unbounded["2026-11-02"] == {"counts": [2, 2, 1], "first": 2}


def test_compounded_retention_and_frequency(http: httpx.Client, project: Project) -> None:
    send_dated(
        http,
        project,
        dated("Opened", "U1", at(days=0, hours=1)),
        dated("Opened", "U1", at(days=0, hours=5)),
        dated("Opened", "U1", at(days=1)),
        dated("Opened", "U2", at(days=1)),
    )

    compounded = query_api(
        http,
        project,
        "/retention",
        retention_type="compounded",
        born_event="Opened",
        event="Opened",
        from_date="2026-11-02",
        to_date="2026-11-03",
    )
    frequency = query_api(
        http, project, "/retention/addiction", event="Opened", unit="day",
        addiction_unit="hour", from_date="2026-11-02", to_date="2026-11-02",
    )  # fmt: skip

    assert compounded == {
        "2026-11-02": {"counts": [1, 1], "first": 1},
        "2026-11-03": {"counts": [2, 0], "first": 2},
    }
    assert frequency["data"]["2026-11-02"][:3] == [1, 1, 0]  # U1 opened in 2 distinct hours


def test_an_unmerge_takes_the_conversion_away_in_the_next_funnel(
    http: httpx.Client, project: Project
) -> None:
    d1 = device()
    link = identify("U1", d1, at(hours=4))
    send_dated(
        http,
        project,
        dated("Viewed", d1, at(hours=1)),
        dated("Added", d1, at(hours=2)),
        dated("Bought", "U1", at(hours=3)),
        link,
    )
    assert funnel_counts(http, project) == [1, 1, 1]

    response = http.post(
        "/api/kindred/identity/unmerge",
        data={"insert_id": link["properties"]["$insert_id"]},
        auth=(project.secret, ""),
    )
    assert response.status_code == 200, response.text

    assert funnel_counts(http, project) == [1, 1, 0]


def test_duplicates_of_a_step_do_not_count_a_person_twice(
    http: httpx.Client, project: Project
) -> None:
    viewed = dated("Viewed", "U1", at(hours=1))
    send_dated(http, project, viewed, viewed, dated("Added", "U1", at(hours=2)))

    assert funnel_counts(http, project) == [1, 1, 0]


def test_retention_breaks_cohorts_down_by_the_birth_events_segment(
    http: httpx.Client, project: Project
) -> None:
    send_dated(
        http,
        project,
        dated("Signed up", "U1", at(hours=1), source="ads"),
        dated("Signed up", "U2", at(hours=2), source="search"),
        dated("Signed up", "U3", at(hours=3), source="ads"),
        dated("Opened", "U1", at(days=1)),
    )

    answer = query_api(
        http,
        project,
        "/retention",
        born_event="Signed up",
        on='properties["source"]',
        from_date="2026-11-02",
        to_date="2026-11-02",
    )

    assert answer == {
        "2026-11-02": {
            "$overall": {"counts": [3, 1], "first": 3},
            "ads": {"counts": [2, 1], "first": 2},
            "search": {"counts": [1, 0], "first": 1},
        }
    }
