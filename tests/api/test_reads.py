"""The read APIs over HTTP: raw export (SPEC.md §5.1) and the engage query (§5.2, edge cases 81, 83).

Reads need the project secret or a service account; the public token may write but never read.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from kindred.identity import IdentityMode
from kindred.storage.base import Project
from kindred.storage.sqlite_meta import SQLiteMetadataStore
from tests.api.helpers import (
    VERBOSE_OK,
    engage,
    event,
    import_events,
    importable,
    now_s,
    profile_update,
    track,
)
from tests.conftest import LiveServer

EXPORT = "/api/2.0/export"
ENGAGE_QUERY = "/api/query/engage"
DATES = {"from_date": "1971-01-01", "to_date": "2100-01-01"}


@pytest.fixture
def project(server: LiveServer) -> Project:
    return server.new_project()


def _set(http: httpx.Client, project: Project, distinct_id: str, **properties: Any) -> None:
    response = engage(http, profile_update(project.token, distinct_id, **{"$set": properties}))
    assert response.json() == VERBOSE_OK


# --- Export -------------------------------------------------------------------------------------


def test_export_gives_seconds_by_default_and_milliseconds_with_time_in_ms(
    server: LiveServer, http: httpx.Client, project: Project
) -> None:
    sent_ms = (now_s() - 600) * 1000 + 123
    import_events(http, project, [importable("A", distinct_id="u1", time=sent_ms)], strict=1)

    [in_seconds] = server.export(project)
    [in_ms] = server.export(project, time_in_ms="true")

    assert in_seconds["properties"]["time"] == sent_ms // 1000
    assert in_ms["properties"]["time"] == sent_ms


def test_export_keeps_only_the_named_events(
    server: LiveServer, http: httpx.Client, project: Project
) -> None:
    events = [importable(name, distinct_id="u1") for name in ("A", "B", "A", "C")]
    import_events(http, project, events, strict=1)

    assert [e["event"] for e in server.export(project, event='["A"]')] == ["A", "A"]
    assert sorted(e["event"] for e in server.export(project, event='["B", "C"]')) == ["B", "C"]


def test_export_limit_caps_the_number_of_events(
    server: LiveServer, http: httpx.Client, project: Project
) -> None:
    events = [importable(f"E{i}", distinct_id="u1", time=now_s() - 100 + i) for i in range(5)]
    import_events(http, project, events, strict=1)

    assert [e["event"] for e in server.export(project, limit=2)] == ["E0", "E1"]


def test_export_date_range_is_inclusive_in_utc_days(
    server: LiveServer, http: httpx.Client, project: Project
) -> None:
    day = 1_700_000_000 - 1_700_000_000 % 86_400  # 2023-11-14T00:00:00Z
    events = [
        importable("Before", distinct_id="u1", time=day - 1),
        importable("First", distinct_id="u1", time=day),
        importable("Last", distinct_id="u1", time=day + 86_399),
        importable("After", distinct_id="u1", time=day + 86_400),
    ]
    import_events(http, project, events, strict=1)

    one_day = server.export(project, from_date="2023-11-14", to_date="2023-11-14")

    assert [e["event"] for e in one_day] == ["First", "Last"]


def test_export_lines_are_ndjson_with_event_and_properties(
    server: LiveServer, http: httpx.Client, project: Project
) -> None:
    insert_id = uuid.uuid4().hex
    item = importable("A", distinct_id="u1", plan="pro", **{"$insert_id": insert_id})
    import_events(http, project, [item], strict=1)

    response = http.get(EXPORT, params=DATES, auth=(project.secret, ""))

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    [stored] = server.export(project)
    assert set(stored) == {"event", "properties"}
    properties = stored["properties"]
    assert (properties["distinct_id"], properties["$insert_id"], properties["plan"]) == (
        "u1",
        insert_id,
        "pro",
    )
    assert "mp_processing_time_ms" in properties
    assert "token" not in properties


def test_export_answers_400_without_dates(http: httpx.Client, project: Project) -> None:
    response = http.get(EXPORT, auth=(project.secret, ""))

    assert response.status_code == 400
    assert "from_date" in response.json()["error"]


# --- Who may read -------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [EXPORT, "/api/query/export", ENGAGE_QUERY, "/api/2.0/engage"])
@pytest.mark.parametrize(
    "credentials",
    [
        pytest.param("token", id="token-as-basic-user"),
        pytest.param("wrong", id="wrong-secret"),
        pytest.param("none", id="no-credentials"),
    ],
)
def test_reads_need_the_secret_not_the_token(
    http: httpx.Client, project: Project, path: str, credentials: str
) -> None:
    track(http, event(project.token, "A", distinct_id="u1"))
    auth = {"token": (project.token, ""), "wrong": ("wrong", ""), "none": None}[credentials]

    response = http.get(path, params=DATES, auth=auth)

    assert response.status_code == 401
    assert '"event"' not in response.text


def test_reads_accept_a_service_account_with_project_id(
    server: LiveServer, http: httpx.Client, project: Project
) -> None:
    meta = SQLiteMetadataStore(server.data_dir / "meta.sqlite")
    try:
        account = meta.create_service_account(project.id, f"reader-{uuid.uuid4().hex[:8]}", "s3")
    finally:
        meta.close()
    track(http, event(project.token, "A", distinct_id="u1"))
    _set(http, project, "u1", plan="pro")

    exported = http.get(
        EXPORT, params={**DATES, "project_id": project.id}, auth=(account.username, "s3")
    )
    queried = http.post(
        ENGAGE_QUERY, data={"project_id": project.id}, auth=(account.username, "s3")
    )

    assert exported.status_code == 200
    assert '"event":"A"' in exported.text
    assert queried.json()["results"][0]["$distinct_id"] == "u1"


# --- Engage query -------------------------------------------------------------------------------


def test_engage_query_answers_in_mixpanels_shape(
    server: LiveServer, http: httpx.Client, project: Project
) -> None:
    _set(http, project, "u1", plan="pro")

    body = server.engage(project)

    assert body["page"] == 0
    assert body["page_size"] == 1000
    assert body["status"] == "ok"
    assert body["total"] == 1
    assert isinstance(body["session_id"], str)
    assert body["session_id"]
    [result] = body["results"]
    assert result["$distinct_id"] == "u1"
    assert result["$properties"]["plan"] == "pro"


def test_engage_query_output_properties_picks_the_named_properties(
    server: LiveServer, http: httpx.Client, project: Project
) -> None:
    _set(http, project, "u1", plan="pro", email="u1@example.com", age=30)

    body = server.engage(project, output_properties='["plan", "age", "missing"]')

    assert body["results"] == [{"$distinct_id": "u1", "$properties": {"plan": "pro", "age": 30}}]


def test_engage_query_distinct_ids_lists_only_those_people(
    server: LiveServer, http: httpx.Client, project: Project
) -> None:
    for name in ("u1", "u2", "u3"):
        _set(http, project, name, n=1)

    body = server.engage(project, distinct_ids='["u3", "u1", "nobody"]')

    assert sorted(r["$distinct_id"] for r in body["results"]) == ["u1", "u3"]


def test_engage_query_pages_through_every_profile_with_session_id(
    server: LiveServer, http: httpx.Client, project: Project
) -> None:
    names = [f"u{i}" for i in range(5)]
    for name in names:
        _set(http, project, name, n=1)

    first = server.engage(project, page_size=2)
    seen = [r["$distinct_id"] for r in first["results"]]
    page = 0
    while True:
        page += 1
        body = server.engage(project, page_size=2, page=page, session_id=first["session_id"])
        assert body["page"] == page
        assert body["total"] == 5
        seen += [r["$distinct_id"] for r in body["results"]]
        if len(body["results"]) < 2:
            break

    assert first["total"] == 5
    assert page == 2
    assert sorted(seen) == names


def test_edge_83_page_1_without_session_id_is_a_400(http: httpx.Client, project: Project) -> None:
    response = http.post(ENGAGE_QUERY, data={"page": 1}, auth=(project.secret, ""))

    assert response.status_code == 400
    assert "session_id" in response.json()["error"]


def test_engage_query_page_size_over_1000_is_a_400(http: httpx.Client, project: Project) -> None:
    response = http.post(ENGAGE_QUERY, data={"page_size": 1001}, auth=(project.secret, ""))

    assert response.status_code == 400


def test_edge_81_original_engage_finds_a_merged_person_only_by_canonical_id(
    server: LiveServer, http: httpx.Client
) -> None:
    project = server.new_project(IdentityMode.ORIGINAL)
    device = str(uuid.uuid4())
    _set(http, project, device, plan="free")
    identify = event(project.token, "$identify", **{"$identified_id": "U1", "$anon_id": device})
    assert track(http, identify).text == "1"

    by_member = server.engage(project, distinct_id=device)
    by_canonical = server.engage(project, distinct_id="U1")
    everyone = server.engage(project)

    assert by_member["results"] == []
    [person] = by_canonical["results"]
    assert person["$distinct_id"] == "U1"
    assert person["$properties"]["plan"] == "free"
    assert [r["$distinct_id"] for r in everyone["results"]] == ["U1"]


def test_edge_81_simplified_engage_finds_the_user_only_by_user_id(
    server: LiveServer, http: httpx.Client
) -> None:
    project = server.new_project(IdentityMode.SIMPLIFIED)
    _set(http, project, "U1", plan="pro")
    link = event(project.token, "Linked", **{"$device_id": "D1", "$user_id": "U1"})
    assert track(http, link).text == "1"

    assert server.engage(project, distinct_id="$device:D1")["results"] == []
    [person] = server.engage(project, distinct_id="U1")["results"]
    assert person["$properties"]["plan"] == "pro"


def test_profile_update_to_a_merged_member_lands_on_the_visible_profile(
    server: LiveServer, http: httpx.Client
) -> None:
    project = server.new_project(IdentityMode.ORIGINAL)
    device = str(uuid.uuid4())
    identify = event(project.token, "$identify", **{"$identified_id": "U1", "$anon_id": device})
    assert track(http, identify).text == "1"

    _set(http, project, device, plan="pro")

    assert [r["$distinct_id"] for r in server.engage(project)["results"]] == ["U1"]
    [person] = server.engage(project, distinct_id="U1")["results"]
    assert person["$properties"]["plan"] == "pro"
