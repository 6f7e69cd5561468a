"""`/api/kindred/identity/refusals?by_day=true`, which the Identity health page charts: the inputs
refused now, by the UTC day of their event time and by code, adding up to the totals by code."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx

from kindred.storage.base import Project
from tests.api.helpers import import_events, new_insert_id
from tests.conftest import LiveServer

DAY_ONE = dt.datetime(2026, 11, 2, 23, 59, tzinfo=dt.UTC)
DAY_TWO = DAY_ONE + dt.timedelta(minutes=2)  # just past midnight: the next UTC day


def identify(user: str, anon: str, when: dt.datetime) -> dict[str, Any]:
    properties = {"$identified_id": user, "$anon_id": anon, "$insert_id": new_insert_id()}
    return {
        "event": "$identify",
        "properties": {"distinct_id": user, "time": int(when.timestamp()), **properties},
    }


def refusals(http: httpx.Client, project: Project, **params: str) -> Any:
    response = http.get("/api/kindred/identity/refusals", params=params, auth=(project.secret, ""))
    assert response.status_code == 200, response.text
    return response.json()


def test_refusals_by_day_split_the_totals_by_the_day_of_each_input(
    server: LiveServer, http: httpx.Client
) -> None:
    project = server.new_project()
    device = str(uuid.uuid4())
    events = [
        identify("U1", "not-a-uuid", DAY_ONE),  # errAnonDistinctIdNonGUIDForm
        identify("U1", device, DAY_ONE),  # applied
        identify("U2", device, DAY_TWO),  # errAnonDistinctIdAssignedAlready
        identify("U3", "also-not-a-uuid", DAY_TWO),
    ]
    assert import_events(http, project, events, strict=1).status_code == 200

    answer = refusals(http, project, by_day="true")

    assert answer["by_day"] == {
        "2026-11-02": {"errAnonDistinctIdNonGUIDForm": 1},
        "2026-11-03": {"errAnonDistinctIdAssignedAlready": 1, "errAnonDistinctIdNonGUIDForm": 1},
    }
    assert answer["total"] == 3
    for code, n in answer["by_code"].items():
        assert sum(day.get(code, 0) for day in answer["by_day"].values()) == n


def test_refusals_keep_their_shape_without_by_day(server: LiveServer, http: httpx.Client) -> None:
    project = server.new_project()

    assert refusals(http, project) == {"total": 0, "by_code": {}}
    assert refusals(http, project, by_day="true") == {"total": 0, "by_code": {}, "by_day": {}}
