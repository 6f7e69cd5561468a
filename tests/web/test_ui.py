"""The web UI over HTTP: its files, and the cookie session that lets its pages call the Query API.

The pages call the very endpoints a script calls; the session cookie stands in for the secret, for
the project `project_id` names, and only from kindred's own pages.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest

from kindred.storage.base import Project
from tests.api.helpers import import_events, importable
from tests.conftest import LiveServer
from tests.web.conftest import sign_in

COOKIE = "kindred_session"
FUNNELS_LIST = "/api/query/funnels/list"
CROSS_SITE = {"sec-fetch-site": "same-site", "origin": "http://127.0.0.1:1"}


def with_cookie(cookie: str, **headers: str) -> dict[str, str]:
    return {"cookie": f"{COOKIE}={cookie}", **headers}


def error_of(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["status"] == "error"
    message: str = body["error"]
    return message


@pytest.fixture
def project(server: LiveServer) -> Project:
    return server.new_project()


# --- Files ------------------------------------------------------------------------------------


def test_the_page_at_the_root_loads_only_its_own_files(http: httpx.Client) -> None:
    response = http.get("/")

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["cache-control"] == "no-cache"
    policy = response.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
    sources = re.findall(r'(?:src|href)="([^"#]+)"', response.text)
    assert sources and all(s.startswith("/ui/static/") for s in sources), sources
    for source in sources:
        assert http.get(source).status_code == 200, source


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        pytest.param("js/main.js", "text/javascript; charset=utf-8", id="module"),
        pytest.param("app.css", "text/css; charset=utf-8", id="css"),
        pytest.param(
            "vendor/chart.js/chart.umd.min.js", "text/javascript; charset=utf-8", id="lib"
        ),
        pytest.param("vendor/chart.js/LICENSE.md", "text/plain; charset=utf-8", id="license"),
    ],
)
def test_static_files_have_their_type_and_revalidate_by_etag(
    http: httpx.Client, path: str, content_type: str
) -> None:
    response = http.get(f"/ui/static/{path}")
    again = http.get(f"/ui/static/{path}", headers={"if-none-match": response.headers["etag"]})

    assert response.status_code == 200
    assert response.headers["content-type"] == content_type
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-cache"
    assert again.status_code == 304
    assert again.content == b""


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("/ui/static/nothing.js", id="unknown"),
        pytest.param("/ui/static/../ui.py", id="parent"),
        pytest.param("/ui/static/%2e%2e/sessions.py", id="encoded-parent"),
        pytest.param("/ui/static/js", id="folder"),
    ],
)
def test_only_the_shipped_files_are_served(http: httpx.Client, path: str) -> None:
    assert http.get(path).status_code == 404


# --- Signing in -----------------------------------------------------------------------------------


def test_signing_in_sets_a_strict_httponly_cookie_without_the_secret(
    http: httpx.Client, project: Project
) -> None:
    response = http.post("/ui/session", json={"secret": project.secret})

    assert response.status_code == 200, response.text
    assert response.json()["signed_in"] == {
        "id": project.id,
        "name": project.name,
        "identity_mode": "original",
    }
    header = response.headers["set-cookie"]
    assert header.startswith(f"{COOKIE}=")
    assert "HttpOnly" in header and "SameSite=strict" in header and "Path=/" in header
    assert project.secret not in header and project.token not in header


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        pytest.param({"secret": "not-a-secret"}, 401, "no project has this secret", id="wrong"),
        pytest.param({"secret": " "}, 400, "secret is required", id="empty"),
        pytest.param({}, 400, "secret is required", id="missing"),
    ],
)
def test_signing_in_without_a_secret_of_a_project_says_why(
    http: httpx.Client, body: dict[str, str], status: int, words: str
) -> None:
    response = http.post("/ui/session", data=body)

    assert words in error_of(response, status)
    assert COOKIE not in response.headers.get("set-cookie", "")


def test_a_token_does_not_sign_in(http: httpx.Client, project: Project) -> None:
    response = http.post("/ui/session", data={"secret": project.token})

    assert "cannot read" in error_of(response, 401)


def test_signing_in_from_another_site_is_refused(http: httpx.Client, project: Project) -> None:
    response = http.post("/ui/session", data={"secret": project.secret}, headers=CROSS_SITE)

    assert "another site" in error_of(response, 403)


def test_one_session_holds_several_projects(server: LiveServer, http: httpx.Client) -> None:
    first, second = server.new_project(), server.new_project("simplified")

    cookie = sign_in(http, first, second)
    shown = http.get("/ui/session", headers=with_cookie(cookie)).json()

    assert [(p["id"], p["identity_mode"]) for p in shown["projects"]] == [
        (first.id, "original"),
        (second.id, "simplified"),
    ]
    for project in (first, second):
        answer = http.get(
            FUNNELS_LIST, params={"project_id": project.id}, headers=with_cookie(cookie)
        )
        assert answer.status_code == 200, answer.text


def test_signing_out_of_one_project_keeps_the_others(
    server: LiveServer, http: httpx.Client
) -> None:
    first, second = server.new_project(), server.new_project()
    cookie = sign_in(http, first, second)

    out = http.post(
        "/ui/session/sign-out", data={"project_id": first.id}, headers=with_cookie(cookie)
    )
    left = out.cookies[COOKIE]

    assert [p["id"] for p in out.json()["projects"]] == [second.id]
    refused = http.get(FUNNELS_LIST, params={"project_id": first.id}, headers=with_cookie(left))
    assert "not signed in to project_id" in error_of(refused, 401)


def test_signing_out_clears_the_cookie(http: httpx.Client, project: Project) -> None:
    cookie = sign_in(http, project)

    out = http.post("/ui/session/sign-out", headers=with_cookie(cookie))

    assert out.json() == {"projects": []}
    assert re.search(rf'{COOKIE}=(""|);', out.headers["set-cookie"])
    assert "Max-Age=0" in out.headers["set-cookie"]


def test_the_session_list_is_empty_without_a_cookie_or_from_another_site(
    http: httpx.Client, project: Project
) -> None:
    cookie = sign_in(http, project)

    assert http.get("/ui/session").json() == {"projects": []}
    cross = http.get("/ui/session", headers=with_cookie(cookie, **CROSS_SITE))
    assert cross.json() == {"projects": []}


# --- The API with the cookie --------------------------------------------------------------------


def test_the_cookie_reads_the_same_answers_as_the_secret(
    http: httpx.Client, project: Project
) -> None:
    device = str(uuid.uuid4())
    identify = importable(
        "$identify", distinct_id="U1", **{"$identified_id": "U1", "$anon_id": device}
    )
    response = import_events(
        http, project, [importable("Viewed", distinct_id=device), identify], strict=1
    )
    assert response.status_code == 200, response.text
    cookie = sign_in(http, project)
    reads = [
        ("/api/2.0/export", {"from_date": "2020-01-01", "to_date": "2100-01-01"}),
        ("/api/query/events/names", {}),
        ("/api/kindred/identity/ids", {"distinct_id": device}),
        ("/api/kindred/identity/refusals", {"by_day": "true"}),
    ]

    for path, params in reads:
        by_secret = http.get(path, params=params, auth=(project.secret, ""))
        by_cookie = http.get(
            path,
            params={**params, "project_id": project.id},
            headers=with_cookie(cookie, **{"sec-fetch-site": "same-origin"}),
        )
        assert by_cookie.status_code == 200, (path, by_cookie.text)
        assert by_cookie.content == by_secret.content, path


def test_the_cookie_saves_a_funnel_and_withdraws_an_identity_input(
    http: httpx.Client, project: Project
) -> None:
    device = str(uuid.uuid4())
    identify = importable(
        "$identify", distinct_id="U1", **{"$identified_id": "U1", "$anon_id": device}
    )
    assert import_events(http, project, [identify], strict=1).status_code == 200
    cookie = sign_in(http, project)
    headers = with_cookie(cookie, origin=str(http.base_url).rstrip("/"))
    query = {"project_id": project.id}
    steps = '[{"event": "A"}, {"event": "B"}]'

    saved = http.post(
        "/api/kindred/funnels", params=query, data={"name": "AB", "events": steps}, headers=headers
    )
    unmerge = http.post(
        "/api/kindred/identity/unmerge",
        params=query,
        data={"insert_id": identify["properties"]["$insert_id"]},
        headers=headers,
    )

    assert saved.status_code == 200, saved.text
    assert unmerge.status_code == 200, unmerge.text
    assert unmerge.json()["canonical_ids"] == {"U1": "U1", device: device}


def test_the_cookie_needs_the_project_id(http: httpx.Client, project: Project) -> None:
    cookie = sign_in(http, project)

    response = http.get(FUNNELS_LIST, headers=with_cookie(cookie))

    assert "not signed in to project_id ''" in error_of(response, 401)


def test_the_cookie_does_not_read_a_project_it_did_not_sign_in_to(
    server: LiveServer, http: httpx.Client, project: Project
) -> None:
    other = server.new_project()
    cookie = sign_in(http, project)

    response = http.get(FUNNELS_LIST, params={"project_id": other.id}, headers=with_cookie(cookie))

    assert f"not signed in to project_id '{other.id}'" in error_of(response, 401)


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({"sec-fetch-site": "same-site"}, id="another-port"),
        pytest.param({"sec-fetch-site": "cross-site"}, id="another-site"),
        pytest.param({"origin": "http://127.0.0.1:1"}, id="another-origin"),
    ],
)
def test_the_cookie_works_only_from_kindreds_own_pages(
    http: httpx.Client, project: Project, headers: dict[str, str]
) -> None:
    cookie = sign_in(http, project)

    response = http.get(
        FUNNELS_LIST, params={"project_id": project.id}, headers=with_cookie(cookie, **headers)
    )

    assert "only from kindred's own pages" in error_of(response, 401)


def test_a_changed_cookie_asks_to_sign_in_again(http: httpx.Client, project: Project) -> None:
    cookie = sign_in(http, project)
    payload, _, signature = cookie.partition(".")

    response = http.get(
        FUNNELS_LIST,
        params={"project_id": project.id},
        headers=with_cookie(f"{payload}.{signature[::-1]}"),
    )

    assert "sign in again" in error_of(response, 401)


def test_the_cookie_does_not_write_events(http: httpx.Client, project: Project) -> None:
    cookie = sign_in(http, project)

    response = http.post(
        "/import",
        params={"project_id": project.id},
        json=[importable()],
        headers=with_cookie(cookie),
    )

    assert response.status_code == 401
