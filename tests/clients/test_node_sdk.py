"""The official Node SDK (npm `mixpanel` 0.24.0), unchanged, against a live kindred.

Each test hands js/node_driver.js a list of SDK calls; the driver waits for every callback and
reports its error, if any. Non-verbose, the SDK reports an error unless the body is exactly `1`
(CLIENTS.md §3.4), so an empty error list means every call was accepted. What was stored is then
read back through the raw export and the engage query.
"""

from __future__ import annotations

import base64
import time
from typing import Any
from urllib.parse import urlsplit

import pytest

from kindred.identity import IdentityMode
from kindred.storage.base import Project
from tests.clients.conftest import MODES, named, one, profiles, run_driver
from tests.conftest import LiveServer

BACKFILL_TIME_S = 1_600_000_000
SDK_VERSION = "0.24.0"
# Five `~` (0x7E) in a row always contain one 3-byte-aligned `~~~`, which base64 encodes as `fn5+`,
# and five `?` likewise give `Pz8/`: whatever surrounds this value, a payload holding it has a `+`
# and a `/` in its base64. The SDK posts batches as raw base64 in a form body, where a form parser
# turns `+` into a space (CLIENTS.md §3.2 and §6.2).
PLUS_AND_SLASH = "~~~~~????? ü"

Step = dict[str, Any]


def step(call: str, *args: Any, client: str = "plain") -> Step:
    return {"client": client, "call": call, "args": list(args)}


def date(seconds: float) -> dict[str, int]:
    """A JS Date in the driver, which the SDK turns into milliseconds."""
    return {"$date": int(seconds * 1000)}


def drive(node: str, server: LiveServer, project: Project, steps: list[Step]) -> None:
    """Run the steps; every SDK callback must report success."""
    config = {
        "host": urlsplit(server.url).netloc,
        "token": project.token,
        "key": project.secret,
        "steps": steps,
    }
    results = run_driver(node, "node_driver.js", config)["results"]
    assert [r["call"] for r in results] == [s["call"] for s in steps]
    failures = [(i, r["call"], r["error"]) for i, r in enumerate(results) if r["error"]]
    assert failures == []


def test_the_plus_and_slash_value_always_gives_a_plus_and_a_slash_in_base64() -> None:
    for padding in range(3):
        encoded = base64.b64encode(("x" * padding + PLUS_AND_SLASH).encode()).decode()
        assert "+" in encoded
        assert "/" in encoded


def test_track_stores_the_event_with_the_sdk_properties(node: str, server: LiveServer) -> None:
    project = server.new_project()
    now = time.time()

    drive(
        node,
        server,
        project,
        [
            step("track", "Signed Up", {"distinct_id": "user-1", "plan": "pro", "s": "a b+c"}),
            step("track", "Timed", {"distinct_id": "user-1", "time": date(now - 60)}),
            step("track", "Verbose", {"distinct_id": "user-1"}, client="verbose"),
            step("track", "Prefixed", {"distinct_id": "user-1"}, client="prefixed"),
        ],
    )

    events = server.export(project)
    signed_up = one(events, "Signed Up")
    assert signed_up["distinct_id"] == "user-1"
    assert (signed_up["plan"], signed_up["s"]) == ("pro", "a b+c")
    assert (signed_up["mp_lib"], signed_up["$lib_version"]) == ("node", SDK_VERSION)
    # The SDK sends no time: the server's arrival time stands in.
    assert abs(signed_up["time"] - now) < 60
    assert one(events, "Timed")["time"] == int(now - 60)
    assert one(events, "Verbose")["distinct_id"] == "user-1"
    assert one(events, "Prefixed")["distinct_id"] == "user-1"


@pytest.mark.parametrize(
    ("mode", "after_alias_id", "alias_profile_id"),
    [
        # Original: the alias joins user-1's cluster, whose canonical id stays the old one.
        pytest.param(IdentityMode.ORIGINAL, "user-1", "user-1", id="original"),
        # Legacy: alias -> user-1 applies at ingestion to every later event and update.
        pytest.param(IdentityMode.LEGACY, "user-1", "user-1", id="legacy"),
        # Simplified: $create_alias has no identity effect.
        pytest.param(IdentityMode.SIMPLIFIED, "new-alias", "new-alias", id="simplified"),
    ],
)
def test_alias_maps_the_new_id_as_the_identity_mode_says(
    node: str,
    server: LiveServer,
    mode: IdentityMode,
    after_alias_id: str,
    alias_profile_id: str,
) -> None:
    project = server.new_project(mode)

    drive(
        node,
        server,
        project,
        [
            step("track", "Before Alias", {"distinct_id": "user-1"}),
            step("people.set", "user-1", {"plan": "pro"}),
            # Node's argument order: (distinct_id, alias).
            step("alias", "user-1", "new-alias"),
            step("track", "After Alias", {"distinct_id": "new-alias"}),
            step("people.set", "new-alias", "via", "alias"),
        ],
    )

    events = server.export(project)
    alias = one(events, "$create_alias")
    assert (alias["distinct_id"], alias["alias"]) == ("user-1", "new-alias")
    assert "$failure_reason" not in alias
    assert one(events, "Before Alias")["distinct_id"] == "user-1"
    assert one(events, "After Alias")["distinct_id"] == after_alias_id
    people = profiles(server, project)
    assert people[alias_profile_id]["via"] == "alias"
    assert people["user-1"]["plan"] == "pro"


def test_people_calls_build_the_profile_mixpanel_would(node: str, server: LiveServer) -> None:
    project = server.new_project()

    drive(
        node,
        server,
        project,
        [
            step("people.set", "u", {"$email": "u@example.com", "plan": "free", "name": "U"}),
            step("people.set", "u", "plan", "pro", {"$ignore_time": True, "$ip": "1.2.3.4"}),
            step("people.set_once", "u", {"plan": "never", "first_seen": "2024-01-01"}),
            step("people.set_once", "u", "plan", "never"),
            step("people.increment", "u", "logins"),
            step("people.increment", "u", "logins", 2),
            step("people.increment", "u", {"credits": 2.5}),
            step("people.append", "u", "items", "sword"),
            step("people.append", "u", {"items": "shield"}),
            step("people.union", "u", {"tags": ["a", "b"]}),
            step("people.union", "u", {"tags": ["b", "c"]}),
            step("people.remove", "u", {"tags": "a"}),
            step("people.unset", "u", "name"),
            step("people.track_charge", "u", 9.99, {"sku": "x-1"}),
            step("people.set", "gone", {"a": 1}),
            step("people.delete_user", "gone"),
        ],
    )

    assert profiles(server, project) == {
        "u": {
            "$email": "u@example.com",
            "plan": "pro",
            "first_seen": "2024-01-01",
            "logins": 3,
            "credits": 2.5,
            "items": ["sword", "shield"],
            "tags": ["b", "c"],
            "$transactions": [{"sku": "x-1", "$amount": 9.99}],
        }
    }

    # Node clears charges with `$set {"$transactions": []}`, not `$unset`.
    drive(node, server, project, [step("people.clear_charges", "u")])
    assert profiles(server, project)["u"]["$transactions"] == []


def test_group_calls_build_the_group_profile(node: str, server: LiveServer) -> None:
    project = server.new_project()

    drive(
        node,
        server,
        project,
        [
            step("groups.set", "company", "acme", {"size": 10, "plan": "pro", "name": "Acme"}),
            step("groups.set", "company", "acme", "industry", "widgets"),
            step("groups.set_once", "company", "acme", {"size": 99, "founded": 1999}),
            step("groups.union", "company", "acme", {"tags": ["a", "b"]}),
            step("groups.remove", "company", "acme", {"tags": "a"}),
            step("groups.unset", "company", "acme", "name"),
            step("groups.set", "company", "gone", {"size": 1}),
            step("groups.delete_group", "company", "gone"),
            step("track", "Grouped", {"distinct_id": "user-1", "company": "acme"}),
        ],
    )

    assert profiles(server, project, data_group_id="company") == {
        "acme": {
            "size": 10,
            "plan": "pro",
            "industry": "widgets",
            "founded": 1999,
            "tags": ["b"],
        }
    }
    assert one(server.export(project), "Grouped")["company"] == "acme"


@pytest.mark.parametrize("mode", MODES)
def test_track_batch_and_import_batch_arrive_whole_with_plus_in_their_base64(
    node: str, server: LiveServer, mode: IdentityMode
) -> None:
    project = server.new_project(mode)
    now = time.time()
    tracked = [
        {"event": "Batched", "properties": {"distinct_id": "user-1", "i": i, "s": PLUS_AND_SLASH}}
        for i in range(60)
    ]
    imported = [
        {
            "event": "Imported",
            "properties": {
                "distinct_id": "user-1",
                "i": i,
                "s": PLUS_AND_SLASH,
                "$insert_id": f"imported-{i}",
                # A Date becomes ms; a number is sent as given (seconds here).
                "time": date(BACKFILL_TIME_S + i) if i % 2 else BACKFILL_TIME_S + i,
            },
        }
        for i in range(60)
    ]

    drive(
        node,
        server,
        project,
        [
            # 60 events: the SDK posts 50, then 10.
            step("track_batch", tracked),
            step("import_batch", imported, client="keyed"),
        ],
    )

    events = server.export(project)
    batched = named(events, "Batched")
    assert sorted(e["properties"]["i"] for e in batched) == list(range(60))
    assert {e["properties"]["s"] for e in batched} == {PLUS_AND_SLASH}
    assert all(abs(e["properties"]["time"] - now) < 60 for e in batched)
    imports = named(events, "Imported")
    assert sorted(e["properties"]["i"] for e in imports) == list(range(60))
    assert {e["properties"]["s"] for e in imports} == {PLUS_AND_SLASH}
    assert all(e["properties"]["time"] == BACKFILL_TIME_S + e["properties"]["i"] for e in imports)
    assert {e["properties"]["distinct_id"] for e in events} == {"user-1"}


def test_import_with_the_key_option_over_http(node: str, server: LiveServer) -> None:
    project = server.new_project()

    drive(
        node,
        server,
        project,
        [
            step(
                "import",
                "Backfill Date",
                date(BACKFILL_TIME_S),
                {"distinct_id": "user-1", "s": PLUS_AND_SLASH},
                client="keyed",
            ),
            step(
                "import",
                "Backfill Seconds",
                BACKFILL_TIME_S + 1,
                {"distinct_id": "user-1"},
                client="keyed",
            ),
        ],
    )

    events = server.export(project)
    assert one(events, "Backfill Date")["time"] == BACKFILL_TIME_S
    assert one(events, "Backfill Date")["s"] == PLUS_AND_SLASH
    assert one(events, "Backfill Seconds")["time"] == BACKFILL_TIME_S + 1


def test_import_with_a_wrong_key_is_reported_by_the_sdk(node: str, server: LiveServer) -> None:
    # The driver reports SDK errors; check that it does, with a call that must fail.
    project = server.new_project()
    config = {
        "host": urlsplit(server.url).netloc,
        "token": project.token,
        "key": "not-the-secret",
        "steps": [
            step("import", "Backfill", BACKFILL_TIME_S, {"distinct_id": "u"}, client="keyed")
        ],
    }

    [result] = run_driver(node, "node_driver.js", config)["results"]

    assert result["error"] is not None
    assert "Mixpanel Server Error" in result["error"]
    assert server.export(project) == []
