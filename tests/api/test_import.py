"""/import over HTTP: SPEC.md §7 edge cases 11-26 and 33-34, its carriers and its credentials."""

from __future__ import annotations

import base64
import gzip
import subprocess
import sys
from typing import Any

import httpx
import orjson
import pytest

from kindred.storage.base import Project, ServiceAccount
from kindred.storage.sqlite_meta import SQLiteMetadataStore
from tests.api.helpers import (
    JSON,
    VERBOSE_OK,
    by_name,
    encode_base64,
    encode_json,
    import_events,
    importable,
    new_insert_id,
    now_s,
)
from tests.conftest import LiveServer

INVALID_CREDENTIALS = {"code": 401, "error": "Invalid credentials", "status": "Unauthorized"}
INSERT_ID_MESSAGE = (
    "'$insert_id' is invalid: must only contain alphanumeric or hyphen '-' characters"
)
MAX_REQUEST_BYTES = 10 * 1024 * 1024


@pytest.fixture
def project(server: LiveServer) -> Project:
    return server.new_project()


def _create_service_account(server: LiveServer, project: Project, username: str) -> ServiceAccount:
    meta = SQLiteMetadataStore(server.data_dir / "meta.sqlite")
    try:
        return meta.create_service_account(project.id, username, "sa-" + new_insert_id())
    finally:
        meta.close()


# --- strict=1: partial success and failed_records ------------------------------------------------


def test_edge_11_strict_import_refuses_time_two_hours_ahead_and_imports_the_rest(
    server: LiveServer, http: httpx.Client, project: Project
) -> None:
    events = [importable("Future", time=now_s() + 7200), importable("Now1"), importable("Now2")]

    response = import_events(http, project, events, strict=1)

    assert response.status_code == 400
    body = response.json()
    assert body["num_records_imported"] == 2
    assert [(r["index"], r["field"]) for r in body["failed_records"]] == [(0, "properties.time")]
    assert sorted(e["event"] for e in server.export(project)) == ["Now1", "Now2"]


@pytest.mark.parametrize(
    ("properties", "field"),
    [
        pytest.param({"time": 15_638_400}, "properties.time", id="edge-12"),  # 1970-06-01
        pytest.param({"$insert_id": "a" * 37}, "$insert_id", id="edge-14"),
        pytest.param(
            {"distinct_id": "undefined"}, "properties.distinct_id", id="edge-15-undefined"
        ),
        pytest.param({"distinct_id": "null"}, "properties.distinct_id", id="edge-15-null"),
        pytest.param({"distinct_id": "0"}, "properties.distinct_id", id="edge-15-zero"),
        pytest.param({"distinct_id": "[]"}, "properties.distinct_id", id="edge-15-brackets"),
        pytest.param({"nested": {"a": {"b": {"c": {"d": 1}}}}}, "properties.nested", id="edge-34"),
    ],
)
def test_strict_import_refuses_an_invalid_record_and_stores_nothing_of_it(
    server: LiveServer,
    http: httpx.Client,
    project: Project,
    properties: dict[str, Any],
    field: str,
) -> None:
    bad = importable("Bad", **{"distinct_id": "u1", **properties})

    response = import_events(http, project, [bad], strict=1)

    assert response.status_code == 400
    body = response.json()
    assert body["num_records_imported"] == 0
    [failed] = body["failed_records"]
    assert failed["index"] == 0
    assert failed["field"].startswith(field)
    assert server.export(project) == []


def test_edge_13_strict_import_reports_a_bad_insert_id_and_imports_the_three_valid(
    server: LiveServer, http: httpx.Client, project: Project
) -> None:
    events = [importable(f"Ok{i}", distinct_id="u1") for i in range(3)]
    events.append(importable("Bad", distinct_id="u1", **{"$insert_id": "ab:cd"}))

    response = import_events(http, project, events, strict=1)

    assert response.status_code == 400
    body = response.json()
    assert body["num_records_imported"] == 3
    assert body["failed_records"] == [
        {"index": 3, "insert_id": "ab:cd", "field": "$insert_id", "message": INSERT_ID_MESSAGE}
    ]
    assert body["code"] == 400
    assert body["status"] == "Bad Request"
    assert sorted(e["event"] for e in server.export(project)) == ["Ok0", "Ok1", "Ok2"]


def test_edge_16_empty_distinct_id_is_accepted_and_belongs_to_no_user(
    server: LiveServer, http: httpx.Client, project: Project
) -> None:
    response = import_events(http, project, [importable("Anon", distinct_id="")], strict=1)

    assert response.status_code == 200
    [stored] = server.export(project)
    assert stored["properties"]["distinct_id"] == ""
    assert "$distinct_id_before_identity" not in stored["properties"]


def test_edge_17_strict_import_of_valid_events_answers_ok_with_the_count(
    server: LiveServer, http: httpx.Client, project: Project
) -> None:
    events = [importable(f"E{i}", distinct_id="u1") for i in range(5)]

    response = import_events(http, project, events, strict=1)

    assert response.status_code == 200
    assert response.json() == {"code": 200, "num_records_imported": 5, "status": "OK"}
    exported = server.export(project)
    assert len(exported) == 5
    assert all(e["properties"]["$import"] is True for e in exported)


def test_edge_33_strict_import_refuses_an_event_with_300_properties(
    server: LiveServer, http: httpx.Client, project: Project
) -> None:
    many = {f"p{i}": i for i in range(300)}

    response = import_events(
        http, project, [importable("Wide", distinct_id="u1", **many)], strict=1
    )

    assert response.status_code == 400
    assert response.json()["failed_records"][0]["field"] == "properties"
    assert server.export(project) == []


def test_object_nested_three_deep_is_accepted_by_strict_import(
    server: LiveServer, http: httpx.Client, project: Project
) -> None:
    nested = {"a": {"b": {"c": 1}}}

    response = import_events(http, project, [importable("Deep", nested=nested)], strict=1)

    assert response.status_code == 200
    assert server.export(project)[0]["properties"]["nested"] == nested


# --- Credentials --------------------------------------------------------------------------------


def test_edge_18_wrong_secret_answers_401_invalid_credentials(
    server: LiveServer, http: httpx.Client, project: Project
) -> None:
    response = http.post(
        "/import",
        params={"strict": 1},
        content=orjson.dumps([importable()]),
        headers=JSON,
        auth=("not-the-secret", ""),
    )

    assert response.status_code == 401
    assert response.json() == INVALID_CREDENTIALS
    assert server.export(project) == []


def test_edge_18_wrong_service_account_secret_answers_401(
    server: LiveServer, http: httpx.Client, project: Project
) -> None:
    account = _create_service_account(server, project, f"sa-{new_insert_id()[:8]}")

    response = http.post(
        "/import",
        params={"strict": 1, "project_id": project.id},
        content=orjson.dumps([importable()]),
        headers=JSON,
        auth=(account.username, "wrong"),
    )

    assert response.status_code == 401
    assert response.json() == {
        "code": 401,
        "error": "Invalid service account credentials",
        "status": "Unauthorized",
    }
    assert server.export(project) == []


def test_import_without_credentials_answers_401(
    server: LiveServer, http: httpx.Client, project: Project
) -> None:
    response = http.post("/import", content=orjson.dumps([importable()]), headers=JSON)

    assert response.status_code == 401
    assert response.json() == INVALID_CREDENTIALS
    assert server.export(project) == []


def _basic(user: str, password: str) -> dict[str, str]:
    encoded = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"authorization": f"Basic {encoded}"}


@pytest.mark.parametrize(
    "credentials",
    [
        pytest.param("secret", id="basic-secret"),
        pytest.param("token", id="basic-token"),
        pytest.param("service-account-python", id="service-account-python-api"),
        pytest.param("service-account-cli", id="service-account-cli"),
        pytest.param("plain-service-account", id="service-account-not-base64"),
    ],
)
def test_import_accepts_every_documented_credential(
    server: LiveServer, http: httpx.Client, project: Project, credentials: str
) -> None:
    params: dict[str, Any] = {"strict": 1}
    if credentials == "secret":
        headers = _basic(project.secret, "")
    elif credentials == "token":
        headers = _basic(project.token, "")
    elif credentials == "service-account-cli":
        username = f"cli-{new_insert_id()[:8]}"
        created = subprocess.run(
            [sys.executable, "-m", "kindred", "service-account", "create", project.name, username]
            + ["--secret", "cli-secret", "--data-dir", str(server.data_dir)],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        assert orjson.loads(created.stdout)["project_id"] == project.id
        headers = _basic(username, "cli-secret")
        params["project_id"] = project.id
    else:
        account = _create_service_account(server, project, f"py-{new_insert_id()[:8]}")
        params["project_id"] = project.id
        if credentials == "plain-service-account":
            headers = {"authorization": f"Basic {account.username}:{account.secret}"}
        else:
            headers = _basic(account.username, account.secret)

    response = http.post(
        "/import",
        params=params,
        content=orjson.dumps([importable("Imported", distinct_id="u1")]),
        headers={**JSON, **headers},
    )

    assert response.status_code == 200, response.text
    assert response.json()["num_records_imported"] == 1
    assert [e["event"] for e in server.export(project)] == ["Imported"]


def test_service_account_of_another_project_is_refused(
    server: LiveServer, http: httpx.Client, project: Project
) -> None:
    other = server.new_project()
    account = _create_service_account(server, other, f"other-{new_insert_id()[:8]}")

    response = http.post(
        "/import",
        params={"strict": 1, "project_id": project.id},
        content=orjson.dumps([importable()]),
        headers={**JSON, **_basic(account.username, account.secret)},
    )

    assert response.status_code == 401
    assert server.export(project) == []
    assert server.export(other) == []


def test_event_carrying_another_projects_token_is_refused(
    server: LiveServer, http: httpx.Client, project: Project
) -> None:
    other = server.new_project()
    events = [importable("Mine"), importable("Theirs", token=other.token)]

    response = import_events(http, project, events, strict=1)

    assert response.status_code == 400
    assert response.json()["failed_records"][0]["field"] == "properties.token"
    assert [e["event"] for e in server.export(project)] == ["Mine"]
    assert server.export(other) == []


# --- Batch limits -------------------------------------------------------------------------------


def test_edge_19_body_over_10_mb_answers_413_with_the_limit(
    server: LiveServer, http: httpx.Client, project: Project
) -> None:
    body = b"[" + b" " * MAX_REQUEST_BYTES + b"]"

    response = http.post("/import", content=body, headers=JSON, auth=(project.secret, ""))

    assert response.status_code == 413
    assert response.json() == {
        "code": 413,
        "error": f"request exceeds max limit of {MAX_REQUEST_BYTES} bytes",
        "status": "Request Entity Too Large",
    }
    assert server.export(project) == []


def test_edge_19_gzip_body_inflating_over_10_mb_answers_413(
    server: LiveServer, http: httpx.Client, project: Project
) -> None:
    body = gzip.compress(b"[" + b" " * MAX_REQUEST_BYTES + b"]")

    response = http.post(
        "/import",
        content=body,
        headers={**JSON, "content-encoding": "gzip"},
        auth=(project.secret, ""),
    )

    assert response.status_code == 413
    assert server.export(project) == []


@pytest.mark.parametrize(
    "strict", [pytest.param(1, id="edge-21-strict"), pytest.param(0, id="edge-21")]
)
def test_edge_21_batch_of_2001_events_is_refused_whole(
    server: LiveServer, http: httpx.Client, project: Project, strict: int
) -> None:
    events = [importable("E", distinct_id="u1") for _ in range(2001)]

    response = import_events(http, project, events, strict=strict)

    assert response.status_code == 400
    assert response.json()["code"] == 400
    assert "2000" in response.json()["error"]
    assert server.export(project) == []


def test_batch_of_2000_events_is_accepted(
    server: LiveServer, http: httpx.Client, project: Project
) -> None:
    events = [importable("E", distinct_id="u1") for _ in range(2000)]

    response = import_events(http, project, events, strict=1)

    assert response.json() == {"code": 200, "num_records_imported": 2000, "status": "OK"}
    assert len(server.export(project)) == 2000


# --- Carriers and answers -----------------------------------------------------------------------


def test_edge_22_python_sdk_form_data_with_verbose_in_the_body_answers_status_1(
    server: LiveServer, http: httpx.Client, project: Project
) -> None:
    events = [importable("Old Event", distinct_id="u1", token=project.token)]

    response = http.post(
        "/import",
        data={"data": encode_json(events), "verbose": "1", "ip": "0"},
        auth=(project.secret, ""),
    )

    assert response.status_code == 200
    assert response.json() == VERBOSE_OK
    assert [e["event"] for e in server.export(project)] == ["Old Event"]


def test_edge_23_non_strict_verbose_empty_record_answers_data_missing(
    server: LiveServer, http: httpx.Client, project: Project
) -> None:
    response = http.post(
        "/import",
        params={"strict": 0, "verbose": 1},
        content=b"[{}]",
        headers=JSON,
        auth=(project.secret, ""),
    )

    assert response.status_code == 200
    assert response.json() == {"error": "data, missing or empty", "status": 0}
    assert server.export(project) == []


def test_edge_24_gzipped_ndjson_is_accepted_like_a_json_array(
    server: LiveServer, http: httpx.Client, project: Project
) -> None:
    events = [importable(f"N{i}", distinct_id="u1") for i in range(3)]
    ndjson = b"\n".join(orjson.dumps(e) for e in events) + b"\n"

    response = http.post(
        "/import",
        params={"strict": 1},
        content=gzip.compress(ndjson),
        headers={"content-type": "application/x-ndjson", "content-encoding": "gzip"},
        auth=(project.secret, ""),
    )

    assert response.json() == {"code": 200, "num_records_imported": 3, "status": "OK"}
    assert sorted(e["event"] for e in server.export(project)) == ["N0", "N1", "N2"]


def test_non_strict_import_answers_like_track(
    server: LiveServer, http: httpx.Client, project: Project
) -> None:
    response = import_events(http, project, [importable("A", distinct_id="u1")])

    assert (response.status_code, response.text) == (200, "1")
    assert len(server.export(project)) == 1


def test_node_import_without_insert_id_is_stored_when_not_strict(
    server: LiveServer, http: httpx.Client, project: Project
) -> None:
    node_event = {"event": "Old", "properties": {"distinct_id": "u1", "time": 1_600_000_000_000}}

    response = import_events(http, project, [node_event])

    assert response.text == "1"
    [stored] = server.export(project, time_in_ms="true")
    assert stored["properties"]["time"] == 1_600_000_000_000


# --- Deduplication ------------------------------------------------------------------------------


def test_edge_25_exact_duplicates_are_one_in_queries_and_every_copy_in_export(
    server: LiveServer, http: httpx.Client, project: Project
) -> None:
    key = {"distinct_id": "u1", "time": now_s() - 600, "$insert_id": new_insert_id()}
    import_events(http, project, [importable("Bought", **key, **{"$city": "Paris"})], strict=1)
    import_events(http, project, [importable("Bought", **key, **{"$city": "Lyon"})], strict=1)

    every_copy = server.export(project)
    deduplicated = server.export(project, dedupe="true")

    assert sorted(e["properties"]["$city"] for e in every_copy) == ["Lyon", "Paris"]
    assert [e["properties"]["$city"] for e in deduplicated] == ["Lyon"]


def test_edge_26_same_insert_id_one_second_apart_counts_twice(
    server: LiveServer, http: httpx.Client, project: Project
) -> None:
    insert_id = new_insert_id()
    first = importable("Bought", distinct_id="u1", time=now_s() - 600, **{"$insert_id": insert_id})
    second = importable("Bought", distinct_id="u1", time=now_s() - 599, **{"$insert_id": insert_id})

    import_events(http, project, [first, second], strict=1)

    assert len(server.export(project, dedupe="true")) == 2


def test_retried_batch_with_same_insert_ids_is_deduplicated_on_read(
    server: LiveServer, http: httpx.Client, project: Project
) -> None:
    batch = [importable(f"E{i}", distinct_id="u1") for i in range(3)]

    import_events(http, project, batch, strict=1)
    import_events(http, project, batch, strict=1)

    assert len(server.export(project)) == 6
    assert sorted(e["event"] for e in server.export(project, dedupe="true")) == ["E0", "E1", "E2"]
    assert by_name(server.export(project, dedupe="true"))["E0"]["distinct_id"] == "u1"


@pytest.mark.parametrize(
    ("properties", "field", "message"),
    [
        pytest.param(
            {"time": None},
            "properties.time",
            "'properties.time' is invalid: must be specified as seconds since epoch",
            id="missing-time",
        ),
        pytest.param({"$insert_id": None}, "$insert_id", None, id="missing-insert-id"),
    ],
)
def test_strict_import_names_a_missing_time_or_insert_id(
    server: LiveServer,
    http: httpx.Client,
    project: Project,
    properties: dict[str, Any],
    field: str,
    message: str | None,
) -> None:
    item = importable("A", distinct_id="u1")
    for name, value in properties.items():
        if value is None:
            del item["properties"][name]

    response = import_events(http, project, [item], strict=1)

    assert response.status_code == 400
    [failed] = response.json()["failed_records"]
    assert failed["field"] == field
    if message is not None:
        assert failed["message"] == message
    assert server.export(project) == []


@pytest.mark.parametrize("path", ["/import/", "/prefix/import", "/mp/import/"])
def test_import_is_served_with_a_trailing_slash_and_under_a_prefix(
    server: LiveServer, http: httpx.Client, project: Project, path: str
) -> None:
    response = import_events(http, project, [importable("A", distinct_id="u1")], path=path)

    assert response.text == "1"
    assert len(server.export(project)) == 1


def test_node_get_import_with_api_key_and_base64_data_is_accepted(
    server: LiveServer, http: httpx.Client, project: Project
) -> None:
    node_event = {"event": "Old", "properties": {"distinct_id": "u1", "time": 1_600_000_000_000}}

    response = http.get(
        "/import",
        params={
            "ip": 0,
            "verbose": 0,
            "data": encode_base64(node_event),
            "api_key": project.secret,
        },
    )

    assert response.text == "1"
    assert [e["event"] for e in server.export(project)] == ["Old"]


def test_import_without_credentials_gets_401_even_with_an_empty_payload(
    http: httpx.Client,
) -> None:
    response = http.post("/import", content=b"[]", headers={"content-type": "application/json"})

    assert response.status_code == 401
    assert response.json() == {
        "code": 401,
        "error": "Invalid credentials",
        "status": "Unauthorized",
    }


def test_invalid_utf8_fails_only_its_own_record(
    server: LiveServer, http: httpx.Client, project: Project
) -> None:
    good = [importable("Good", distinct_id="u1"), importable("Good", distinct_id="u2")]
    bad_record = orjson.dumps(importable("Bad", distinct_id="u3", s="PLACEHOLDER"))
    body = b"[" + b",".join([orjson.dumps(good[0]), bad_record, orjson.dumps(good[1])]) + b"]"
    body = body.replace(b"PLACEHOLDER", b"caf\xe9")  # a Latin-1 byte: not UTF-8

    response = http.post(
        "/import",
        params={"strict": "1"},
        content=body,
        headers={"content-type": "application/json"},
        auth=(project.secret, ""),
    )

    assert response.status_code == 400
    failed = response.json()["failed_records"]
    assert [(f["index"], f["field"], f["message"]) for f in failed] == [
        (1, "properties.s", "properties.s is invalid: string should be valid utf8")
    ]
    assert response.json()["num_records_imported"] == 2
    assert sorted(e["properties"]["distinct_id"] for e in server.export(project)) == ["u1", "u2"]
