"""What every handler needs, built once by the app: stores, pipeline, limits, clock."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kindred.api.ratelimit import RateLimiter
from kindred.ingest.model import Limits
from kindred.pipeline import Pipeline
from kindred.storage.base import EventStore, MetadataStore, Project

if TYPE_CHECKING:  # the CLI builds Services too, and need not import Starlette's request parsing
    from starlette.requests import Request

# A project found by token is trusted for this long before it is looked up again, so that a
# project created or changed from the CLI is served within this delay.
PROJECT_CACHE_SECONDS = 1.0


class ProjectsByToken:
    """Projects by token, cached briefly. An unknown token is looked up every time."""

    def __init__(self, meta: MetadataStore) -> None:
        self._meta = meta
        self._cache: dict[str, tuple[Project, float]] = {}

    def get(self, token: str) -> Project | None:
        now = time.monotonic()
        cached = self._cache.get(token)
        if cached is not None and cached[1] > now:
            return cached[0]
        project = self._meta.project_by_token(token)
        if project is not None:
            self._cache[token] = (project, now + PROJECT_CACHE_SECONDS)
        return project


@dataclass(slots=True)
class Services:
    meta: MetadataStore
    store: EventStore
    pipeline: Pipeline
    limits: Limits = field(default_factory=Limits)
    clock_ms: Callable[[], int] = lambda: int(time.time() * 1000)
    rate_limiter: RateLimiter = field(default_factory=lambda: RateLimiter(0))
    projects: ProjectsByToken = field(init=False)

    def __post_init__(self) -> None:
        self.projects = ProjectsByToken(self.meta)


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services
