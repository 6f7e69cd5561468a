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

from kindred.api import events, identity, ingestion, reads, reports
from kindred.api.services import Services
from kindred.web import ui
from kindred.web.sessions import SessionSigner

logger = logging.getLogger(__name__)

WRITE_METHODS = ["GET", "POST"]
WRITE_HANDLERS = [
    ("track", ingestion.track),
    ("engage", ingestion.engage),
    ("groups", ingestion.groups),
    ("import", ingestion.batch_import),
]
REPORTS = [
    ("/segmentation", reports.segmentation_report),
    ("/segmentation/numeric", reports.numeric_report),
    ("/segmentation/sum", reports.sum_report),
    ("/segmentation/average", reports.average_report),
    ("/funnels", reports.funnel_report),
    ("/funnels/list", reports.funnel_list),
    ("/retention", reports.retention_report),
    ("/retention/addiction", reports.addiction_report),
    ("/events", events.events_report),
    ("/events/top", events.top_events_report),
    ("/events/names", events.event_names_report),
    ("/events/properties", events.event_properties_report),
    ("/events/properties/top", events.top_properties_report),
    ("/events/properties/values", events.top_values_report),
    ("/stream/query", events.stream_report),
]
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
        routes += [
            Route(f"{prefix}{path}", reports.endpoint(report), methods=["GET", "POST"])
            for path, report in REPORTS
        ]
    routes.append(
        Route("/api/kindred/funnels", reports.endpoint(reports.save_funnel), methods=["POST"])
    )
    # Before the ingestion routes, whose `{prefix:path}` would take an id ending in /track.
    identity_api = "/api/kindred/identity"
    routes += [
        Route(f"{identity_api}/ids/{{distinct_id:path}}", identity.show_id, methods=["GET"]),
        Route(f"{identity_api}/ids", identity.show_id, methods=["GET"]),
        Route(f"{identity_api}/explain", identity.explain, methods=["GET"]),
        Route(f"{identity_api}/unmerge", identity.unmerge, methods=["POST"]),
        Route(f"{identity_api}/refusals", identity.refusals, methods=["GET"]),
        Route(f"{identity_api}/clusters", identity.clusters, methods=["GET"]),
    ]
    routes += ui.routes()  # the web UI at / (kindred.web)
    for name, handler in WRITE_HANDLERS:
        # Under any prefix too (the Node SDK's `path`): after the read routes, which that
        # pattern would otherwise take.
        for path in (f"/{{prefix:path}}/{name}", f"/{{prefix:path}}/{name}/"):
            routes.append(Route(path, handler, methods=WRITE_METHODS))

    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.services = services
    app.state.ui_sessions = SessionSigner.random()
    return CORSMiddleware(SDKPaths(app))  # type: ignore[return-value]


class SDKPaths:
    """The SDKs' own paths (`/track`, `/engage`, ...) straight to their handlers.

    They take almost every request a server gets, and going through Starlette's router (a regular
    expression per route until one matches) and its two exception middlewares cost more than the
    handler's own work on a one-event /track. Everything else goes to the Starlette app. An
    exception in a handler reaches uvicorn, which logs it and answers 500, as Starlette would.
    """

    def __init__(self, app: Starlette) -> None:
        self.app = app
        self.handlers = {
            path: _answering(handler)
            for name, handler in WRITE_HANDLERS
            for path in (f"/{name}", f"/{name}/")
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        handler = self.handlers.get(scope["path"]) if scope["type"] == "http" else None
        if handler is None or scope["method"] not in WRITE_METHODS:
            await self.app(scope, receive, send)
            return
        scope["app"] = self.app  # where handlers find the services
        await handler(scope, receive, send)


def _answering(handler: Handler) -> ASGIApp:
    """`handler` as an ASGI app. Starlette's `request_response` would also map HTTPExceptions
    to answers; these handlers raise none, and that wrapping costs a one-event /track measurably."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        response = await handler(Request(scope, receive, send))
        await response(scope, receive, send)

    return app


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

        if origin is None:  # not a browser's request: nothing to add
            await self.app(scope, receive, send)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
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
