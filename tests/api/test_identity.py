"""Identity through HTTP in the three modes, read back through the raw export (SPEC.md §3, §5.1).

The export reports every event under its person's canonical id, keeping the raw id in
`$distinct_id_before_identity` when they differ (Original and Simplified resolve at read time, so
merges are retroactive; Legacy resolves at ingestion and never looks back).
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from kindred.identity import IdentityMode
from kindred.storage.base import Project
from tests.api.helpers import by_name, event, import_events, importable, now_s, track
from tests.conftest import LiveServer

BEFORE = "$distinct_id_before_identity"


def _ids(events: list[dict[str, Any]]) -> dict[str, tuple[str, str | None]]:
    """Each event's (exported distinct_id, raw id before identity), by event name."""
    return {
        name: (properties["distinct_id"], properties.get(BEFORE))
        for name, properties in by_name(events).items()
    }


def _send(http: httpx.Client, project: Project, *events: dict[str, Any]) -> None:
    """Track each event in its own request, so that arrival order is the order given."""
    for item in events:
        assert track(http, item).text == "1", item


# --- Original -----------------------------------------------------------------------------------


def test_original_identify_merges_the_devices_earlier_events_into_the_user(
    server: LiveServer, http: httpx.Client
) -> None:
    project = server.new_project(IdentityMode.ORIGINAL)
    device = str(uuid.uuid4())
    token = project.token
    _send(
        http,
        project,
        event(token, "E1", distinct_id=device),
        event(token, "E2", distinct_id=device),
        event(token, "$identify", **{"$identified_id": "U1", "$anon_id": device}),
        event(token, "E3", distinct_id="U1"),
    )

    assert _ids(server.export(project)) == {
        "E1": ("U1", device),
        "E2": ("U1", device),
        "$identify": ("U1", None),
        "E3": ("U1", None),
    }


def test_original_browser_identify_with_device_prefixed_anon_id_merges(
    server: LiveServer, http: httpx.Client
) -> None:
    project = server.new_project(IdentityMode.ORIGINAL)
    device = f"$device:{uuid.uuid4()}"
    token = project.token
    _send(
        http,
        project,
        event(token, "Page Loaded", distinct_id=device),
        event(token, "$identify", distinct_id="user-42", **{"$anon_distinct_id": device}),
    )

    assert _ids(server.export(project))["Page Loaded"] == ("user-42", device)


def test_original_refused_identify_is_stored_with_its_failure_reason(
    server: LiveServer, http: httpx.Client
) -> None:
    project = server.new_project(IdentityMode.ORIGINAL)
    token = project.token
    _send(
        http,
        project,
        event(token, "Anon", distinct_id="abc"),
        event(token, "$identify", **{"$identified_id": "U1", "$anon_id": "abc"}),
    )

    exported = by_name(server.export(project))
    assert exported["Anon"]["distinct_id"] == "abc"
    assert exported["$identify"]["$failure_reason"] == "errAnonDistinctIdNonGUIDForm"
    assert "abc" in exported["$identify"]["$failure_description"]


def test_original_merge_via_import_merges_ids_of_any_format(
    server: LiveServer, http: httpx.Client
) -> None:
    project = server.new_project(IdentityMode.ORIGINAL)
    events = [
        importable("ByA", distinct_id="a", time=now_s() - 300),
        importable("ByB", distinct_id="b", time=now_s() - 200),
    ]
    merge = {"event": "$merge", "properties": {"$distinct_ids": ["a", "b"], "token": project.token}}

    import_events(http, project, events, strict=1)
    response = import_events(http, project, [merge], strict=1)

    assert response.json()["num_records_imported"] == 1
    ids = _ids(server.export(project))
    assert ids["ByA"] == ("a", None)
    assert ids["ByB"] == ("a", "b")


def test_original_merge_via_track_is_an_ordinary_event_and_merges_nothing(
    server: LiveServer, http: httpx.Client
) -> None:
    project = server.new_project(IdentityMode.ORIGINAL)
    token = project.token
    _send(
        http,
        project,
        event(token, "ByA", distinct_id="a"),
        event(token, "ByB", distinct_id="b"),
        event(token, "$merge", distinct_id="a", **{"$distinct_ids": ["a", "b"]}),
    )

    ids = _ids(server.export(project))
    assert ids["ByA"] == ("a", None)
    assert ids["ByB"] == ("b", None)
    assert ids["$merge"] == ("a", None)


def test_edge_82_identify_past_the_500_id_cap_fails_and_the_device_stays_orphan(
    server: LiveServer, http: httpx.Client
) -> None:
    project = server.new_project(IdentityMode.ORIGINAL)
    devices = [str(uuid.uuid4()) for _ in range(500)]
    start = now_s() - 3600
    # U1 and 499 devices fill the cluster to 500 ids; the 500th device would make it 501.
    identifies = [
        event(
            project.token,
            "$identify",
            time=start + i,
            **{"$identified_id": "U1", "$anon_id": device, "$insert_id": f"identify-{i}"},
        )
        for i, device in enumerate(devices)
    ]
    assert track(http, identifies).text == "1"
    _send(http, project, event(project.token, "Orphan", distinct_id=devices[-1]))
    _send(http, project, event(project.token, "Merged", distinct_id=devices[-2]))

    exported = server.export(project)
    ids = _ids([e for e in exported if e["event"] != "$identify"])
    assert ids == {"Orphan": (devices[-1], None), "Merged": ("U1", devices[-2])}
    refused = [e for e in exported if "$failure_reason" in e["properties"]]
    assert [e["properties"]["$insert_id"] for e in refused] == ["identify-499"]
    assert refused[0]["properties"]["$failure_reason"] == "errManyIDs"


# --- Simplified ---------------------------------------------------------------------------------


def test_simplified_device_then_user_link_resolves_the_devices_events_to_the_user(
    server: LiveServer, http: httpx.Client
) -> None:
    project = server.new_project(IdentityMode.SIMPLIFIED)
    token = project.token
    _send(
        http,
        project,
        event(token, "Anonymous", **{"$device_id": "D1"}),
        event(token, "Linked", **{"$device_id": "D1", "$user_id": "U1"}),
        event(token, "Later", **{"$device_id": "D1"}),
    )

    exported = by_name(server.export(project))
    assert _ids(server.export(project)) == {
        "Anonymous": ("U1", "$device:D1"),
        "Linked": ("U1", None),
        "Later": ("U1", "$device:D1"),
    }
    assert exported["Anonymous"]["$device_id"] == "D1"


def test_simplified_identity_events_are_stored_but_change_nothing(
    server: LiveServer, http: httpx.Client
) -> None:
    project = server.new_project(IdentityMode.SIMPLIFIED)
    device = str(uuid.uuid4())
    token = project.token
    _send(
        http,
        project,
        event(token, "Anonymous", distinct_id=device),
        event(token, "$identify", **{"$identified_id": "U1", "$anon_id": device}),
    )

    assert _ids(server.export(project))["Anonymous"] == (device, None)


def test_simplified_plain_distinct_id_is_read_as_the_user_id(
    server: LiveServer, http: httpx.Client
) -> None:
    project = server.new_project(IdentityMode.SIMPLIFIED)

    _send(http, project, event(project.token, "A", distinct_id="charlie"))

    [stored] = server.export(project)
    assert stored["properties"]["distinct_id"] == "charlie"
    assert stored["properties"]["$user_id"] == "charlie"


# --- Legacy -------------------------------------------------------------------------------------


def test_legacy_alias_applies_to_later_events_only(server: LiveServer, http: httpx.Client) -> None:
    project = server.new_project(IdentityMode.LEGACY)
    token = project.token
    _send(
        http,
        project,
        event(token, "E0", distinct_id="sally"),
        event(token, "E1", distinct_id="A"),
        event(token, "$create_alias", distinct_id="A", alias="sally"),
        event(token, "E2", distinct_id="sally"),
    )

    ids = _ids(server.export(project))
    assert ids["E0"] == ("sally", None)
    assert ids["E1"] == ("A", None)
    assert ids["E2"] == ("A", None)
