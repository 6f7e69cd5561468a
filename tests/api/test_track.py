"""/track over HTTP: SPEC.md §7 edge cases 1-10, 27-32, 49, 79-80, and the SDKs' wire variants.

Every test makes its own project, sends what a client sends, checks the HTTP answer, then reads
back through the raw export what was stored and under which id.
"""

from __future__ import annotations

import gzip
import time
from typing import Any

import httpx
import orjson
import pytest

from kindred.storage.base import Project
from tests.api.helpers import (
    DAY_S,
    JSON,
    VERBOSE_OK,
    by_name,
    encode_base64,
    encode_json,
    event,
    new_insert_id,
    now_s,
    post_json,
    track,
)
from tests.conftest import LiveServer

GIF_MAGIC = b"GIF8"


@pytest.fixture
def project(server: LiveServer) -> Project:
    return server.new_project()


# --- SPEC.md §7: answers ------------------------------------------------------------------------


def test_edge_1_base64_form_event_is_stored_under_its_distinct_id_at_server_time(
    server: LiveServer, http: httpx.Client, project: Project
) -> None:
    payload = event(project.token, "A", distinct_id="u1")
    before_ms = int(time.time() * 1000)

    response = http.post("/track", data={"data": encode_base64(payload)})

    after_ms = int(time.time() * 1000)
    assert (response.status_code, response.text) == (200, "1")
    [stored] = server.export(project, time_in_ms="true")
    assert stored["event"] == "A"
    assert stored["properties"]["distinct_id"] == "u1"
    assert before_ms <= stored["properties"]["time"] <= after_ms


def test_a_body_sent_in_chunks_is_read_whole(
    server: LiveServer, http: httpx.Client, project: Project
) -> None:
    payloads = [event(project.token, f"E{n}", distinct_id="u1") for n in range(50)]
    body = b"data=" + encode_base64(payloads).encode()
    pieces = [body[start : start + 100] for start in range(0, len(body), 100)]

    response = http.post(
        "/track",
        content=iter(pieces),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )

    assert (response.status_code, response.text) == (200, "1")
    assert sorted(e["event"] for e in server.export(project)) == sorted(f"E{n}" for n in range(50))


def test_edge_2_verbose_answers_status_1_with_null_error(
    server: LiveServer, http: httpx.Client, project: Project
) -> None:
    payload = event(project.token, "A", distinct_id="u1")

    response = http.post("/track", params={"verbose": 1}, data={"data": encode_base64(payload)})

    assert response.status_code == 200
    assert response.json() == VERBOSE_OK
    assert [e["event"] for e in server.export(project)] == ["A"]


def test_edge_3_event_without_token_is_refused_and_nothing_is_stored(
    server: LiveServer, http: httpx.Client, project: Project
) -> None:
    untokened = {"event": "A", "properties": {"distinct_id": "u1"}}

    response = track(http, untokened, verbose=1)

    assert response.status_code == 200
    assert response.json() == {"status": 0, "error": "token, missing or empty"}
    assert server.export(project) == []


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        pytest.param({}, "0", id="edge-4-plain"),
        pytest.param({"verbose": 1}, {"status": 0, "error": "data, missing or empty"}, id="edge-4"),
    ],
)
def test_edge_4_empty_data_answers_data_missing(
    http: httpx.Client, params: dict[str, Any], expected: object
) -> None:
    response = http.post("/track", params=params, data={"data": ""})

    assert response.status_code == 200
    assert (response.json() if params else response.text) == expected


def test_edge_5_img_answers_a_gif_and_stores_the_event(
    server: LiveServer, http: httpx.Client, project: Project
) -> None:
    payload = event(project.token, "Pixel", distinct_id="u1")

    response = http.get("/track/", params={"img": 1, "data": encode_base64(payload)})

    assert response.status_code == 200
    assert response.headers["content-type"] == "image/gif"
    assert response.content.startswith(GIF_MAGIC)
    assert [e["event"] for e in server.export(project)] == ["Pixel"]


@pytest.mark.parametrize(
    ("verbose", "body"),
    [
        pytest.param(0, "cb(1)", id="edge-6"),
        pytest.param(1, 'cb({"status":1,"error":null})', id="edge-7"),
    ],
)
def test_edge_6_7_callback_wraps_the_answer_in_javascript(
    server: LiveServer, http: httpx.Client, project: Project, verbose: int, body: str
) -> None:
    payload = event(project.token, "A", distinct_id="u1")

    response = http.get(
        "/track", params={"callback": "cb", "verbose": verbose, "data": encode_base64(payload)}
    )

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert response.text == body
    assert len(server.export(project)) == 1


def test_edge_8_redirect_answers_302_to_the_url_and_stores_the_event(
    server: LiveServer, http: httpx.Client, project: Project
) -> None:
    payload = event(project.token, "Clicked", distinct_id="u1")

    response = http.get(
        "/track", params={"redirect": "https://x.y/landing", "data": encode_base64(payload)}
    )

    assert response.status_code == 302
    assert response.headers["location"] == "https://x.y/landing"
    assert [e["event"] for e in server.export(project)] == ["Clicked"]


def test_redirect_to_a_non_web_url_is_not_followed_but_the_event_is_stored(
    server: LiveServer, http: httpx.Client, project: Project
) -> None:
    payload = event(project.token, "Clicked", distinct_id="u1")

    response = http.get(
        "/track", params={"redirect": "javascript:alert(1)", "data": encode_base64(payload)}
    )

    assert response.status_code == 200
    assert "location" not in response.headers
    assert [e["event"] for e in server.export(project)] == ["Clicked"]


def test_edge_9_event_older_than_five_days_is_dropped_silently(
    server: LiveServer, http: httpx.Client, project: Project
) -> None:
    old = event(project.token, "Old", distinct_id="u1", time=now_s() - 6 * DAY_S)
    fresh = event(project.token, "Fresh", distinct_id="u1", time=now_s() - 4 * DAY_S)

    old_alone = track(http, old, verbose=1)
    both = track(http, [old, fresh])

    assert old_alone.json() == VERBOSE_OK
    assert both.text == "1"
    assert [e["event"] for e in server.export(project)] == ["Fresh"]


def test_edge_10_future_time_is_replaced_by_ingestion_time(
    server: LiveServer, http: httpx.Client, project: Project
) -> None:
    before_ms = int(time.time() * 1000)

    response = track(http, event(project.token, "A", distinct_id="u1", time=now_s() + 600))

    after_ms = int(time.time() * 1000)
    assert response.text == "1"
    [stored] = server.export(project, time_in_ms="true")
    assert before_ms <= stored["properties"]["time"] <= after_ms


# --- SPEC.md §7: what is stored ------------------------------------------------------------------


def test_edge_27_events_without_insert_id_are_never_deduplicated(
    server: LiveServer, http: httpx.Client, project: Project
) -> None:
    same = event(project.token, "A", distinct_id="u1", time=now_s() - 60)

    track(http, same)
    track(http, same)

    assert len(server.export(project)) == 2
    assert len(server.export(project, dedupe="true")) == 2


@pytest.mark.parametrize(
    ("ignore", "is_stored"),
    [
        pytest.param(True, False, id="edge-28-true"),
        pytest.param("yes", False, id="edge-28-yes"),
        pytest.param("", True, id="edge-28-empty-string"),
        pytest.param(False, True, id="edge-28-false"),
    ],
)
def test_edge_28_ignore_drops_the_event_only_when_true_or_non_empty(
    server: LiveServer, http: httpx.Client, project: Project, ignore: object, is_stored: bool
) -> None:
    response = track(http, event(project.token, "A", distinct_id="u1", **{"$ignore": ignore}))

    assert response.text == "1"
    assert len(server.export(project)) == (1 if is_stored else 0)


@pytest.mark.parametrize(
    ("properties", "kept"),
    [
        # No geo database is configured: SPEC-DECISIONS.md says no $city/$region/mp_country_code.
        pytest.param({"ip": "136.24.0.114"}, {}, id="edge-29"),
        pytest.param({"ip": "0"}, {}, id="edge-30"),
        pytest.param(
            {"ip": "136.24.0.114", "mp_country_code": "US"}, {"mp_country_code": "US"}, id="edge-31"
        ),
    ],
)
def test_edge_29_31_ip_is_not_stored_and_no_geolocation_without_a_database(
    server: LiveServer,
    http: httpx.Client,
    project: Project,
    properties: dict[str, Any],
    kept: dict[str, Any],
) -> None:
    response = http.post(
        "/track",
        params={"ip": 1},
        data={"data": encode_json(event(project.token, "A", distinct_id="u1", **properties))},
    )

    assert response.text == "1"
    [stored] = server.export(project)
    geo = {"ip", "$city", "$region", "mp_country_code"}
    assert {k: v for k, v in stored["properties"].items() if k in geo} == kept


def test_edge_32_long_string_property_is_truncated_to_255_characters(
    server: LiveServer, http: httpx.Client, project: Project
) -> None:
    long_value = "é" * 200 + "x" * 100

    track(http, event(project.token, "A", distinct_id="u1", note=long_value))

    [stored] = server.export(project)
    assert stored["properties"]["note"] == long_value[:255]


def test_edge_33_event_with_300_properties_is_dropped_by_track(
    server: LiveServer, http: httpx.Client, project: Project
) -> None:
    many = {f"p{i}": i for i in range(300)}

    response = track(http, event(project.token, "A", distinct_id="u1", **many), verbose=1)

    assert response.json()["status"] == 0
    assert "255" in response.json()["error"]
    assert server.export(project) == []


def test_edge_79_raw_json_array_body_stores_every_event(
    server: LiveServer, http: httpx.Client, project: Project
) -> None:
    events = [event(project.token, name, distinct_id="u1") for name in ("E1", "E2")]

    response = post_json(http, "/track", events)

    assert (response.status_code, response.text) == (200, "1")
    assert sorted(e["event"] for e in server.export(project)) == ["E1", "E2"]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        pytest.param({}, "1", id="edge-80"),
        pytest.param(
            {"verbose": 1}, {"status": 1, "error": "token, missing or empty"}, id="edge-80-verbose"
        ),
    ],
)
def test_edge_80_one_valid_event_of_two_answers_1_and_verbose_names_the_error(
    server: LiveServer,
    http: httpx.Client,
    project: Project,
    params: dict[str, Any],
    expected: object,
) -> None:
    valid = event(project.token, "Valid", distinct_id="u1")
    invalid = {"event": "Invalid", "properties": {"distinct_id": "u1"}}

    response = track(http, [valid, invalid], **params)

    assert (response.json() if params else response.text) == expected
    assert [e["event"] for e in server.export(project)] == ["Valid"]


# --- The SDKs' wire variants (CLIENTS.md §6) ------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("/track", id="no-slash"),
        pytest.param("/track/", id="trailing-slash"),
        pytest.param("/prefix/track", id="node-path-prefix"),
        pytest.param("/mp/deep/track/", id="browser-api-host-path"),
    ],
)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_track_is_served_on_every_path_spelling_with_get_and_post(
    server: LiveServer, http: httpx.Client, project: Project, path: str, method: str
) -> None:
    data = encode_base64(event(project.token, "A", distinct_id="u1"))

    if method == "GET":
        response = http.get(path, params={"data": data})
    else:
        response = http.post(path, data={"data": data})

    assert (response.status_code, response.text) == (200, "1")
    assert len(server.export(project)) == 1


def test_python_sdk_form_with_json_data_and_verbose_in_the_body_is_honoured(
    server: LiveServer, http: httpx.Client, project: Project
) -> None:
    payload = event(project.token, "Signed Up", distinct_id="u1", note="a b+c", time=now_s())

    response = http.post("/track", data={"data": encode_json(payload), "verbose": "1", "ip": "0"})

    assert response.json() == VERBOSE_OK
    [stored] = server.export(project)
    assert stored["properties"]["note"] == "a b+c"


def test_node_raw_base64_with_plus_turned_into_spaces_is_repaired(
    server: LiveServer, http: httpx.Client, project: Project
) -> None:
    # Pad the payload until its base64 holds a '+', which a form parser reads as a space.
    filler = ""
    while "+" not in encode_base64(event(project.token, "A", distinct_id="u1", s=">>>" + filler)):
        filler += "?"
    payload = event(project.token, "A", distinct_id="u1", s=">>>" + filler)
    body = b"data=" + encode_base64(payload).encode()

    response = http.post(
        "/track",
        params={"ip": 0, "verbose": 0},
        content=body,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )

    assert response.text == "1"
    [stored] = server.export(project)
    assert stored["properties"]["s"] == ">>>" + filler


def test_send_beacon_text_plain_form_body_is_parsed(
    server: LiveServer, http: httpx.Client, project: Project
) -> None:
    batch = [event(project.token, f"E{i}", distinct_id="u1") for i in range(3)]
    body = str(httpx.QueryParams({"data": encode_base64(batch)})).encode()

    response = http.post(
        "/track/",
        params={"ip": 1, "verbose": 1},
        content=body,
        headers={"content-type": "text/plain;charset=UTF-8"},
    )

    assert response.json() == VERBOSE_OK
    assert sorted(e["event"] for e in server.export(project)) == ["E0", "E1", "E2"]


def test_browser_percent_encoded_json_payload_is_accepted(
    server: LiveServer, http: httpx.Client, project: Project
) -> None:
    payload = event(project.token, "A", distinct_id="$device:abc", s=">>>??~~~ ü")

    response = http.post("/track/", params={"ip": 1, "_": 1}, data={"data": encode_json(payload)})

    assert response.text == "1"
    [stored] = server.export(project)
    assert stored["properties"]["s"] == ">>>??~~~ ü"


def test_gzipped_json_array_on_track_is_accepted(
    server: LiveServer, http: httpx.Client, project: Project
) -> None:
    events = [event(project.token, "Zipped", distinct_id="u1", **{"$insert_id": new_insert_id()})]

    response = http.post(
        "/track",
        content=gzip.compress(orjson.dumps(events)),
        headers={**JSON, "content-encoding": "gzip"},
    )

    assert response.text == "1"
    assert by_name(server.export(project))["Zipped"]["distinct_id"] == "u1"


def test_img_without_data_still_answers_the_gif(http: httpx.Client) -> None:
    # The browser's img:true with the default POST method drops `data` (CLIENTS.md §4.2).
    response = http.get("/track/", params={"img": 1, "ip": 1, "_": 1})

    assert response.status_code == 200
    assert response.headers["content-type"] == "image/gif"
    assert response.content.startswith(GIF_MAGIC)


def test_callback_that_is_not_a_javascript_name_is_not_reflected(
    http: httpx.Client, project: Project
) -> None:
    data = encode_base64(event(project.token, "A", distinct_id="u1"))

    response = http.get("/track", params={"callback": "alert(1)//", "data": data})

    assert response.status_code == 200
    assert "alert" not in response.text
    assert not response.headers["content-type"].startswith("text/javascript")


def test_track_strict_answers_like_import_strict(
    server: LiveServer, http: httpx.Client, project: Project
) -> None:
    events = [event(project.token, "Valid", distinct_id="u1"), {"event": "NoToken"}]

    response = track(http, events, strict=1)

    assert response.status_code == 400
    body = response.json()
    assert body["num_records_imported"] == 1
    assert [(r["index"], r["field"]) for r in body["failed_records"]] == [(1, "properties.token")]
    assert [e["event"] for e in server.export(project)] == ["Valid"]


def test_track_batch_over_2000_events_answers_413_so_the_browser_halves_it(
    server: LiveServer, http: httpx.Client, project: Project
) -> None:
    events = [event(project.token, "E", distinct_id="u1") for _ in range(2001)]

    response = track(http, events, verbose=1)

    assert response.status_code == 413
    assert response.json()["status"] == 0
    assert server.export(project) == []


def test_unknown_token_stores_nothing_and_verbose_says_why(
    server: LiveServer, http: httpx.Client, project: Project
) -> None:
    response = track(http, event("no-such-token", "A", distinct_id="u1"), verbose=1)

    assert response.json()["status"] == 0
    assert "token" in response.json()["error"]
    assert server.export(project) == []


def test_batch_with_two_tokens_stores_each_event_in_its_own_project(
    server: LiveServer, http: httpx.Client, project: Project
) -> None:
    other = server.new_project()

    response = track(
        http,
        [
            event(project.token, "Mine", distinct_id="u1"),
            event(other.token, "Theirs", distinct_id="u1"),
        ],
    )

    assert response.text == "1"
    assert [e["event"] for e in server.export(project)] == ["Mine"]
    assert [e["event"] for e in server.export(other)] == ["Theirs"]


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        pytest.param(123, "123", id="integer"),
        pytest.param(1.5, "1.5", id="float"),
        pytest.param("u-1", "u-1", id="string"),
    ],
)
def test_numeric_distinct_id_is_stored_as_text(
    server: LiveServer, http: httpx.Client, project: Project, sent: object, stored: str
) -> None:
    track(http, event(project.token, "A", distinct_id=sent))

    assert server.export(project)[0]["properties"]["distinct_id"] == stored


@pytest.mark.parametrize(
    "unit",
    [pytest.param("float-seconds", id="python-float-seconds"), pytest.param("ms", id="node-ms")],
)
def test_event_time_in_seconds_or_milliseconds_is_stored_to_the_millisecond(
    server: LiveServer, http: httpx.Client, project: Project, unit: str
) -> None:
    sent_ms = (now_s() - 3600) * 1000 + 712
    sent: float = sent_ms / 1000 if unit == "float-seconds" else sent_ms

    track(http, event(project.token, "A", distinct_id="u1", time=sent))

    [stored] = server.export(project, time_in_ms="true")
    assert stored["properties"]["time"] == sent_ms
