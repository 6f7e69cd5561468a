"""CORS as the browser SDK needs it (CLIENTS.md §4.5): the Origin echoed with credentials allowed.

The SDK's XHR sets `withCredentials`, so `*` is refused by the browser; only an echoed Origin with
`Access-Control-Allow-Credentials: true` works. Custom headers make the browser preflight.
"""

from __future__ import annotations

import httpx
import orjson
import pytest

from kindred.storage.base import Project
from tests.api.helpers import JSON, encode_base64, event, importable
from tests.conftest import LiveServer

ORIGIN = "http://127.0.0.1:8001"


@pytest.fixture
def project(server: LiveServer) -> Project:
    return server.new_project()


@pytest.mark.parametrize("path", ["/track/", "/engage/", "/groups/", "/import"])
def test_preflight_is_answered_204_allowing_the_requested_headers(
    http: httpx.Client, path: str
) -> None:
    response = http.options(
        path,
        params={"verbose": 1, "ip": 1},
        headers={
            "origin": ORIGIN,
            "access-control-request-method": "POST",
            "access-control-request-headers": "x-test-header, authorization, content-type",
        },
    )

    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert response.headers["access-control-allow-credentials"] == "true"
    assert "POST" in response.headers["access-control-allow-methods"]
    allowed = {h.strip() for h in response.headers["access-control-allow-headers"].split(",")}
    assert {"x-test-header", "authorization", "content-type"} <= allowed


def test_cross_origin_track_echoes_the_origin_with_credentials_and_stores_the_event(
    server: LiveServer, http: httpx.Client, project: Project
) -> None:
    data = encode_base64([event(project.token, "Page Loaded", distinct_id="$device:d1")])

    response = http.post(
        "/track/",
        params={"verbose": 1, "ip": 1, "_": 1796313129370},
        data={"data": data},
        headers={"origin": ORIGIN},
    )

    assert response.json() == {"status": 1, "error": None}
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert response.headers["access-control-allow-credentials"] == "true"
    assert "origin" in response.headers["vary"].lower()
    assert [e["event"] for e in server.export(project)] == ["Page Loaded"]


def test_error_answers_carry_cors_headers_too(http: httpx.Client) -> None:
    unauthenticated = orjson.dumps([importable("A", distinct_id="u1")])

    response = http.post("/import", content=unauthenticated, headers={**JSON, "origin": ORIGIN})

    assert response.status_code == 401
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert response.headers["access-control-allow-credentials"] == "true"


def test_request_without_origin_gets_no_cors_headers(http: httpx.Client, project: Project) -> None:
    response = http.post(
        "/track", data={"data": encode_base64(event(project.token, "A", distinct_id="u1"))}
    )

    assert response.text == "1"
    assert "access-control-allow-origin" not in response.headers
