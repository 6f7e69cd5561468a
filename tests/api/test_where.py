"""`where` on the raw export (SPEC.md §5.1) and the engage query (§5.2), over HTTP.

The export's `where` reads the stored event: its properties, `event["$time"]`, its name, and
through `user[...]` the profile of its person. The engage query's reads the profile, under
`properties[...]` or `user[...]`, and lists only people whose visible profile matches.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from kindred.identity import IdentityMode
from kindred.storage.base import Project
from tests.api.helpers import (
    VERBOSE_OK,
    at,
    dated,
    engage,
    event,
    profile_update,
    send_dated,
    track,
)
from tests.conftest import LiveServer

EXPORT = "/api/2.0/export"
ENGAGE_QUERY = "/api/query/engage"
DATES = {"from_date": "2026-11-01", "to_date": "2026-11-30"}


def set_profile(http: httpx.Client, project: Project, distinct_id: str, **operation: Any) -> None:
    response = engage(http, profile_update(project.token, distinct_id, **operation))
    assert response.json() == VERBOSE_OK


def exported(server: LiveServer, project: Project, where: str, **params: Any) -> list[str]:
    """The exported events' names, in order."""
    return [e["event"] for e in server.export(project, where=where, **{**DATES, **params})]


def engaged(server: LiveServer, project: Project, where: str, **params: Any) -> list[str]:
    answer = server.engage(project, where=where, **params)
    assert answer["total"] == len(answer["results"])
    return [r["$distinct_id"] for r in answer["results"]]


@pytest.fixture
def project(server: LiveServer) -> Project:
    return server.new_project(IdentityMode.ORIGINAL)


# --- Export ----------------------------------------------------------------------------------


@pytest.fixture
def shop(http: httpx.Client, project: Project) -> str:
    """Five events of a device identified as u1, and of u2; returns the device id."""
    device = str(uuid.uuid4())
    send_dated(
        http,
        project,
        dated("Viewed", device, at(hours=1), plan="free", price=5),
        dated("$identify", "u1", at(hours=2), **{"$identified_id": "u1", "$anon_id": device}),
        dated("Bought", "u1", at(hours=3), plan="pro", price=20),
        dated("Viewed", "u2", at(hours=4), plan="pro", price=8, tags=["a", "b"]),
        dated("Refunded", "u2", at(hours=5), plan="pro", price=20),
    )
    return device


@pytest.mark.parametrize(
    ("where", "names"),
    [
        pytest.param('properties["plan"] == "pro"', ["Bought", "Viewed", "Refunded"], id="string"),
        pytest.param('properties["price"] > 6 and properties["price"] < 20', ["Viewed"], id="and"),
        pytest.param('"a" in properties["tags"]', ["Viewed"], id="in-list"),
        pytest.param('not defined(properties["plan"])', ["$identify"], id="not-defined"),
        pytest.param('event["name"] == "Bought"', ["Bought"], id="event-name"),
        pytest.param(
            'event["$time"] >= datetime("2026-11-02T04:00:00")', ["Viewed", "Refunded"], id="time"
        ),
        pytest.param('properties["time"] < 1700000000', [], id="time-as-seconds"),
        pytest.param('properties["plan"] == "gold"', [], id="nothing"),
    ],
)
def test_export_where_keeps_the_events_it_is_true_of(
    server: LiveServer, project: Project, shop: str, where: str, names: list[str]
) -> None:
    assert exported(server, project, where) == names


def test_export_where_combines_with_event_and_limit(
    server: LiveServer, project: Project, shop: str
) -> None:
    where = 'properties["price"] >= 8'

    assert exported(server, project, where, event='["Viewed", "Bought"]') == ["Bought", "Viewed"]
    assert exported(server, project, where, limit=2) == ["Bought", "Viewed"]


def test_export_where_prints_canonical_ids_like_any_export(
    server: LiveServer, project: Project, shop: str
) -> None:
    [viewed] = server.export(project, where='properties["price"] == 5', **DATES)

    assert viewed["properties"]["distinct_id"] == "u1"
    assert viewed["properties"]["$distinct_id_before_identity"] == shop
    assert viewed["properties"]["time"] == at(hours=1)


def test_export_where_on_user_reads_the_persons_profile(
    server: LiveServer, http: httpx.Client, project: Project, shop: str
) -> None:
    set_profile(http, project, "u1", **{"$set": {"tier": "vip"}})

    # The device's event too: its person is u1, whose profile is the one read.
    assert exported(server, project, 'user["tier"] == "vip"') == ["Viewed", "$identify", "Bought"]


def test_export_where_sees_every_copy_unless_dedupe(
    server: LiveServer, http: httpx.Client, project: Project
) -> None:
    twice = dated("Paid", "u1", at(hours=1), price=20)
    send_dated(http, project, twice, twice, dated("Paid", "u1", at(hours=2), price=1))

    assert exported(server, project, 'properties["price"] == 20') == ["Paid", "Paid"]
    assert exported(server, project, 'properties["price"] == 20', dedupe="true") == ["Paid"]


# --- Engage query ----------------------------------------------------------------------------


def test_engage_where_filters_profiles_by_property(
    server: LiveServer, http: httpx.Client, project: Project
) -> None:
    set_profile(http, project, "u1", **{"$set": {"plan": "pro", "age": 30}})
    set_profile(http, project, "u2", **{"$set": {"plan": "free", "age": 17}})
    set_profile(http, project, "u3", **{"$set": {"age": 50}})

    assert engaged(server, project, 'properties["plan"] == "pro"') == ["u1"]
    assert engaged(server, project, 'user["plan"] == "free"') == ["u2"]
    assert engaged(server, project, 'not defined(properties["plan"])') == ["u3"]
    assert engaged(server, project, 'properties["age"] >= 18') == ["u1", "u3"]
    assert engaged(server, project, 'properties["age"] >= 18', distinct_ids='["u3"]') == ["u3"]


def test_engage_where_reads_only_the_visible_profile(
    server: LiveServer, http: httpx.Client, project: Project
) -> None:
    device = str(uuid.uuid4())
    set_profile(http, project, device, **{"$set": {"plan": "pro"}})
    set_profile(http, project, "u1", **{"$set": {"plan": "free"}, "$ignore_alias": True})
    identify = event(project.token, "$identify", **{"$identified_id": "u1", "$anon_id": device})
    assert track(http, identify).text == "1"

    # u1's own profile is the visible one; the device's is hidden, not merged.
    assert engaged(server, project, 'properties["plan"] == "pro"') == []
    assert engaged(server, project, 'properties["plan"] == "free"') == ["u1"]


def test_engage_where_filters_group_profiles(
    server: LiveServer, http: httpx.Client, project: Project
) -> None:
    for group_id, size in (("acme", 500), ("tiny", 3)):
        update = {"$token": project.token, "$group_key": "company", "$group_id": group_id}
        response = engage(http, {**update, "$set": {"size": size}}, path="/groups")
        assert response.json() == VERBOSE_OK

    big = engaged(server, project, 'properties["size"] > 100', data_group_id="company")

    assert big == ["acme"]


# --- Mistakes --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "where", "message"),
    [
        pytest.param(EXPORT, 'properties["plan"] = "pro"', "position 19", id="export-equals"),
        pytest.param(EXPORT, 'properties["plan" == "pro"', "position 18", id="export-bracket"),
        pytest.param(ENGAGE_QUERY, 'properties["a"] && true', "position 16", id="engage-and"),
        pytest.param(
            ENGAGE_QUERY,
            'event["$time"] > datetime("2026-01-01")',
            'event["$time"] is not available here',
            id="engage-event-field",
        ),
    ],
)
def test_a_bad_where_is_a_400_that_says_where(
    http: httpx.Client, project: Project, path: str, where: str, message: str
) -> None:
    response = http.post(path, data={**DATES, "where": where}, auth=(project.secret, ""))

    assert response.status_code == 400
    error = response.json()["error"]
    assert error.startswith("where: ")
    assert message in error
