"""The UI session's cookie: signed, expiring, bound to each project's secret, and same-origin only."""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

import pytest
from starlette.requests import Request

from kindred.identity import IdentityMode
from kindred.storage.base import MetadataStore, Project
from kindred.web.sessions import (
    MAX_PROJECTS,
    SESSION_SECONDS,
    Session,
    SessionSigner,
    is_same_origin,
)

NOW = 1_800_000_000.0
KEY = b"k" * 32


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


class _Projects:
    """The one method of a MetadataStore that sessions read."""

    def __init__(self, *projects: Project) -> None:
        self.by_id = {p.id: p for p in projects}

    def project(self, project_id: int) -> Project | None:
        return self.by_id.get(project_id)


def meta(*projects: Project) -> MetadataStore:
    return cast(MetadataStore, _Projects(*projects))


def project(project_id: int, secret: str = "s3cret") -> Project:
    return Project(
        project_id, f"p{project_id}", f"token{project_id}", secret, IdentityMode.ORIGINAL
    )


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def signer(clock: Clock) -> SessionSigner:
    return SessionSigner(KEY, clock)


def test_a_cookie_round_trips_its_projects_and_holds_no_secret(signer: SessionSigner) -> None:
    one, two = project(1, "first-secret"), project(2, "second-secret")
    session = signer.sign_in(signer.sign_in(None, one), two)

    token = signer.dumps(session)
    loaded = signer.loads(token)

    assert loaded == session
    assert [g.project_id for g in session.grants] == [1, 2]
    assert session.expires_s == NOW + SESSION_SECONDS
    assert "secret" not in token
    assert signer.projects(session, meta(one, two)) == [one, two]


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"), id="signature"),
        pytest.param(lambda t: t[:8] + ("A" if t[8] != "A" else "B") + t[9:], id="payload"),
        pytest.param(lambda t: t.replace(".", ""), id="no-separator"),
        pytest.param(lambda t: "", id="empty"),
    ],
)
def test_a_changed_cookie_is_refused(signer: SessionSigner, tamper: Callable[[str], str]) -> None:
    token = signer.dumps(signer.sign_in(None, project(1)))

    assert signer.loads(tamper(token)) is None


def test_a_cookie_of_another_key_is_refused(signer: SessionSigner) -> None:
    token = SessionSigner(b"x" * 32).dumps(SessionSigner(b"x" * 32).sign_in(None, project(1)))

    assert signer.loads(token) is None


def test_a_cookie_expires(signer: SessionSigner, clock: Clock) -> None:
    token = signer.dumps(signer.sign_in(None, project(1)))

    clock.now += SESSION_SECONDS

    assert signer.loads(token) is None


def test_a_grant_stops_working_when_the_secret_changes(signer: SessionSigner) -> None:
    session = signer.sign_in(None, project(1, "old"))

    still = signer.project(session, meta(project(1, "old")), 1)
    changed = signer.project(session, meta(project(1, "new")), 1)
    other = signer.project(session, meta(project(1, "old"), project(2)), 2)

    assert still == project(1, "old")
    assert changed is None
    assert other is None


def test_signing_in_again_renews_and_signing_out_removes_one_project(
    signer: SessionSigner, clock: Clock
) -> None:
    session = signer.sign_in(signer.sign_in(None, project(1)), project(2))
    clock.now += 100

    again = signer.sign_in(session, project(1))
    out = signer.sign_out(again, 2)

    assert [g.project_id for g in again.grants] == [2, 1]
    assert again.expires_s == session.expires_s + 100
    assert [g.project_id for g in out.grants] == [1]


def test_a_session_keeps_the_latest_projects_up_to_its_limit(signer: SessionSigner) -> None:
    session: Session | None = None
    for n in range(MAX_PROJECTS + 2):
        session = signer.sign_in(session, project(n))

    assert session is not None
    assert [g.project_id for g in session.grants] == list(range(2, MAX_PROJECTS + 2))
    assert len(signer.dumps(session)) < 4096


def _request(**headers: str) -> Request:
    raw = [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()]
    return Request({"type": "http", "method": "GET", "path": "/", "headers": raw})


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        pytest.param({"host": "kindred:8000"}, True, id="no-browser-headers"),
        pytest.param({"host": "kindred:8000", "sec_fetch_site": "same-origin"}, True, id="same"),
        pytest.param({"host": "kindred:8000", "sec_fetch_site": "none"}, True, id="typed-url"),
        pytest.param({"host": "kindred:8000", "sec_fetch_site": "same-site"}, False, id="port"),
        pytest.param({"host": "kindred:8000", "sec_fetch_site": "cross-site"}, False, id="cross"),
        pytest.param({"host": "kindred:8000", "origin": "http://kindred:8000"}, True, id="origin"),
        pytest.param(
            {"host": "kindred:8000", "origin": "https://kindred:8000"}, True, id="tls-proxy"
        ),
        pytest.param({"host": "kindred:8000", "origin": "http://kindred:8001"}, False, id="other"),
        pytest.param({"host": "kindred:8000", "origin": "null"}, False, id="null-origin"),
        pytest.param(
            {
                "host": "backend:8000",
                "origin": "https://kindred.example",
                "sec_fetch_site": "same-origin",
            },
            True,
            id="proxy-rewrites-host",
        ),
    ],
)
def test_same_origin_is_what_the_browser_says(headers: dict[str, str], expected: bool) -> None:
    assert is_same_origin(_request(**headers)) is expected
