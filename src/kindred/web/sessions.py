"""The web UI's session: which projects a browser signed in to, in a cookie the server signs.

The cookie holds no secret. It reads `<payload>.<signature>`, both base64url: the payload lists
grants of (project id, fingerprint) and an expiry, and the signature is an HMAC-SHA256 of the
payload under a key drawn when the server starts, so a restart signs everyone out. A fingerprint is
an HMAC of the project's secret, so a grant stops working if the secret changes.

The cookie is HttpOnly and SameSite=Strict, and is accepted only from kindred's own pages
(`is_same_origin`): the API answers CORS requests from any origin with credentials, as the browser
SDK needs, and SameSite does not tell one port of a host from another.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

import orjson
from starlette.requests import Request

from kindred.errors import AuthenticationError
from kindred.storage.base import MetadataStore, Project

COOKIE_NAME = "kindred_session"
SESSION_SECONDS = 7 * 86_400
KEY_BYTES = 32
FINGERPRINT_BYTES = 16
# A cookie stays well under browsers' 4 KiB limit at ~40 bytes a grant.
MAX_PROJECTS = 20


@dataclass(frozen=True, slots=True)
class Grant:
    project_id: int
    fingerprint: str


@dataclass(frozen=True, slots=True)
class Session:
    """The projects one browser signed in to, oldest first, and when the cookie expires."""

    grants: tuple[Grant, ...]
    expires_s: int


class SessionSigner:
    """Writes and checks session cookies under one key. Holds nothing else, so it is thread-safe."""

    def __init__(self, key: bytes, clock: Callable[[], float] = time.time) -> None:
        self._key = key
        self._clock = clock

    @classmethod
    def random(cls) -> SessionSigner:
        return cls(secrets.token_bytes(KEY_BYTES))

    def fingerprint(self, project: Project) -> str:
        message = f"project\0{project.id}\0{project.secret}".encode()
        return _encode(hmac.new(self._key, message, hashlib.sha256).digest()[:FINGERPRINT_BYTES])

    def sign_in(self, session: Session | None, project: Project) -> Session:
        """`session` with `project` added (or renewed), valid for SESSION_SECONDS from now."""
        grant = Grant(project.id, self.fingerprint(project))
        others = [g for g in (session.grants if session else ()) if g.project_id != project.id]
        grants = (*others, grant)[-MAX_PROJECTS:]
        return Session(grants, int(self._clock()) + SESSION_SECONDS)

    def sign_out(self, session: Session, project_id: int) -> Session:
        grants = tuple(g for g in session.grants if g.project_id != project_id)
        return Session(grants, session.expires_s)

    def dumps(self, session: Session) -> str:
        grants = [[g.project_id, g.fingerprint] for g in session.grants]
        payload = _encode(orjson.dumps({"exp": session.expires_s, "grants": grants}))
        return f"{payload}.{self._signature(payload)}"

    def loads(self, token: str) -> Session | None:
        """The session of a cookie; None when it is forged, malformed or expired."""
        payload, _, signature = token.partition(".")
        if not hmac.compare_digest(signature.encode(), self._signature(payload).encode()):
            return None
        try:
            parsed = orjson.loads(_decode(payload))
            expires_s = int(parsed["exp"])
            grants = tuple(Grant(int(pid), str(fp)) for pid, fp in parsed["grants"])
        except (orjson.JSONDecodeError, binascii.Error, KeyError, TypeError, ValueError):
            return None
        if expires_s <= self._clock():
            return None
        return Session(grants, expires_s)

    def project(self, session: Session, meta: MetadataStore, project_id: int) -> Project | None:
        """The project `project_id` if `session` holds a grant for it that its secret still fits."""
        grant = next((g for g in session.grants if g.project_id == project_id), None)
        project = None if grant is None else meta.project(project_id)
        if grant is None or project is None:
            return None
        if not hmac.compare_digest(grant.fingerprint.encode(), self.fingerprint(project).encode()):
            return None
        return project

    def projects(self, session: Session, meta: MetadataStore) -> list[Project]:
        found = (self.project(session, meta, g.project_id) for g in session.grants)
        return [project for project in found if project is not None]

    def _signature(self, payload: str) -> str:
        message = b"session\0" + payload.encode()
        return _encode(hmac.new(self._key, message, hashlib.sha256).digest())


def signer_of(request: Request) -> SessionSigner | None:
    """The app's signer; None in an app built without the web UI."""
    app = request.scope.get("app")
    signer = getattr(getattr(app, "state", None), "ui_sessions", None)
    return signer if isinstance(signer, SessionSigner) else None


def read_session(request: Request) -> Session | None:
    """The request's valid session, if it carries one from kindred's own pages."""
    signer = signer_of(request)
    token = request.cookies.get(COOKIE_NAME)
    if signer is None or not token or not is_same_origin(request):
        return None
    return signer.loads(token)


def is_same_origin(request: Request) -> bool:
    """Whether the browser says this request comes from kindred's own pages.

    Every current browser sets `Sec-Fetch-Site`, which a page cannot forge; it is trusted alone,
    so a proxy that rewrites Host changes nothing. Without it, `Origin` decides: its host must be
    the Host header's (its scheme may differ, behind a TLS-terminating proxy). A request with
    neither is no browser's cross-origin request.
    """
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None:
        return fetch_site in ("same-origin", "none")
    origin = request.headers.get("origin")
    return origin is None or urlsplit(origin).netloc == request.headers.get("host")


def session_project(
    request: Request, meta: MetadataStore, params: Mapping[str, str]
) -> Project | None:
    """The project that `?project_id=` names, if the session cookie is signed in to it.

    None without a session cookie (or in an app without the UI); AuthenticationError, in words
    the UI shows, when the cookie is there but does not let this request read that project.
    """
    signer = signer_of(request)
    token = request.cookies.get(COOKIE_NAME)
    if signer is None or token is None:
        return None
    if not is_same_origin(request):
        raise AuthenticationError(
            "the session cookie works only from kindred's own pages; a script authenticates "
            "with the project secret (HTTP Basic)"
        )
    session = signer.loads(token)
    if session is None:
        raise AuthenticationError(
            "your session has expired, or the server restarted; sign in again"
        )
    project_id = params.get("project_id", "")
    project = signer.project(session, meta, int(project_id)) if project_id.isdigit() else None
    if project is None:
        raise AuthenticationError(
            f"this session is not signed in to project_id {project_id!r:.40}; sign in with "
            "that project's secret"
        )
    return project


def _encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
