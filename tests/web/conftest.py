"""Fixtures for the web UI's tests: an HTTP client, sign-in, and the browser driver."""

from __future__ import annotations

import functools
import shutil
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from kindred.storage.base import Project
from tests.clients.conftest import CHROMIUM, JS_DIR, missing, run_driver
from tests.conftest import LiveServer

Driver = Callable[[dict[str, Any]], dict[str, Any]]


@pytest.fixture(scope="session")
def http(server: LiveServer) -> Iterator[httpx.Client]:
    """A client that keeps no cookies: each test sends the session cookie it means to send."""
    with httpx.Client(base_url=server.url, timeout=30) as client:
        client.event_hooks["response"] = [lambda response: client.cookies.clear()]
        yield client


def sign_in(http: httpx.Client, *projects: Project, cookie: str | None = None) -> str:
    """The session cookie's value after signing in to each of `projects` in turn."""
    for project in projects:
        headers = {} if cookie is None else {"cookie": f"kindred_session={cookie}"}
        response = http.post("/ui/session", data={"secret": project.secret}, headers=headers)
        assert response.status_code == 200, response.text
        cookie = response.cookies["kindred_session"]
    assert cookie is not None
    return cookie


@pytest.fixture(scope="session")
def ui_driver() -> Driver:
    """`ui_driver(config)`: run js/ui_driver.js in headless Chromium; returns what it printed."""
    node = shutil.which("node")
    if node is None:
        missing("node is not installed (Debian: apt-get install nodejs npm)")
    if not (JS_DIR / "node_modules" / "playwright-core" / "package.json").exists():
        pytest.fail(
            f"{JS_DIR / 'node_modules'} is missing or incomplete; run "
            "`npm ci --prefix tests/clients/js` first",
            pytrace=False,
        )
    if not CHROMIUM.exists():
        missing(f"{CHROMIUM} is not installed (Debian: apt-get install chromium)")
    return functools.partial(run_driver, node, "ui_driver.js")
