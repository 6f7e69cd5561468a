"""Per-project rate limits, off unless configured: a token bucket of events per second.

Mixpanel refuses a project's ingestion beyond about 30k events/s with a 429 that the SDKs back off
from (SPEC.md §6). A self-hosted server has no such need by default; an operator who shares one
server between teams can set KINDRED_RATE_LIMIT_EVENTS_PER_SECOND.
"""

from __future__ import annotations

import time
from collections.abc import Callable

RATE_LIMITED = "Project exceeded rate limits. Please retry the request with exponential backoff."
# A project may burst to this many seconds' worth of its rate.
BURST_SECONDS = 10


class RateLimiter:
    """Token buckets by project id. `allow` takes every project's events, or refuses them all."""

    def __init__(self, events_per_second: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.events_per_second = events_per_second
        self._clock = clock
        self._buckets: dict[int, tuple[float, float]] = {}

    def allow(self, events_by_project: dict[int, int]) -> bool:
        if self.events_per_second <= 0:
            return True
        capacity = float(self.events_per_second * BURST_SECONDS)
        now = self._clock()
        refilled = {}
        for project_id, events in events_by_project.items():
            tokens, last = self._buckets.get(project_id, (capacity, now))
            tokens = min(capacity, tokens + (now - last) * self.events_per_second)
            if events > tokens:
                return False
            refilled[project_id] = tokens - events
        for project_id, tokens in refilled.items():
            self._buckets[project_id] = (tokens, now)
        return True
