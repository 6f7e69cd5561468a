"""The official browser SDK (npm `mixpanel-browser` 2.83.0), unchanged, in headless Chromium.

js/browser_driver.js (playwright-core driving Debian's /usr/bin/chromium) opens js/page.html from a
static server on a port of its own, so every SDK request to kindred is cross-origin and needs the
CORS answers of CLIENTS.md §4.5. Each scenario gets a fresh browser context. The driver reports
every request to kindred and every failure (a CORS refusal shows up as one); the events and
profiles that arrive are read back through the export and engage APIs.
"""

from __future__ import annotations

import datetime as dt
import functools
import shutil
import threading
from collections.abc import Callable, Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest

from kindred.identity import IdentityMode
from kindred.storage.base import Project
from tests.clients.conftest import (
    JS_DIR,
    MODES,
    Events,
    named,
    one,
    profiles,
    run_driver,
    wait_for_export,
)
from tests.conftest import LiveServer

SDK_VERSION = "2.83.0"
FLUSH_MS = 100
# The batch queue's timer never fires during a test at this interval: only a beacon sends.
NEVER_FLUSH_MS = 600_000
SETTLE: dict[str, Any] = {"wait": "settled"}
WHEN = dt.datetime(2023, 11, 14, 22, 13, 20, tzinfo=dt.UTC)
# Bytes whose base64 has `+` and `/` (see test_node_sdk.py), and non-ASCII.
ODD_TEXT = "~~~~~????? ü € a+b"

Step = dict[str, Any]
Browse = Callable[[Project, list[Step]], dict[str, Any]]


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def page_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """js/page.html beside the SDK's UMD bundle, served from a port other than kindred's."""
    root = tmp_path_factory.mktemp("page")
    shutil.copy(JS_DIR / "page.html", root / "page.html")
    bundle = JS_DIR / "node_modules" / "mixpanel-browser" / "dist" / "mixpanel.umd.js"
    if bundle.exists():
        shutil.copy(bundle, root / "mixpanel.umd.js")
    handler = functools.partial(_QuietHandler, directory=str(root))
    with ThreadingHTTPServer(("127.0.0.1", 0), handler) as httpd:
        thread = threading.Thread(target=httpd.serve_forever, daemon=True)
        thread.start()
        yield f"http://127.0.0.1:{httpd.server_address[1]}/page.html"
        httpd.shutdown()
        thread.join()


@pytest.fixture
def browse(node: str, chromium: Path, server: LiveServer, page_url: str) -> Browse:
    """`browse(project, steps)`: run one scenario; returns what its steps recorded."""
    return functools.partial(_browse, node, chromium, server, page_url)


def _browse(
    node: str,
    chromium: Path,
    server: LiveServer,
    page_url: str,
    project: Project,
    steps: list[Step],
) -> dict[str, Any]:
    """Run one scenario in a fresh context; every request must have been answered with success."""
    config = {
        "chromium": str(chromium),
        "page": page_url,
        "api": server.url,
        "scenarios": [{"name": "scenario", "token": project.token, "steps": steps}],
    }
    [result] = run_driver(node, "browser_driver.js", config)["scenarios"]
    assert result["failures"] == []
    for request in result["requests"]:
        _assert_accepted(request)
    recorded: dict[str, Any] = result["recorded"]
    recorded["requests"] = result["requests"]
    return recorded


def _assert_accepted(request: dict[str, Any]) -> None:
    where = f"{request['method']} {request['url']}"
    assert request["method"] in ("GET", "POST"), where
    if request["type"] == "ping":
        return  # a beacon: the browser does not let the page read the answer
    assert request["status"] == 200, f"{where}: {request['status']} {request['body']}"
    if request["type"] == "image":
        assert request["body"].startswith("GIF8"), where
    elif "verbose=1" in request["url"]:
        assert orjson.loads(request["body"]) == {"status": 1, "error": None}, where
    else:
        assert request["body"] == "1", where


def init(**config: Any) -> Step:
    return {"init": {"batch_flush_interval_ms": FLUSH_MS, **config}}


def call(name: str, *args: Any, **options: Any) -> Step:
    return {"call": name, "args": list(args), **options}


def date(when: dt.datetime) -> dict[str, int]:
    return {"$date": int(when.timestamp() * 1000)}


def has_events(*names: str, copies: int = 1) -> Callable[[Events], bool]:
    def is_complete(events: Events) -> bool:
        return all(len(named(events, name)) >= copies for name in names)

    return is_complete


@pytest.mark.parametrize("mode", MODES)
def test_identify_and_reset_attribute_events_as_the_identity_mode_says(
    server: LiveServer, browse: Browse, mode: IdentityMode
) -> None:
    project = server.new_project(mode)

    recorded = browse(
        project,
        [
            init(),
            call("get_property", "$device_id", record="device"),
            call("track", "Anonymous View", {"n": 1}),
            # Queued in the page until identify() (CLIENTS.md §4.4).
            call("people.set", {"plan": "queued"}),
            call("identify", "user-1"),
            call("track", "Purchase", {"amount": 9.99, "s": ODD_TEXT}),
            SETTLE,
            call("reset"),
            call("get_property", "$device_id", record="device_after_reset"),
            call("track", "After Reset"),
            SETTLE,
        ],
    )

    device = f"$device:{recorded['device']}"
    other_device = f"$device:{recorded['device_after_reset']}"
    names = ("Anonymous View", "$identify", "Purchase", "After Reset")
    events = wait_for_export(server, project, has_events(*names))
    identify = one(events, "$identify")
    assert identify["$anon_distinct_id"] == device
    assert identify["$user_id"] == "user-1"
    assert "$failure_reason" not in identify
    purchase = one(events, "Purchase")
    assert purchase["distinct_id"] == "user-1"
    assert (purchase["$device_id"], purchase["$user_id"]) == (recorded["device"], "user-1")
    assert (purchase["amount"], purchase["s"]) == (9.99, ODD_TEXT)
    assert (purchase["mp_lib"], purchase["$lib_version"]) == ("web", SDK_VERSION)
    # Original and Simplified merge the device into the user, retroactively; Legacy does not.
    anonymous = one(events, "Anonymous View")
    if mode is IdentityMode.LEGACY:
        assert anonymous["distinct_id"] == device
    else:
        assert anonymous["distinct_id"] == "user-1"
        assert anonymous["$distinct_id_before_identity"] == device
    assert one(events, "After Reset")["distinct_id"] == other_device
    assert "$user_id" not in one(events, "After Reset")
    people = profiles(server, project)
    assert people["user-1"]["plan"] == "queued"
    assert people["user-1"]["$browser"] == "Chrome"


@pytest.mark.parametrize("mode", MODES)
def test_alias_from_an_anonymous_device_joins_the_new_id_as_the_identity_mode_says(
    server: LiveServer, browse: Browse, mode: IdentityMode
) -> None:
    project = server.new_project(mode)

    recorded = browse(
        project,
        [
            init(),
            call("get_property", "$device_id", record="device"),
            call("track", "Before Alias"),
            # alias() tracks $create_alias, then calls identify(alias) from its callback.
            call("alias", "user-1"),
            {"wait": "property", "name": "$user_id", "value": "user-1"},
            SETTLE,
            call("track", "After Alias"),
            SETTLE,
            call("people.set", {"via": "alias"}),
            SETTLE,
        ],
    )

    device = f"$device:{recorded['device']}"
    names = ("Before Alias", "$create_alias", "$identify", "After Alias")
    events = wait_for_export(server, project, has_events(*names))
    alias = one(events, "$create_alias")
    assert alias["alias"] == "user-1"
    assert "$failure_reason" not in alias
    after = one(events, "After Alias")
    # The SDK keeps the device's distinct_id after alias(), and adds $user_id.
    assert (after["$user_id"], after["$device_id"]) == ("user-1", recorded["device"])
    # Simplified: $create_alias does nothing; "After Alias" carries both ids and links them.
    # Original: the alias joins the device's cluster, reported as the device (the existing id,
    # SPEC-DECISIONS "Canonical id"). Legacy: alias user-1 -> device, applied at ingestion.
    person = "user-1" if mode is IdentityMode.SIMPLIFIED else device
    for name in ("Before Alias", "$create_alias", "After Alias"):
        assert one(events, name)["distinct_id"] == person, name
    people = profiles(server, project)
    assert list(people) == [person]
    assert people[person]["via"] == "alias"


def test_people_and_group_calls_build_the_profiles(server: LiveServer, browse: Browse) -> None:
    project = server.new_project()

    browse(
        project,
        [
            init(),
            call("identify", "user-1"),
            call("people.set", {"$email": "u@example.com", "plan": "free", "when": date(WHEN)}),
            call("people.set", "plan", "pro"),
            call("people.set_once", {"first": "x"}),
            call("people.increment", "logins"),
            call("people.increment", {"credits": 2.5}),
            call("people.append", "items", "sword"),
            call("people.union", "tags", ["a", "b"]),
            call("set_group", "company", ["acme"]),
            call("get_group", "company", "acme", then=["set", {"size": 10, "name": "Acme"}]),
            call("get_group", "company", "acme", then=["set_once", {"size": 99, "y": 1999}]),
            call("get_group", "company", "acme", then=["union", "tags", ["a", "b"]]),
            call("track", "Grouped"),
            SETTLE,
            call("people.set_once", {"first": "y"}),
            call("people.increment", "logins", 2),
            call("people.append", "items", "shield"),
            call("people.remove", "tags", "a"),
            call("people.unset", "plan"),
            call("get_group", "company", "acme", then=["remove", "tags", "a"]),
            call("get_group", "company", "acme", then=["unset", "name"]),
            SETTLE,
            call("reset"),
            call("identify", "user-2"),
            call("people.set", {"doomed": True}),
            SETTLE,
            call("people.delete_user"),
            SETTLE,
        ],
    )

    events = wait_for_export(server, project, has_events("Grouped"))
    assert one(events, "Grouped")["company"] == ["acme"]
    people = profiles(server, project)
    assert set(people) == {"user-1"}
    user = people["user-1"]
    assert {k: v for k, v in user.items() if not k.startswith("$")} == {
        "when": "2023-11-14T22:13:20",
        "first": "x",
        "logins": 3,
        "credits": 2.5,
        "items": ["sword", "shield"],
        "tags": ["b"],
        "company": ["acme"],
    }
    assert user["$email"] == "u@example.com"
    assert (user["$os"], user["$browser"]) == ("Linux", "Chrome")
    assert profiles(server, project, data_group_id="company") == {
        "acme": {"size": 10, "y": 1999, "tags": ["b"]}
    }


def test_send_beacon_transport_delivers_the_batches(server: LiveServer, browse: Browse) -> None:
    project = server.new_project()

    recorded = browse(
        project,
        [
            init(api_transport="sendBeacon"),
            call("identify", "user-1"),
            call("track", "Via Beacon", {"s": ODD_TEXT}),
            call("track", "Via Beacon Too", {}, callback=True, record="answer"),
            SETTLE,
        ],
    )

    # A batched track's callback fires when it is queued, with 1.
    assert recorded["answer"] == 1
    track_requests = [r for r in recorded["requests"] if "/track/" in r["url"]]
    assert track_requests
    assert {r["type"] for r in track_requests} == {"ping"}
    events = wait_for_export(server, project, has_events("Via Beacon", "Via Beacon Too"))
    assert one(events, "Via Beacon")["s"] == ODD_TEXT
    assert one(events, "Via Beacon")["distinct_id"] == "user-1"
    assert one(events, "Via Beacon Too")["distinct_id"] == "user-1"


def test_page_hide_sends_the_queue_by_beacon_and_the_resend_is_deduplicated(
    server: LiveServer, browse: Browse
) -> None:
    project = server.new_project()

    recorded = browse(
        project,
        [
            init(batch_flush_interval_ms=NEVER_FLUSH_MS),
            call("track", "Left A"),
            call("track", "Left B"),
            # The tab goes hidden: the SDK beacons its queue, but keeps it (no answer to read).
            {"hide": True},
            # Unloading hides the page again, so the same queue is beaconed a second time.
            {"reload": True},
            init(batch_flush_interval_ms=NEVER_FLUSH_MS),
        ],
    )

    assert [r["type"] for r in recorded["requests"] if "/track/" in r["url"]][:1] == ["ping"]
    raw = wait_for_export(server, project, has_events("Left A", "Left B", copies=2))
    for name in ("Left A", "Left B"):
        copies = named(raw, name)
        assert len(copies) >= 2
        assert len({e["properties"]["$insert_id"] for e in copies}) == 1
    deduplicated = server.export(project, dedupe="true")
    assert sorted(e["event"] for e in deduplicated) == ["Left A", "Left B"]


def test_unbatched_requests_get_the_answers_the_sdk_expects(
    server: LiveServer, browse: Browse
) -> None:
    project = server.new_project()
    unbatched = {"batch_requests": False}

    recorded = browse(
        project,
        [
            init(**unbatched),
            {"init": {**unbatched, "verbose": True}, "instance": "verboseLib"},
            {"init": {**unbatched, "api_method": "GET"}, "instance": "getLib"},
            {"init": {**unbatched, "api_payload_format": "json"}, "instance": "jsonLib"},
            # A custom header makes the browser send a CORS preflight first.
            {"init": {**unbatched, "xhr_headers": {"X-Test": "1"}}, "instance": "headerLib"},
            # A pixel: GET through an <img>, answered with a GIF.
            {"init": {**unbatched, "img": True, "api_method": "GET"}, "instance": "imgLib"},
            call("track", "Plain", {"s": ODD_TEXT}, callback=True, record="plain"),
            call("verboseLib.track", "Verbose", {}, callback=True, record="verbose"),
            call("getLib.track", "Get", {"s": ODD_TEXT}, callback=True, record="get"),
            call("jsonLib.track", "Json", {"s": ODD_TEXT}, callback=True, record="json"),
            call("headerLib.track", "Header", {}, callback=True, record="header"),
            call("imgLib.track", "Pixel", {"s": ODD_TEXT}),
            SETTLE,
        ],
    )

    assert [recorded[name] for name in ("plain", "get", "json", "header")] == [1, 1, 1, 1]
    assert recorded["verbose"] == {"status": 1, "error": None}
    assert "image" in {r["type"] for r in recorded["requests"]}
    names = ("Plain", "Verbose", "Get", "Json", "Header", "Pixel")
    events = wait_for_export(server, project, has_events(*names))
    for name in ("Plain", "Get", "Json", "Pixel"):
        assert one(events, name)["s"] == ODD_TEXT
    assert all(e["properties"]["distinct_id"].startswith("$device:") for e in events)
