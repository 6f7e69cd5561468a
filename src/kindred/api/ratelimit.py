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
    """Token buckets by project id; `allow(project_id, n)` takes n tokens or refuses all of them."""

    def __init__(self, events_per_second: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.events_per_second = events_per_second
        self._clock = clock
        self._buckets: dict[int, tuple[float, float]] = {}

    def allow(self, project_id: int, events: int) -> bool:
        if self.events_per_second <= 0:
            return True
        capacity = float(self.events_per_second * BURST_SECONDS)
        now = self._clock()
        tokens, last = self._buckets.get(project_id, (capacity, now))
        tokens = min(capacity, tokens + (now - last) * self.events_per_second)
        if events > tokens:
            self._buckets[project_id] = (tokens, now)
            return False
        self._buckets[project_id] = (tokens - events, now)
        return True
