"""Event store benchmark: `write()` of 2000-event batches, then reading them back.

Run by hand, not by pytest:

    python bench/storage.py                        # DuckDB in a temporary directory
    python bench/storage.py --batches 200 --path /tmp/kindred-bench.duckdb

Each event carries 20 properties shaped like a browser SDK's. The write figure is events per
second over every `write()` call, commits and automatic checkpoints included; encoding the batch
is inside the timed span, building the `EventRecord`s is not.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from kindred.ingest.model import EventRecord
from kindred.storage.base import WriteBatch
from kindred.storage.duckdb_store import DuckDBEventStore

BASE_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z
BATCH_EVENTS = 2000


def properties(n: int) -> dict[str, Any]:
    return {
        "$browser": "Chrome",
        "$browser_version": 120.5,
        "$os": "Mac OS X",
        "$device": "Mac",
        "$current_url": f"https://example.com/pricing?utm_source=google&n={n}",
        "$referrer": "https://www.google.com/",
        "$screen_height": 1080,
        "$screen_width": 1920,
        "mp_lib": "web",
        "$lib_version": "2.47.0",
        "$city": "Zürich",
        "$region": "Zurich",
        "mp_country_code": "CH",
        "plan": "pro",
        "step": n % 7,
        "tags": ["a", "b"],
        "utm_source": "google",
        "utm_campaign": "spring-sale",
        "price": 19.99,
        "is_trial": False,
    }


def make_batch(index: int) -> WriteBatch:
    first = index * BATCH_EVENTS
    events = [
        (
            1,
            seq,
            "Page Viewed" if seq % 3 else "Signed Up",
            f"user-{seq % 50_000}",
            BASE_MS + seq * 100,
            str(uuid.UUID(int=seq)),
        )
        for seq in range(first, first + BATCH_EVENTS)
    ]
    return WriteBatch(
        events=[(p, s, EventRecord(e, d, t, i, properties(s))) for p, s, e, d, t, i in events]
    )


def run(path: Path, batches: int) -> None:
    work = [make_batch(k) for k in range(batches)]
    store = DuckDBEventStore(path)
    timings = []
    for batch in work:
        started = time.perf_counter()
        store.write(batch)
        timings.append(time.perf_counter() - started)
    total = sum(timings)
    count = batches * BATCH_EVENTS
    ms = sorted(t * 1000 for t in timings)
    print(f"write: {count:,} events in {batches} batches, {count / total:,.0f} events/s")
    print(
        f"       per batch: median {statistics.median(ms):.1f} ms, "
        f"p99 {ms[int(len(ms) * 0.99) - 1]:.1f} ms, max {ms[-1]:.1f} ms"
    )

    started = time.perf_counter()
    read = sum(1 for _ in store.events(1, from_ms=BASE_MS, to_ms=BASE_MS + count * 100))
    elapsed = time.perf_counter() - started
    print(f"read:  {read:,} events in {elapsed:.2f} s, {read / elapsed:,.0f} events/s")
    started = time.perf_counter()
    store.close()
    print(f"close: {time.perf_counter() - started:.2f} s (checkpoint)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=100)
    parser.add_argument("--path", type=Path, help="DuckDB file (default: a temporary one)")
    args = parser.parse_args()
    if args.path is not None:
        run(args.path, args.batches)
        return
    with tempfile.TemporaryDirectory() as directory:
        run(Path(directory) / "kindred.duckdb", args.batches)


if __name__ == "__main__":
    main()
