"""Identity snapshot benchmark: the memory and time of saving and loading one through the store.

Run by hand, not by pytest:

    python bench/snapshots.py                      # 1M identified users: 2M ids, 1M inputs
    python bench/snapshots.py --identities 100000  # a quick run

Each step runs in a process of its own, so that its peak resident memory (VmHWM) is its own:

1. build an engine of N `$identify` inputs (the baseline: what the engine alone costs), then save
   its snapshot through `DuckDBEventStore`, as the pipeline does every so many entries and on stop;
2. in a new process, as a server starting on that data dir, load and restore it, then save again.

The figures are peaks against the engine's own resident memory in the same process.
bench/README.md explains them.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

T0_MS = 1_700_000_000_000


def memory_mb() -> dict[str, float]:
    """VmRSS and VmHWM of this process, in MB."""
    found = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            found[name] = int(value.split()[0]) / 1024
    return found


def reset_peak() -> None:
    """Start VmHWM again from the current RSS (Linux: write 5 to clear_refs)."""
    Path("/proc/self/clear_refs").write_text("5")


def timed_save(store: Any, engine: Any) -> tuple[float, dict[str, float]]:
    """Save the engine's snapshot as the pipeline does: seconds taken, and memory after."""
    reset_peak()
    started = time.perf_counter()
    store.save_identity_snapshot(1, engine.snapshot_chunks(), last_seq=engine.last_seq)
    return time.perf_counter() - started, memory_mb()


def step_build(data_dir: Path, identities: int) -> dict[str, Any]:
    from kindred.identity import IdentityInput, IdentityMode, new_engine
    from kindred.storage.duckdb_store import DuckDBEventStore

    rng = random.Random(1)
    engine = new_engine(IdentityMode.ORIGINAL)
    started = time.perf_counter()
    for n in range(identities):
        anon = str(uuid.UUID(int=rng.getrandbits(128)))
        user = f"user-{n:08d}@example.com"
        engine.apply(
            IdentityInput.identify(user, anon, time_ms=T0_MS + n, seq=n, insert_id=f"{n:x}")
        )
    build_s = time.perf_counter() - started
    engine_mb = memory_mb()["VmRSS"]

    store = DuckDBEventStore(data_dir / "kindred.duckdb")
    save_s, after = timed_save(store, engine)
    store.close()
    snapshot_mb = sum(f.stat().st_size for f in data_dir.rglob("*.snapshot")) / 1e6
    return {
        "ids": len(engine),
        "build_s": build_s,
        "engine_rss_mb": engine_mb,
        "save_s": save_s,
        "save_peak_mb": after["VmHWM"],
        "rss_after_save_mb": after["VmRSS"],
        "snapshot_mb": snapshot_mb,
    }


def step_load(data_dir: Path) -> dict[str, Any]:
    from kindred.identity import restore_engine
    from kindred.storage.duckdb_store import DuckDBEventStore

    store = DuckDBEventStore(data_dir / "kindred.duckdb")
    opened = memory_mb()["VmRSS"]
    started = time.perf_counter()
    chunks = store.load_identity_snapshot(1)
    assert chunks is not None, "no snapshot saved"
    engine = restore_engine(chunks)
    load_s = time.perf_counter() - started
    loaded = memory_mb()

    save_s, saved = timed_save(store, engine)
    store.close()
    return {
        "ids": len(engine),
        "opened_rss_mb": opened,
        "load_s": load_s,
        "load_peak_mb": loaded["VmHWM"],
        "rss_after_load_mb": loaded["VmRSS"],
        "save_s": save_s,
        "save_peak_mb": saved["VmHWM"],
    }


def run_step(*arguments: str) -> dict[str, Any]:
    completed = subprocess.run(
        [sys.executable, __file__, *arguments], capture_output=True, text=True, check=True
    )
    result: dict[str, Any] = json.loads(completed.stdout.splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("step", nargs="?", choices=("build", "load"), help=argparse.SUPPRESS)
    parser.add_argument("--identities", type=int, default=1_000_000)
    parser.add_argument("--dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step == "build":
        print(json.dumps(step_build(args.dir, args.identities)))
        return
    if args.step == "load":
        print(json.dumps(step_load(args.dir)))
        return

    with tempfile.TemporaryDirectory(prefix="kindred-snapshots-") as directory:
        print(f"building an engine of {args.identities:,} identities and saving its snapshot")
        built = run_step("build", "--dir", directory, "--identities", str(args.identities))
        print("loading it in a new process, then saving it again")
        loaded = run_step("load", "--dir", directory)

    engine_mb = built["engine_rss_mb"]
    print(
        f"\n{built['ids']:,} ids; snapshot {built['snapshot_mb']:,.0f} MB; engine alone "
        f"{engine_mb:,.0f} MB resident (the baseline)\n"
    )
    rows = [
        ("save after building: peak", built["save_peak_mb"], built["save_s"]),
        ("save after building: resident after", built["rss_after_save_mb"], None),
        ("load and restore: peak", loaded["load_peak_mb"], loaded["load_s"]),
        ("load and restore: resident after", loaded["rss_after_load_mb"], None),
        ("save after loading: peak", loaded["save_peak_mb"], loaded["save_s"]),
    ]
    print(f"{'step':<38} {'MB':>7} {'x engine':>9} {'seconds':>8}")
    for name, mb, seconds in rows:
        took = "-" if seconds is None else f"{seconds:.2f}"
        print(f"{name:<38} {mb:>7,.0f} {mb / engine_mb:>9.2f} {took:>8}")


if __name__ == "__main__":
    main()
