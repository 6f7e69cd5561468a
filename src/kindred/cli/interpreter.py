"""Interpreter settings for the commands that ingest: `kindred serve` and `kindred import`.

CPython's cyclic garbage collector runs each time 700 more containers have been allocated than
freed. Ingestion allocates containers by the thousand and keeps them: a 2000-event /import body
decodes into about 8000 (the events, their properties, the validated copies, the records), and all
of them live until the batch is written. At 700 the collector ran about ten times per body, walked
objects that all survived, and moved them into older generations that it then walked again.

Ingested records hold no reference cycles, so collecting less often only lets the rare cyclic
garbage (an exception's traceback, say) wait longer: at most `YOUNG_COLLECTION_THRESHOLD` objects.
"""

from __future__ import annotations

import gc

# With 50,000, `python bench/ingest.py --only import` went from 46.6k events/s to 50.9k-51.7k
# (bench/README.md); 20,000 gave most of that, 700 is CPython's default.
YOUNG_COLLECTION_THRESHOLD = 50_000


def collect_garbage_less_often() -> None:
    """Let the youngest generation grow to `YOUNG_COLLECTION_THRESHOLD` before a collection."""
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, middle, oldest)
