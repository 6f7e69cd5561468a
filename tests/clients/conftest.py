"""Running the official Mixpanel clients, unchanged, against the session's live server.

The JS clients need Node (with `npm ci --prefix tests/clients/js` done) and Debian's Chromium.
Without Node or Chromium the tests skip, except under CI (the `CI` variable set), where a missing
tool is a failure: .ci/run installs both, so their absence there is a broken install step.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import orjson
import pytest

from kindred.identity import IdentityMode
from kindred.storage.base import Project
from tests.conftest import LiveServer

JS_DIR = Path(__file__).parent / "js"
CHROMIUM = Path("/usr/bin/chromium")
DRIVER_TIMEOUT_SECONDS = 90
EXPORT_POLL_SECONDS = 0.1
# The Node SDK's init() throws when either is set (CLIENTS.md §3.1), and nothing here needs one.
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy")

MODES = [pytest.param(mode, id=mode.value) for mode in IdentityMode]

Events = list[dict[str, Any]]


def missing(reason: str) -> NoReturn:
    """Skip for want of a tool on a developer's machine; fail under CI, which must have it."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI is set, and .ci/run should have installed it", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def node() -> str:
    path = shutil.which("node")
    if path is None:
        missing("node is not installed (Debian: apt-get install nodejs npm)")
    if not (JS_DIR / "node_modules" / "mixpanel" / "package.json").exists():
        # Node is there, so this is a forgotten step, not a missing tool: always a failure.
        pytest.fail(
            f"{JS_DIR / 'node_modules'} is missing or incomplete; run "
            "`npm ci --prefix tests/clients/js` first",
            pytrace=False,
        )
    return path


@pytest.fixture(scope="session")
def chromium(node: str) -> Path:
    if not CHROMIUM.exists():
        missing(f"{CHROMIUM} is not installed (Debian: apt-get install chromium)")
    return CHROMIUM


def run_driver(node: str, script: str, config: dict[str, Any]) -> dict[str, Any]:
    """Run `js/<script>` with `config` as its one JSON argument; return the JSON it prints."""
    env = {k: v for k, v in os.environ.items() if k not in PROXY_VARIABLES}
    completed = subprocess.run(
        [node, str(JS_DIR / script), orjson.dumps(config).decode()],
        cwd=JS_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=DRIVER_TIMEOUT_SECONDS,
        check=False,
    )
    if completed.returncode != 0:
        pytest.fail(
            f"{script} exited with {completed.returncode}\n--- stdout\n{completed.stdout}\n"
            f"--- stderr\n{completed.stderr}",
            pytrace=False,
        )
    result: dict[str, Any] = orjson.loads(completed.stdout.strip().splitlines()[-1])
    return result


def named(events: Events, name: str) -> Events:
    """The exported events called `name`, oldest first."""
    return [e for e in events if e["event"] == name]


def one(events: Events, name: str) -> dict[str, Any]:
    """The properties of the one exported event called `name`."""
    found = named(events, name)
    assert len(found) == 1, f"{len(found)} events called {name!r} in {[e['event'] for e in events]}"
    properties: dict[str, Any] = found[0]["properties"]
    return properties


def wait_for_export(
    server: LiveServer,
    project: Project,
    is_complete: Callable[[Events], bool],
    *,
    timeout: float = 15,
    **params: Any,
) -> Events:
    """Export until `is_complete(events)` holds (the browser sends in the background)."""
    deadline = time.monotonic() + timeout
    while True:
        events = server.export(project, **params)
        if is_complete(events) or time.monotonic() > deadline:
            return events
        time.sleep(EXPORT_POLL_SECONDS)


def profiles(server: LiveServer, project: Project, **params: Any) -> dict[str, dict[str, Any]]:
    """Visible profiles (or, with data_group_id, group profiles) by id, without `$last_seen`."""
    results = server.engage(project, **params)["results"]
    return {
        r["$distinct_id"]: {k: v for k, v in r["$properties"].items() if k != "$last_seen"}
        for r in results
    }
