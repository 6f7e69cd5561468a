"""The ASGI application: routes, CORS as the browser SDK needs it, and the life cycle."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kindred.api import ingestion, reads
from kindred.api.services import Services

logger = logging.getLogger(__name__)

WRITE_METHODS = ["GET", "POST"]
Handler = Callable[[Request], Awaitable[Response]]


def create_app(services: Services) -> Starlette:
    """The kindred server over `services`; its pipeline starts and stops with the app."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        services.pipeline.start()
        try:
            yield
        finally:
            services.pipeline.stop()

    routes = []
    for prefix in ("/api/2.0", "/api/query"):
        routes.append(Route(f"{prefix}/export", reads.export, methods=["GET", "POST"]))
        routes.append(Route(f"{prefix}/engage", reads.engage_query, methods=["GET", "POST"]))
    for name, handler in (
        ("track", ingestion.track),
        ("engage", ingestion.engage),
        ("groups", ingestion.groups),
        ("import", ingestion.batch_import),
    ):
        # With and without a trailing slash, and under any prefix (the Node SDK's `path`).
        for path in (
            f"/{name}",
            f"/{name}/",
            f"/{{prefix:path}}/{name}",
            f"/{{prefix:path}}/{name}/",
        ):
            routes.append(Route(path, handler, methods=WRITE_METHODS))

    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.services = services
    return CORSMiddleware(app)  # type: ignore[return-value]


class CORSMiddleware:
    """CORS as the browser SDK needs it: echo the Origin, allow credentials, answer preflights.

    Starlette's own middleware cannot echo an arbitrary origin with credentials, which is exactly
    what the SDK's XHR with `withCredentials` requires (CLIENTS.md §4.5 and §7.4).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        origin = headers.get(b"origin")
        if scope["method"] == "OPTIONS" and b"access-control-request-method" in headers:
            await self._preflight(origin, headers, send)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start" and origin is not None:
                message["headers"] = [*message.get("headers", []), *_cors_headers(origin)]
            await send(message)

        await self.app(scope, receive, send_with_cors)

    async def _preflight(
        self, origin: bytes | None, headers: dict[bytes, bytes], send: Send
    ) -> None:
        response_headers = [
            (b"access-control-allow-methods", b"GET, POST, OPTIONS"),
            (b"access-control-max-age", b"600"),
        ]
        requested = headers.get(b"access-control-request-headers")
        if requested:
            response_headers.append((b"access-control-allow-headers", requested))
        if origin is not None:
            response_headers.extend(_cors_headers(origin))
        await send({"type": "http.response.start", "status": 204, "headers": response_headers})
        await send({"type": "http.response.body", "body": b""})


def _cors_headers(origin: bytes) -> list[tuple[bytes, bytes]]:
    return [
        (b"access-control-allow-origin", origin),
        (b"access-control-allow-credentials", b"true"),
        (b"vary", b"Origin"),
    ]
