"""/engage and /groups over HTTP: SPEC.md §7 edge cases 35-48, read back through the engage query."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from kindred.storage.base import Project
from tests.api.helpers import (
    VERBOSE_OK,
    encode_base64,
    encode_json,
    engage,
    event,
    now_s,
    profile_update,
    track,
)
from tests.conftest import LiveServer

GEO_PROPERTIES = {"$city", "$region", "$country_code", "$timezone", "$geo_source", "ip", "$ip"}
LAST_SEEN_LENGTH = len("2026-12-03T15:50:11")


@pytest.fixture
def project(server: LiveServer) -> Project:
    return server.new_project()


def _profile(server: LiveServer, project: Project, distinct_id: str) -> dict[str, Any] | None:
    results = server.engage(project, distinct_id=distinct_id)["results"]
    if not results:
        return None
    [found] = results
    assert found["$distinct_id"] == distinct_id
    properties: dict[str, Any] = found["$properties"]
    return properties


def _update_all(http: httpx.Client, project: Project, *operations: dict[str, Any]) -> None:
    for operation in operations:
        response = engage(http, profile_update(project.token, "u1", **operation))
        assert response.json() == VERBOSE_OK, operation


def test_edge_35_set_creates_the_profile_with_last_seen_and_no_geolocation(
    server: LiveServer, http: httpx.Client, project: Project
) -> None:
    response = http.post(
        "/engage",
        params={"ip": 1, "verbose": 1},
        data={
            "data": encode_json(profile_update(project.token, "u1", **{"$set": {"plan": "pro"}}))
        },
    )

    assert response.json() == VERBOSE_OK
    properties = _profile(server, project, "u1")
    assert properties is not None
    assert properties["plan"] == "pro"
    assert len(properties["$last_seen"]) == LAST_SEEN_LENGTH
    assert not GEO_PROPERTIES & properties.keys()


@pytest.mark.parametrize(
    ("operations", "expected"),
    [
        pytest.param(
            [{"$set_once": {"first": "a"}}, {"$set_once": {"first": "b"}}],
            {"first": "a"},
            id="edge-36",
        ),
        pytest.param([{"$add": {"n": 5}}], {"n": 5}, id="edge-37-missing-counts-as-0"),
        pytest.param([{"$add": {"n": 5}}, {"$add": {"n": -2}}], {"n": 3}, id="edge-37"),
        pytest.param(
            [{"$append": {"tags": "b"}}, {"$append": {"tags": "b"}}],
            {"tags": ["b", "b"]},
            id="edge-39",
        ),
        pytest.param(
            [{"$set": {"tags": ["a"]}}, {"$remove": {"tags": "zzz"}}],
            {"tags": ["a"]},
            id="edge-40",
        ),
        pytest.param(
            [{"$set": {"tags": ["a", "b"]}}, {"$remove": {"tags": "a"}}],
            {"tags": ["b"]},
            id="edge-40-present",
        ),
        pytest.param(
            [{"$set": {"plan": "pro", "keep": 1}}, {"$unset": ["plan"]}],
            {"keep": 1},
            id="edge-41",
        ),
    ],
)
def test_profile_operation_gives_the_documented_result(
    server: LiveServer,
    http: httpx.Client,
    project: Project,
    operations: list[dict[str, Any]],
    expected: dict[str, Any],
) -> None:
    _update_all(http, project, *operations)

    properties = _profile(server, project, "u1")
    assert properties is not None
    properties.pop("$last_seen")
    assert properties == expected


def test_edge_38_union_adds_only_the_values_not_yet_in_the_list(
    server: LiveServer, http: httpx.Client, project: Project
) -> None:
    _update_all(http, project, {"$union": {"tags": ["a", "b"]}}, {"$union": {"tags": ["b", "c"]}})

    properties = _profile(server, project, "u1")
    assert properties is not None
    # The order of a union is not significant (SPEC.md §7, edge case 38).
    assert sorted(properties["tags"]) == ["a", "b", "c"]


def test_edge_42_delete_removes_the_profile_and_keeps_the_events(
    server: LiveServer, http: httpx.Client, project: Project
) -> None:
    track(http, event(project.token, "Before Delete", distinct_id="u1"))
    _update_all(http, project, {"$set": {"plan": "pro"}}, {"$delete": ""})

    assert _profile(server, project, "u1") is None
    assert server.engage(project)["total"] == 0
    [kept] = server.export(project)
    assert kept["properties"]["distinct_id"] == "u1"
    assert "plan" not in kept["properties"]


def test_edge_43_record_without_token_answers_token_missing_and_changes_nothing(
    server: LiveServer, http: httpx.Client, project: Project
) -> None:
    response = engage(http, {"$distinct_id": "u1", "$set": {"plan": "pro"}})

    assert response.status_code == 200
    assert response.json() == {"error": "$token, missing or empty", "status": 0}
    assert server.engage(project)["results"] == []


def test_edge_43_basic_auth_does_not_stand_in_for_the_token(
    server: LiveServer, http: httpx.Client, project: Project
) -> None:
    response = http.post(
        "/engage",
        params={"verbose": 1},
        data={"data": '{"$distinct_id":"u1","$set":{"plan":"pro"}}'},
        auth=(project.secret, ""),
    )

    assert response.json() == {"error": "$token, missing or empty", "status": 0}
    assert server.engage(project)["results"] == []


def test_edge_44_ignore_time_leaves_last_seen_unchanged(
    server: LiveServer, http: httpx.Client, project: Project
) -> None:
    first_time = now_s() - 86_400
    engage(http, profile_update(project.token, "u1", **{"$set": {"a": 1}, "$time": first_time}))
    before = _profile(server, project, "u1")
    assert before is not None

    response = engage(
        http,
        profile_update(project.token, "u1", **{"$set": {"b": 2}, "$ignore_time": True}),
    )

    assert response.json() == VERBOSE_OK
    after = _profile(server, project, "u1")
    assert after is not None
    assert after["b"] == 2
    assert after["$last_seen"] == before["$last_seen"]


def test_edge_45_latitude_and_longitude_are_accepted_without_reverse_geocoding(
    server: LiveServer, http: httpx.Client, project: Project
) -> None:
    # No geo database is configured (SPEC-DECISIONS.md): nothing is derived, nothing is kept.
    update = profile_update(
        project.token,
        "u1",
        **{"$set": {"plan": "pro"}, "$latitude": 37.77, "$longitude": -122.42, "$ip": "1.2.3.4"},
    )

    response = engage(http, update)

    assert response.json() == VERBOSE_OK
    properties = _profile(server, project, "u1")
    assert properties is not None
    assert not (GEO_PROPERTIES | {"$latitude", "$longitude"}) & properties.keys()


def test_edge_46_set_past_2000_properties_fails_and_leaves_the_profile(
    server: LiveServer, http: httpx.Client, project: Project
) -> None:
    # 1999 properties plus $last_seen make 2000.
    full = {f"p{i}": i for i in range(1999)}
    assert engage(http, profile_update(project.token, "u1", **{"$set": full})).json() == VERBOSE_OK

    response = engage(http, profile_update(project.token, "u1", **{"$set": {"one_more": 1}}))

    assert response.json()["status"] == 0
    assert "2000" in response.json()["error"]
    properties = _profile(server, project, "u1")
    assert properties is not None
    assert len(properties) == 2000
    assert "one_more" not in properties


def test_engage_batch_answers_1_when_one_update_of_two_fails(
    server: LiveServer, http: httpx.Client, project: Project
) -> None:
    records = [
        profile_update(project.token, "u1", **{"$set": {"n": "text"}}),
        profile_update(project.token, "u1", **{"$add": {"n": 1}}),
    ]

    response = engage(http, records, verbose=0)

    assert response.text == "1"
    properties = _profile(server, project, "u1")
    assert properties is not None
    assert properties["n"] == "text"


# --- /groups ------------------------------------------------------------------------------------


def _group(server: LiveServer, project: Project, key: str, group_id: str) -> dict[str, Any] | None:
    results = server.engage(project, data_group_id=key, distinct_id=group_id)["results"]
    if not results:
        return None
    [found] = results
    properties: dict[str, Any] = found["$properties"]
    return properties


def _group_update(project: Project, **operation: Any) -> dict[str, Any]:
    return {"$token": project.token, "$group_key": "company", "$group_id": "acme", **operation}


def test_edge_47_groups_set_creates_the_group_profile(
    server: LiveServer, http: httpx.Client, project: Project
) -> None:
    response = engage(http, _group_update(project, **{"$set": {"size": 10}}), path="/groups")

    assert response.json() == VERBOSE_OK
    assert _group(server, project, "company", "acme") == {"size": 10}
    assert server.engage(project)["results"] == []


def test_edge_47_groups_record_with_distinct_id_is_refused(
    server: LiveServer, http: httpx.Client, project: Project
) -> None:
    record = _group_update(project, **{"$set": {"size": 10}, "$distinct_id": "u1"})

    response = engage(http, record, path="/groups")

    assert response.json()["status"] == 0
    assert "$distinct_id" in response.json()["error"]
    assert _group(server, project, "company", "acme") is None


@pytest.mark.parametrize(
    "operation",
    [
        pytest.param({"$add": {"size": 1}}, id="edge-48-add"),
        pytest.param({"$append": {"tags": "x"}}, id="edge-48-append"),
    ],
)
def test_edge_48_groups_refuse_add_and_append(
    server: LiveServer, http: httpx.Client, project: Project, operation: dict[str, Any]
) -> None:
    engage(http, _group_update(project, **{"$set": {"size": 10}}), path="/groups")

    response = engage(http, _group_update(project, **operation), path="/groups")

    assert response.json()["status"] == 0
    assert _group(server, project, "company", "acme") == {"size": 10}


@pytest.mark.parametrize("path", ["/engage", "/engage/", "/prefix/engage", "/mp/engage/"])
def test_engage_is_served_on_every_path_spelling_with_get_and_base64(
    server: LiveServer, http: httpx.Client, project: Project, path: str
) -> None:
    records = [profile_update(project.token, "u1", **{"$set": {"plan": "pro"}})]

    response = http.get(path, params={"verbose": 1, "data": encode_base64(records)})

    assert response.json() == VERBOSE_OK
    properties = _profile(server, project, "u1")
    assert properties is not None
    assert properties["plan"] == "pro"


@pytest.mark.parametrize("path", ["/groups/", "/prefix/groups"])
def test_groups_is_served_with_a_trailing_slash_and_under_a_prefix(
    server: LiveServer, http: httpx.Client, project: Project, path: str
) -> None:
    response = engage(http, _group_update(project, **{"$union": {"tags": ["x"]}}), path=path)

    assert response.json() == VERBOSE_OK
    assert _group(server, project, "company", "acme") == {"tags": ["x"]}


def test_concurrent_add_updates_are_all_applied(
    server: LiveServer, http: httpx.Client, project: Project
) -> None:
    def add_one(_: int) -> str:
        update = profile_update(project.token, "shared", **{"$add": {"n": 1}})
        return engage(http, update, verbose=0).text

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(add_one, range(80)))

    assert answers == ["1"] * 80
    properties = _profile(server, project, "shared")
    assert properties is not None
    assert properties["n"] == 80
