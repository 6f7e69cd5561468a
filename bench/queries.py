"""Report benchmark: funnels, retention and segmentation on 10M events, identity resolved at read time.

Run by hand, not by pytest:

    pip install -e '.[bench]'
    python bench/queries.py                        # 1M users, 10M events; ~5 minutes, most of it loading
    python bench/queries.py --users 100000 --events 1000000    # a quick run
    python bench/queries.py --keep bench/out/queries-data      # keep the data dir, reuse it next time

The data goes through kindred's own pipeline (identity engine, person keys, overrides, folding) into
a DuckDB data dir. Each report then runs twice on the same data: as kindred runs it, reading each
event's person through the pending person overrides, and as a baseline on a copy where every
override is already folded into the events and the report reads the stored person only (ids
"already resolved"). For reference, ClickHouse's own `windowFunnel` runs the same funnel through
chdb on the same resolved events. bench/README.md explains the figures.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

from kindred.identity import IdentityMode
from kindred.ingest.model import EventRecord
from kindred.pipeline import Pipeline, Submission
from kindred.query.buckets import Unit
from kindred.query.funnels import Funnel, Step, funnel
from kindred.query.retention import Retention, retention
from kindred.query.segmentation import Measure, Segmentation, segmentation
from kindred.query.source import DAY_MS, EventQuery, Persons
from kindred.storage.duckdb_store import DuckDBEventStore
from kindred.storage.memory import MemoryMetadataStore

FUNNEL_TARGET_S = 1.5
RETENTION_TARGET_S = 2.0
SEGMENTATION_TARGET_S = 0.5
RESOLUTION_RATIO_TARGET = 1.25

DAYS = 30
START = dt.datetime(2026, 10, 1, tzinfo=dt.UTC)
START_MS = int(START.timestamp() * 1000)
IDENTIFIED_SHARE = 0.30
RETURN_CHANCE = 0.25  # of coming back on each later day
SUBMIT_EVENTS = 5000
FUNNEL_STEPS = ("Viewed", "Added", "Bought")
WINDOW_MS = 7 * DAY_MS
# What a session does after "App Open", with weights.
ACTIONS = (("Viewed", 50), ("Searched", 20), ("Added", 20), ("Bought", 10))


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- The workload -----------------------------------------------------------------------------


def generate(users: int, events: int, seed: int) -> Iterator[list[EventRecord]]:
    """Each day's events in time order; 30% of the users log in on their first day.

    A user starts on a random day and comes back on each later day with RETURN_CHANCE. A day's
    session opens with "App Open" and goes on with actions; an identified user's first session
    sends `$identify` after its first event, and every later event carries the user id.
    """
    rng = random.Random(seed)
    starts = [rng.randrange(DAYS) for _ in range(users)]
    identified = [rng.random() < IDENTIFIED_SHARE for _ in range(users)]
    active_days = sum(1 + RETURN_CHANCE * (DAYS - 1 - s) for s in starts)
    per_session = max(1.0, events / active_days)
    devices = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(users)]
    names = [name for name, _ in ACTIONS]
    weights = [weight for _, weight in ACTIONS]

    by_day: list[list[int]] = [[] for _ in range(DAYS)]
    for user, start in enumerate(starts):
        by_day[start].append(user)
        for day in range(start + 1, DAYS):
            if rng.random() < RETURN_CHANCE:
                by_day[day].append(user)

    seq = 0
    for day in range(DAYS):
        rows: list[EventRecord] = []
        for user in by_day[day]:
            first_day = day == starts[user]
            at = START_MS + day * DAY_MS + rng.randrange(DAY_MS - 3_600_000)
            size = max(1, round(rng.expovariate(1 / per_session)))
            actions = ["App Open", *rng.choices(names, weights, k=size - 1)]
            user_id = f"u{user}"
            logged_in = identified[user] and not first_day
            for n, name in enumerate(actions):
                distinct_id = user_id if logged_in else devices[user]
                rows.append(_event(name, distinct_id, at + n * 30_000, seq))
                seq += 1
                if first_day and identified[user] and n == 0:
                    props = {"$identified_id": user_id, "$anon_id": devices[user]}
                    rows.append(EventRecord("$identify", user_id, at + 15_000, f"i{seq}", props))
                    seq += 1
                    logged_in = True
        rows.sort(key=lambda record: record.time_ms)
        yield rows


def _event(name: str, distinct_id: str, time_ms: int, seq: int) -> EventRecord:
    properties = {"$browser": "Chrome" if seq % 3 else "Safari", "mp_lib": "web"}
    return EventRecord(name, distinct_id, time_ms, f"i{seq}", properties)


def load(data_dir: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Send the workload through kindred's pipeline into a DuckDB data dir."""
    store = DuckDBEventStore(data_dir / "events.duckdb")
    meta = MemoryMetadataStore()
    project = meta.create_project(
        "bench", token="t", secret="s", identity_mode=IdentityMode.ORIGINAL
    )
    # Fold overrides only every 50,000, never in the pauses between days: a server under steady
    # load, and the worst case for reports, which then read up to 50,000 overrides.
    pipeline = Pipeline(store, meta, fold_after_idle_seconds=1e6)
    pipeline.start()
    started = time.perf_counter()
    sent = 0
    for day, rows in enumerate(generate(args.users, args.events, args.seed)):
        futures = [
            pipeline.submit_nowait(
                Submission(project, events=rows[i : i + SUBMIT_EVENTS], via_import=True)
            )
            for i in range(0, len(rows), SUBMIT_EVENTS)
        ]
        for future in futures:
            future.result()
        sent += len(rows)
        log(f"day {day + 1}/{DAYS}: {sent:,} events sent")
    pipeline.stop()
    seconds = time.perf_counter() - started
    overrides = store.fetch("count", "SELECT count(*) FROM person_overrides")[0][0]
    store.close()
    return {"events": sent, "load_s": seconds, "pending_overrides": overrides}


# -- Measuring ------------------------------------------------------------------------------


def timed(run: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """The median wall time of `repeats` runs, after one warm-up run, and the last answer."""
    answer = run()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        answer = run()
        times.append(time.perf_counter() - started)
    return statistics.median(times), answer


def reports(persons: Persons) -> dict[str, Callable[[DuckDBEventStore], Any]]:
    end_ms = START_MS + DAYS * DAY_MS
    everything = EventQuery(1, START_MS, end_ms, persons=persons)
    steps = tuple(Step(name) for name in FUNNEL_STEPS)
    return {
        "funnel, 3 steps, 7-day window, daily": lambda store: funnel(
            store, Funnel(everything, steps, WINDOW_MS)
        ),
        "funnel, 3 steps, 7-day window, whole range": lambda store: funnel(
            store, Funnel(everything, steps, WINDOW_MS, interval_days=DAYS)
        ),
        "retention, weekly, birth": lambda store: retention(
            store,
            Retention(everything, born_event="App Open", unit=Unit.WEEK, interval_count=4),
        ),
        "segmentation, daily uniques of one event": lambda store: segmentation(
            store,
            Segmentation(
                EventQuery(1, START_MS, end_ms, names=("Viewed",), persons=persons),
                measure=Measure.UNIQUE,
            ),
        ),
    }


def resolved_copy(data_dir: Path, copy_dir: Path) -> None:
    """A copy of the data with every person override folded in: ids already resolved."""
    shutil.copytree(data_dir, copy_dir)
    store = DuckDBEventStore(copy_dir / "events.duckdb")
    store.compact_person_overrides()
    store.close()


def chdb_funnel(store: DuckDBEventStore, workdir: Path) -> dict[str, Any] | None:
    """ClickHouse's windowFunnel on the resolved events, as a reference: time and step counts."""
    try:
        chdb: Any = importlib.import_module("chdb")
    except ImportError:
        log("chdb is not installed (pip install chdb): skipping the ClickHouse reference")
        return None
    parquet = workdir / "funnel-events.parquet"
    names = ", ".join(f"'{name}'" for name in FUNNEL_STEPS)
    store.fetch(
        "export the funnel's events",
        f"COPY (SELECT person_key AS person, event, time_ms FROM events"
        f" WHERE event IN ({names}) AND id_key <> 0) TO '{parquet}' (FORMAT parquet)",
    )
    conditions = ", ".join(f"event = '{name}'" for name in FUNNEL_STEPS)
    sql = f"""
        SELECT level, count() FROM (
            SELECT person, windowFunnel({WINDOW_MS // 1000})(toDateTime(intDiv(time_ms, 1000)), {conditions}) AS level
            FROM file('{parquet}', Parquet) GROUP BY person
        ) GROUP BY level ORDER BY level
    """
    seconds, answer = timed(lambda: str(chdb.query(sql, "CSV")), repeats=3)
    levels = {int(a): int(b) for a, b in (line.split(",") for line in answer.split())}
    reached = [sum(n for level, n in levels.items() if level >= k) for k in range(1, 4)]
    return {"seconds": seconds, "steps": reached}


def funnel_totals(answer: dict[str, Any]) -> list[int]:
    """Step counts of a funnel answer, summed over its dates."""
    totals = [0] * len(FUNNEL_STEPS)
    for day in answer["data"].values():
        for n, step in enumerate(day["steps"]):
            totals[n] += step["count"]
    return totals


def measure(data_dir: Path, copy_dir: Path, workdir: Path, repeats: int) -> dict[str, Any]:
    store = DuckDBEventStore(data_dir / "events.duckdb")
    baseline = DuckDBEventStore(copy_dir / "events.duckdb")
    rows: dict[str, Any] = {}
    answers = {}
    for (name, report), (_, resolved_report) in zip(
        reports(Persons.CURRENT).items(), reports(Persons.STORED).items(), strict=True
    ):
        log(f"measuring {name}")
        kindred_s, answer = timed(partial(report, store), repeats)
        baseline_s, baseline_answer = timed(partial(resolved_report, baseline), repeats)
        if answer != baseline_answer:
            raise SystemExit(f"{name}: kindred and the resolved baseline disagree")
        rows[name] = {"kindred_s": kindred_s, "baseline_s": baseline_s}
        answers[name] = answer
    rows["chdb"] = chdb_funnel(baseline, workdir)
    rows["funnel_totals"] = funnel_totals(answers["funnel, 3 steps, 7-day window, whole range"])
    store.close()
    baseline.close()
    return rows


# -- Report -----------------------------------------------------------------------------------


TARGETS = {
    "funnel, 3 steps, 7-day window, daily": FUNNEL_TARGET_S,
    "funnel, 3 steps, 7-day window, whole range": FUNNEL_TARGET_S,
    "retention, weekly, birth": RETENTION_TARGET_S,
    "segmentation, daily uniques of one event": SEGMENTATION_TARGET_S,
}


def print_table(load: dict[str, Any], figures: dict[str, Any]) -> None:
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    print(f"Machine: {platform.processor() or platform.machine()} · Python {platform.python_version()}"
          f" · kindred {commit} · {dt.date.today()}")  # fmt: skip
    print(
        f"Loaded {load['events']:,} events in {load['load_s']:.0f} s; "
        f"{load['pending_overrides']:,} person overrides pending"
    )
    print()
    print("| Report | kindred (s) | ids resolved (s) | ratio | target | result |")
    print("|---|---|---|---|---|---|")
    for name, target in TARGETS.items():
        row = figures[name]
        ratio = row["kindred_s"] / row["baseline_s"]
        passed = row["kindred_s"] <= target and ratio <= RESOLUTION_RATIO_TARGET
        print(
            f"| {name} | {row['kindred_s']:.2f} | {row['baseline_s']:.2f} | {ratio:.2f}× |"
            f" ≤ {target} s, ≤ {RESOLUTION_RATIO_TARGET}× | {'PASS' if passed else 'FAIL'} |"
        )
    chdb = figures["chdb"]
    if chdb is not None:
        whole = figures["funnel, 3 steps, 7-day window, whole range"]["kindred_s"]
        print()
        print(
            f"ClickHouse windowFunnel (chdb) on the resolved events: {chdb['seconds']:.2f} s; "
            f"kindred's whole-range funnel takes {whole / chdb['seconds']:.2f}× as long. "
            f"Steps reached: chdb {chdb['steps']}, kindred {figures['funnel_totals']}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="data dir to keep, and to reuse when it exists")
    parser.add_argument("--json", type=Path, help="also write every figure here")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="kindred-bench-") as tmp:
        workdir = Path(tmp)
        data_dir = args.keep or workdir / "data"
        info_path = data_dir / "bench-load.json"
        if info_path.exists():
            log(f"reusing the data in {data_dir}")
            loaded = json.loads(info_path.read_text())
        else:
            data_dir.mkdir(parents=True, exist_ok=True)
            loaded = load(data_dir, args)
            info_path.write_text(json.dumps(loaded))
        copy_dir = workdir / "resolved"
        resolved_copy(data_dir, copy_dir)
        figures = measure(data_dir, copy_dir, workdir, args.repeats)
    print_table(loaded, figures)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"load": loaded, "figures": figures}, indent=2))


if __name__ == "__main__":
    main()
