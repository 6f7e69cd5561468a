"""The web UI's routes: its page at `/`, its static files, and signing in and out.

Every file under static/ ships in the wheel and is read once, when the app is built: nothing is
fetched from elsewhere and nothing is built at run time. Files are answered with an ETag and
`Cache-Control: no-cache`, so a browser revalidates (a 304 when nothing changed) and never runs
yesterday's script against today's server.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from kindred.api.auth import project_by_secret
from kindred.api.services import services_of
from kindred.api.wire import json_response, read_body
from kindred.errors import ClientError
from kindred.storage.base import MetadataStore, Project
from kindred.web.sessions import (
    COOKIE_NAME,
    SESSION_SECONDS,
    Session,
    SessionSigner,
    is_same_origin,
    read_session,
    signer_of,
)

STATIC_DIR = Path(__file__).parent / "static"
STATIC_PREFIX = "/ui/static"
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".md": "text/plain; charset=utf-8",
}
# A sign-in body holds one secret.
MAX_BODY_BYTES = 4096
COMMON_HEADERS = {"cache-control": "no-cache", "x-content-type-options": "nosniff"}
# The page loads nothing from elsewhere and runs no inline script: say so to the browser.
PAGE_HEADERS = {
    **COMMON_HEADERS,
    "content-security-policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    ),
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}
NO_SECRET = "secret is required: the project's secret, which `kindred project show NAME` prints"
WRONG_SECRET = (
    "no project has this secret; `kindred project show NAME` prints a project's secret "
    "(its token, which the SDKs send, cannot read)"
)
CROSS_SITE = "sign in and out from kindred's own page; this request came from another site"

Handler = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    content_type: str
    etag: str


def routes(static_dir: Path = STATIC_DIR) -> list[Route]:
    """The UI's routes; the app must also hold a `SessionSigner` as `state.ui_sessions`."""
    assets = load_assets(static_dir)
    return [
        Route("/", _serve(assets["index.html"], PAGE_HEADERS), methods=["GET"]),
        Route(f"{STATIC_PREFIX}/{{path:path}}", _serve_static(assets), methods=["GET"]),
        Route("/ui/session", show_session, methods=["GET"]),
        Route("/ui/session", sign_in, methods=["POST"]),
        Route("/ui/session/sign-out", sign_out, methods=["POST"]),
    ]


def load_assets(root: Path) -> dict[str, Asset]:
    """Every file under `root` of a known type, by its path relative to `root`."""
    assets = {}
    for path in sorted(root.rglob("*")):
        content_type = CONTENT_TYPES.get(path.suffix)
        if content_type is None or not path.is_file():
            continue
        body = path.read_bytes()
        etag = f'"{hashlib.sha256(body).hexdigest()[:20]}"'
        assets[path.relative_to(root).as_posix()] = Asset(body, content_type, etag)
    return assets


# -- Files ------------------------------------------------------------------------------------


def _serve(asset: Asset, headers: Mapping[str, str]) -> Handler:
    async def serve(request: Request) -> Response:
        return _asset_response(request, asset, headers)

    return serve


def _serve_static(assets: dict[str, Asset]) -> Handler:
    async def serve(request: Request) -> Response:
        # Only the files read at start-up: a path that is not one of them is a 404, `..` too.
        asset = assets.get(request.path_params["path"])
        if asset is None:
            return Response("Not Found", 404, media_type="text/plain")
        return _asset_response(request, asset, COMMON_HEADERS)

    return serve


def _asset_response(request: Request, asset: Asset, headers: Mapping[str, str]) -> Response:
    headers = {**headers, "etag": asset.etag}
    if request.headers.get("if-none-match") == asset.etag:
        return Response(status_code=304, headers=headers)
    return Response(asset.body, headers={**headers, "content-type": asset.content_type})


# -- Session ----------------------------------------------------------------------------------


async def show_session(request: Request) -> Response:
    """GET /ui/session: the projects this browser is signed in to (no secrets)."""
    signer, meta = _signer(request), services_of(request).meta
    session = read_session(request)
    projects = [] if session is None else signer.projects(session, meta)
    return json_response({"projects": [_project_json(p) for p in projects]})


async def sign_in(request: Request) -> Response:
    """POST /ui/session with `secret` (a form or JSON): add that project to the session; answer
    the session's projects and, as `signed_in`, this one."""
    signer, meta = _signer(request), services_of(request).meta
    if not is_same_origin(request):
        return _error(403, CROSS_SITE)
    try:
        secret = (await _body_params(request)).get("secret", "")
    except ClientError as exc:
        return _error(exc.status, str(exc))
    if not isinstance(secret, str) or not secret.strip():
        return _error(400, NO_SECRET)
    project = project_by_secret(meta, secret.strip())
    if project is None:
        return _error(401, WRONG_SECRET)

    session = signer.sign_in(read_session(request), project)
    response = _session_response(signer, session, meta, signed_in=project)
    _set_cookie(request, response, signer.dumps(session))
    return response


async def sign_out(request: Request) -> Response:
    """POST /ui/session/sign-out: out of `project_id` if given, else out of every project."""
    signer, meta = _signer(request), services_of(request).meta
    if not is_same_origin(request):
        return _error(403, CROSS_SITE)
    try:
        project_id = str((await _body_params(request)).get("project_id", ""))
    except ClientError as exc:
        return _error(exc.status, str(exc))
    session = read_session(request)
    if session is not None and project_id.isdigit():
        session = signer.sign_out(session, int(project_id))
        response = _session_response(signer, session, meta)
        _set_cookie(request, response, signer.dumps(session))
        return response

    response = json_response({"projects": []})
    response.delete_cookie(COOKIE_NAME, path="/", httponly=True, samesite="strict")
    return response


def _signer(request: Request) -> SessionSigner:
    signer = signer_of(request)
    if signer is None:
        raise RuntimeError("the app was built without state.ui_sessions; see kindred.app")
    return signer


def _session_response(
    signer: SessionSigner,
    session: Session,
    meta: MetadataStore,
    *,
    signed_in: Project | None = None,
) -> Response:
    answer: dict[str, Any] = {
        "projects": [_project_json(p) for p in signer.projects(session, meta)]
    }
    if signed_in is not None:
        answer["signed_in"] = _project_json(signed_in)
    return json_response(answer)


def _set_cookie(request: Request, response: Response, token: str) -> None:
    response.set_cookie(
        COOKIE_NAME,
        token,
        max_age=SESSION_SECONDS,
        path="/",
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )


def _project_json(project: Project) -> dict[str, Any]:
    return {"id": project.id, "name": project.name, "identity_mode": project.identity_mode.value}


async def _body_params(request: Request) -> dict[str, Any]:
    """A form or JSON object body."""
    body = await read_body(request, max_bytes=MAX_BODY_BYTES)
    if not request.headers.get("content-type", "").startswith("application/json"):
        return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    try:
        parsed = orjson.loads(body) if body.strip() else {}
    except orjson.JSONDecodeError:
        parsed = None
    if not isinstance(parsed, dict):
        raise ClientError('a JSON body must be an object, like {"secret": "..."}')
    return parsed


def _error(status: int, message: str) -> Response:
    return json_response({"error": message, "status": "error"}, status)
