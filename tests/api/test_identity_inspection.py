"""kindred's identity API over HTTP: show an id, explain two, count refusals, list clusters, unmerge.

Ids are joined through /track and /import as the SDKs do it, then inspected through
/api/kindred/identity/...; an unmerge is checked through the raw export, as every report sees it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from kindred.identity import IdentityMode
from kindred.storage.base import Project
from kindred.storage.sqlite_meta import SQLiteMetadataStore
from tests.api.helpers import by_name, event, import_events, importable, now_s, track
from tests.conftest import LiveServer

API = "/api/kindred/identity"
BEFORE = "$distinct_id_before_identity"


@dataclass(frozen=True)
class Merged:
    """A project where a device's events were merged into user U1 by one $identify."""

    project: Project
    device: str
    insert_id: str


def _send(http: httpx.Client, *events: dict[str, Any]) -> None:
    """Track each event in its own request, so that arrival order is the order given."""
    for item in events:
        assert track(http, item).text == "1", item


def _identify(project: Project, user: str, anon: str, insert_id: str) -> dict[str, Any]:
    properties = {"$identified_id": user, "$anon_id": anon, "$insert_id": insert_id}
    return event(project.token, "$identify", **properties)


@pytest.fixture
def merged(server: LiveServer, http: httpx.Client) -> Merged:
    project = server.new_project(IdentityMode.ORIGINAL)
    device, insert_id = str(uuid.uuid4()), f"m-{uuid.uuid4().hex}"
    _send(
        http,
        event(project.token, "Browsed", distinct_id=device),
        _identify(project, "U1", device, insert_id),
        event(project.token, "Bought", distinct_id="U1"),
    )
    return Merged(project, device, insert_id)


def _get(http: httpx.Client, project: Project, path: str, **params: Any) -> httpx.Response:
    return http.get(f"{API}/{path}", params=params, auth=(project.secret, ""))


def _ok(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


def _error(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "status"} and body["status"] == "error"
    message: str = body["error"]
    return message


# --- Show ---------------------------------------------------------------------------------------


def test_show_gives_the_canonical_id_members_anchors_and_inputs(
    http: httpx.Client, merged: Merged
) -> None:
    shown = _ok(_get(http, merged.project, f"ids/{merged.device}"))

    assert shown["distinct_id"] == merged.device
    assert shown["canonical_id"] == "U1"
    assert shown["members"] == sorted(["U1", merged.device])
    [anchor] = shown["anchors"]
    assert anchor["distinct_id"] == "U1"
    assert anchor["input"]["insert_id"] == merged.insert_id
    [identify] = shown["inputs"]
    assert identify["kind"] == "identify"
    assert identify["ids"] == ["U1", merged.device]
    assert identify["insert_id"] == merged.insert_id
    assert abs(identify["time"] - now_s() * 1000) < 600_000
    assert isinstance(identify["seq"], int)
    assert identify["status"] == "applied"
    assert identify["code"] is None and identify["description"] is None
    assert shown["refused"] == []


def test_show_answers_the_same_by_path_and_by_query_parameter(
    http: httpx.Client, merged: Merged
) -> None:
    by_path = _ok(_get(http, merged.project, "ids/U1"))
    by_query = _ok(_get(http, merged.project, "ids", distinct_id="U1"))

    assert by_path == by_query
    assert by_path["members"] == sorted(["U1", merged.device])


def test_show_lists_refused_inputs_with_their_code_and_reason(
    server: LiveServer, http: httpx.Client
) -> None:
    project = server.new_project(IdentityMode.ORIGINAL)
    _send(http, _identify(project, "U1", "not-a-uuid", "refused-1"))

    shown = _ok(_get(http, project, "ids/not-a-uuid"))

    assert shown["canonical_id"] == "not-a-uuid"
    [refused] = shown["refused"]
    assert shown["inputs"] == [refused]
    assert refused["status"] == "refused"
    assert refused["code"] == "errAnonDistinctIdNonGUIDForm"
    assert "not-a-uuid" in refused["description"]


def test_show_of_an_id_no_input_names_is_a_person_of_its_own(
    http: httpx.Client, merged: Merged
) -> None:
    shown = _ok(_get(http, merged.project, "ids/someone/else"))

    assert shown == {
        "distinct_id": "someone/else",
        "canonical_id": "someone/else",
        "members": ["someone/else"],
        "anchors": [],
        "inputs": [],
        "refused": [],
    }


def test_show_without_an_id_is_a_400_that_says_how_to_name_one(
    http: httpx.Client, merged: Merged
) -> None:
    message = _error(_get(http, merged.project, "ids"), 400)

    assert "distinct_id is required" in message


# --- Explain ------------------------------------------------------------------------------------


def test_explain_gives_the_inputs_that_link_two_ids(http: httpx.Client, merged: Merged) -> None:
    explained = _ok(_get(http, merged.project, "explain", a=merged.device, b="U1"))

    assert explained["is_linked"] is True
    assert [step["insert_id"] for step in explained["path"]] == [merged.insert_id]
    assert explained["refused"] == []
    assert explained["reason"].startswith("linked by $identify")


def test_explain_says_which_refusal_keeps_two_ids_apart(
    server: LiveServer, http: httpx.Client
) -> None:
    project = server.new_project(IdentityMode.ORIGINAL)
    _send(http, _identify(project, "U1", "not-a-uuid", "refused-1"))

    explained = _ok(_get(http, project, "explain", a="U1", b="not-a-uuid"))

    assert explained["is_linked"] is False
    assert explained["path"] == []
    [refused] = explained["refused"]
    assert refused["code"] == "errAnonDistinctIdNonGUIDForm"
    assert "errAnonDistinctIdNonGUIDForm" in explained["reason"]


def test_explain_needs_both_ids(http: httpx.Client, merged: Merged) -> None:
    message = _error(_get(http, merged.project, "explain", a="U1"), 400)

    assert "b is required" in message


# --- Refusals and clusters ----------------------------------------------------------------------


def test_refusals_counts_the_refused_inputs_by_code(server: LiveServer, http: httpx.Client) -> None:
    project = server.new_project(IdentityMode.ORIGINAL)
    device = str(uuid.uuid4())
    _send(
        http,
        _identify(project, "U1", "anon-1", "r1"),
        _identify(project, "U1", "anon-2", "r2"),
        _identify(project, "U1", device, "ok"),
        _identify(project, "U2", device, "r3"),
    )

    counts = _ok(_get(http, project, "refusals"))

    assert counts == {
        "total": 3,
        "by_code": {"errAnonDistinctIdNonGUIDForm": 2, "errAnonDistinctIdAssignedAlready": 1},
    }


def test_clusters_lists_the_largest_first_with_the_size_cap(
    server: LiveServer, http: httpx.Client
) -> None:
    project = server.new_project(IdentityMode.ORIGINAL)
    devices = [str(uuid.uuid4()) for _ in range(3)]
    _send(
        http,
        *(_identify(project, "big", d, f"big-{n}") for n, d in enumerate(devices[:2])),
        _identify(project, "small", devices[2], "small-0"),
    )

    assert _ok(_get(http, project, "clusters")) == [
        {"canonical_id": "big", "size": 3, "cap": 500},
        {"canonical_id": "small", "size": 2, "cap": 500},
    ]
    assert _ok(_get(http, project, "clusters", limit=1)) == [
        {"canonical_id": "big", "size": 3, "cap": 500}
    ]


def test_clusters_of_simplified_have_no_cap(server: LiveServer, http: httpx.Client) -> None:
    project = server.new_project(IdentityMode.SIMPLIFIED)
    _send(http, event(project.token, "Linked", **{"$device_id": "D1", "$user_id": "U1"}))

    assert _ok(_get(http, project, "clusters")) == [{"canonical_id": "U1", "size": 2, "cap": None}]


@pytest.mark.parametrize("limit", ["0", "ten", "1001"])
def test_clusters_refuses_a_limit_out_of_range(
    http: httpx.Client, merged: Merged, limit: str
) -> None:
    message = _error(_get(http, merged.project, "clusters", limit=limit), 400)

    assert "limit must be a whole number from 1 to 1000" in message


# --- Unmerge ------------------------------------------------------------------------------------


def test_unmerge_puts_the_devices_events_back_under_the_device_in_every_read(
    server: LiveServer, http: httpx.Client, merged: Merged
) -> None:
    assert by_name(server.export(merged.project))["Browsed"]["distinct_id"] == "U1"

    response = http.post(
        f"{API}/unmerge", json={"insert_id": merged.insert_id}, auth=(merged.project.secret, "")
    )

    answer = _ok(response)
    assert answer["insert_id"] == merged.insert_id
    assert [inp["insert_id"] for inp in answer["withdrawn"]] == [merged.insert_id]
    assert answer["canonical_ids"] == {"U1": "U1", merged.device: merged.device}
    assert answer["reclassified"] == []
    browsed = by_name(server.export(merged.project))["Browsed"]
    assert browsed["distinct_id"] == merged.device
    assert BEFORE not in browsed
    shown = _ok(_get(http, merged.project, f"ids/{merged.device}"))
    assert shown["members"] == [merged.device]
    assert [(i["insert_id"], i["status"]) for i in shown["inputs"]] == [
        (merged.insert_id, "withdrawn")
    ]
    assert shown["anchors"] == [] and shown["refused"] == []


def test_unmerge_accepts_a_form_body_and_reports_the_refusals_it_lifted(
    server: LiveServer, http: httpx.Client
) -> None:
    project = server.new_project(IdentityMode.ORIGINAL)
    device = str(uuid.uuid4())
    _send(http, _identify(project, "U1", device, "first"), _identify(project, "U2", device, "late"))

    response = http.post(f"{API}/unmerge", data={"insert_id": "first"}, auth=(project.secret, ""))

    answer = _ok(response)
    [lifted] = answer["reclassified"]
    assert (lifted["insert_id"], lifted["status"]) == ("late", "applied")
    assert answer["canonical_ids"] == {"U1": "U1", device: "U2"}
    assert _ok(_get(http, project, "refusals")) == {"total": 0, "by_code": {}}


def test_unmerge_of_an_imported_merge_splits_ids_of_any_form(
    server: LiveServer, http: httpx.Client
) -> None:
    project = server.new_project(IdentityMode.ORIGINAL)
    events = [importable("ByA", distinct_id="a"), importable("ByB", distinct_id="b")]
    merge = importable("$merge", **{"$distinct_ids": ["a", "b"], "$insert_id": "merge-ab"})
    import_events(http, project, [*events, merge], strict=1)
    assert by_name(server.export(project))["ByB"]["distinct_id"] == "a"

    _ok(http.post(f"{API}/unmerge", data={"insert_id": "merge-ab"}, auth=(project.secret, "")))

    assert by_name(server.export(project))["ByB"]["distinct_id"] == "b"


def test_unmerge_of_an_unknown_insert_id_is_a_404_naming_it(
    http: httpx.Client, merged: Merged
) -> None:
    response = http.post(
        f"{API}/unmerge", data={"insert_id": "no-such-event"}, auth=(merged.project.secret, "")
    )

    message = _error(response, 404)
    assert "'no-such-event'" in message
    assert "kindred identity show" in message


def test_unmerge_twice_is_a_404_the_second_time(http: httpx.Client, merged: Merged) -> None:
    auth = (merged.project.secret, "")
    _ok(http.post(f"{API}/unmerge", data={"insert_id": merged.insert_id}, auth=auth))

    again = http.post(f"{API}/unmerge", data={"insert_id": merged.insert_id}, auth=auth)

    assert "withdrawn already" in _error(again, 404)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"data": {}}, id="no-insert-id"),
        pytest.param({"json": ["merge-1"]}, id="json-not-an-object"),
        pytest.param({"json": {"insert_id": ["merge-1"]}}, id="json-insert-id-not-a-string"),
    ],
)
def test_unmerge_with_a_bad_body_is_a_400(
    http: httpx.Client, merged: Merged, body: dict[str, Any]
) -> None:
    response = http.post(f"{API}/unmerge", auth=(merged.project.secret, ""), **body)

    assert "insert_id" in _error(response, 400)


# --- Who may ask --------------------------------------------------------------------------------

ENDPOINTS = [
    pytest.param("GET", "ids/U1", id="show"),
    pytest.param("GET", "explain?a=U1&b=U2", id="explain"),
    pytest.param("GET", "refusals", id="refusals"),
    pytest.param("GET", "clusters", id="clusters"),
    pytest.param("POST", "unmerge?insert_id=x", id="unmerge"),
]


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
@pytest.mark.parametrize("credentials", ["token", "wrong", "none"])
def test_every_endpoint_needs_the_secret_not_the_token(
    http: httpx.Client, merged: Merged, method: str, path: str, credentials: str
) -> None:
    auth = {"token": (merged.project.token, ""), "wrong": ("wrong", ""), "none": None}[credentials]

    response = http.request(method, f"{API}/{path}", auth=auth)

    _error(response, 401)


def test_a_service_account_with_project_id_may_inspect_and_unmerge(
    server: LiveServer, http: httpx.Client, merged: Merged
) -> None:
    meta = SQLiteMetadataStore(server.data_dir / "meta.sqlite")
    try:
        name = f"inspector-{uuid.uuid4().hex[:8]}"
        account = meta.create_service_account(merged.project.id, name, "s3")
    finally:
        meta.close()
    auth = (account.username, "s3")

    shown = http.get(f"{API}/ids/U1", params={"project_id": merged.project.id}, auth=auth)
    unmerged = http.post(
        f"{API}/unmerge",
        json={"insert_id": merged.insert_id, "project_id": merged.project.id},
        auth=auth,
    )

    assert _ok(shown)["canonical_id"] == "U1"
    assert _ok(unmerged)["canonical_ids"][merged.device] == merged.device
