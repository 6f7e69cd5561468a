"""Identity engine benchmark: throughput, lookups, late-input recompute, memory and start-up.

Run by hand, not by pytest:

    python bench/identity.py                       # 1M users, about 3M identity inputs
    python bench/identity.py --users 20000         # quick smoke run
    python bench/identity.py --seed 7 --json bench/out/identity.json

Every figure comes from one run over one generated workload (Original mode), and each engine
figure sits beside a bare-Python baseline on the same inputs. bench/README.md explains the figures.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import itertools
import json
import math
import os
import platform
import random
import statistics
import sys
import time
import uuid
from array import array
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kindred.identity import IdentityEngine, IdentityMode, new_engine, restore_engine
from kindred.identity.model import IdentityInput

BASE_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
SPAN_MS = 30 * DAY_MS

IDENTIFIED_SHARE = 0.30
DEVICE_COUNTS = (1, 2, 3, 4)
DEVICE_CUM_WEIGHTS = (50, 80, 92, 100)  # 50% one device, 30% two, 12% three, 8% four
LOGINS_PER_DEVICE = (1, 10)  # inclusive; each login sends $identify(user, device)
ALIAS_SHARE = 0.05
MERGE_SHARE = 0.005
OUT_OF_ORDER_SHARE = 0.01
OUT_OF_ORDER_LAG_MS = (HOUR_MS, 3 * DAY_MS)

# Targets. None: reported for information only.
APPLY_RATIO_TARGET = 0.60
RESOLVE_TARGET_PER_S = 1_000_000.0
LATE_TARGET_MS = 1.0
BYTES_PER_ID_TARGET = 500.0

_ALIAS = 1
_MERGE = 2


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def new_uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


_BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"


def browser_insert_id(rng: random.Random) -> str:
    """An `$insert_id` as the browser SDK makes them: 16 base-36 characters (CLIENTS.md §4.3)."""
    return "".join(rng.choices(_BASE36, k=16))


def server_insert_id(rng: random.Random) -> str:
    """An `$insert_id` as the Python SDK makes them: `uuid4().hex`, 32 hex digits (CLIENTS.md §2.2)."""
    return f"{rng.getrandbits(128):032x}"


# --- workload -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Workload:
    inputs: list[IdentityInput]
    known_ids: list[str]  # every distinct id the inputs name, users then devices then aliases
    users: int
    identified_users: int
    devices: int
    aliases: int
    merges: int
    out_of_order: int
    seconds: float


def generate(users: int, seed: int) -> Workload:
    """Original-mode identity inputs, in arrival order, for `users` users of whom 30% log in.

    Each identified user gets 1-4 UUID devices and 1-10 logins per device, each login an
    `$identify(user, device)`; 5% also alias an e-mail address and 0.5% merge with another user
    or one of that user's devices. The users' events are shuffled together into one arrival
    order; time_ms grows with arrival over 30 days, except for 1% of inputs that arrive 1 hour
    to 3 days late. Plans live in compact arrays so that the generator leaves little freed
    memory behind for the engine to reuse (which would hide part of its footprint).
    """
    started = time.perf_counter()
    rng = random.Random(seed)
    identified = max(2, round(users * IDENTIFIED_SHARE))
    user_ids = [f"u{i * users // identified:07d}" for i in range(identified)]

    device_ids: list[str] = []
    device_start = array("i", [0])  # user u owns device_ids[device_start[u]:device_start[u + 1]]
    identifies = array("i")  # number of $identify inputs of user u
    extras = array("b")  # _ALIAS | _MERGE
    owner = array("i")  # one entry per input: the user it belongs to
    for u in range(identified):
        devices = rng.choices(DEVICE_COUNTS, cum_weights=DEVICE_CUM_WEIGHTS)[0]
        logins = 0
        for _ in range(devices):
            device_ids.append(new_uuid(rng))
            logins += rng.randint(*LOGINS_PER_DEVICE)
        device_start.append(len(device_ids))
        identifies.append(logins)
        flags = (_ALIAS if rng.random() < ALIAS_SHARE else 0) | (
            _MERGE if rng.random() < MERGE_SHARE else 0
        )
        extras.append(flags)
        owner.extend(itertools.repeat(u, logins + bin(flags).count("1")))
    rng.shuffle(owner)

    total = len(owner)
    emitted = array("i", [0]) * identified
    aliases: list[str] = []
    inputs: list[IdentityInput] = []
    merges = late = 0
    for seq in range(total):
        u = owner[seq]
        j = emitted[u]
        emitted[u] = j + 1
        time_ms = BASE_MS + seq * SPAN_MS // total
        if rng.random() < OUT_OF_ORDER_SHARE:
            time_ms -= rng.randint(*OUT_OF_ORDER_LAG_MS)
            late += 1
        user = user_ids[u]
        # $identify comes from the browser SDK; aliases and merges from a server SDK.
        insert_id = browser_insert_id(rng) if j < identifies[u] else server_insert_id(rng)
        if j < identifies[u]:
            first = device_start[u]
            device = device_ids[first + j % (device_start[u + 1] - first)]
            inp = IdentityInput.identify(
                user, device, time_ms=time_ms, seq=seq, insert_id=insert_id
            )
        elif j == identifies[u] and extras[u] & _ALIAS:
            alias = f"user-email-{u}@example.com"
            aliases.append(alias)
            inp = IdentityInput.create_alias(
                user, alias, time_ms=time_ms, seq=seq, insert_id=insert_id
            )
        else:
            other = rng.randrange(identified - 1)
            if other >= u:
                other += 1
            if rng.random() < 0.5:
                target = user_ids[other]
            else:
                target = device_ids[rng.randrange(device_start[other], device_start[other + 1])]
            inp = IdentityInput.merge(user, target, time_ms=time_ms, seq=seq, insert_id=insert_id)
            merges += 1
        inputs.append(inp)

    known_ids = user_ids + device_ids + aliases
    return Workload(
        inputs=inputs,
        known_ids=known_ids,
        users=users,
        identified_users=identified,
        devices=len(device_ids),
        aliases=len(aliases),
        merges=merges,
        out_of_order=late,
        seconds=time.perf_counter() - started,
    )


# --- baselines ------------------------------------------------------------------------------------


class DictUnionFind:
    """The floor to compare with: a dict of parents, path halving, union by size."""

    __slots__ = ("parent", "size")

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}
        self.size: dict[str, int] = {}

    def find(self, x: str) -> str:
        parent = self.parent
        p = parent.get(x)
        if p is None:
            parent[x] = x
            self.size[x] = 1
            return x
        while p != x:
            grandparent = parent[p]
            parent[x] = grandparent
            x = grandparent
            p = parent[x]
        return x

    def union(self, a: str, b: str) -> None:
        ra = self.find(a)
        rb = self.find(b)
        if ra == rb:
            return
        size = self.size
        if size[ra] < size[rb]:
            ra, rb = rb, ra
        self.parent[rb] = ra
        size[ra] += size[rb]


def time_unions(inputs: Sequence[IdentityInput]) -> tuple[float, DictUnionFind]:
    uf = DictUnionFind()
    union = uf.union
    started = time.perf_counter()
    for inp in inputs:
        a, b = inp.ids
        union(a, b)
    return time.perf_counter() - started, uf


def time_lookups(lookup: Callable[[str], object], keys: Sequence[str], repeats: int) -> float:
    """Best of `repeats` passes over `keys`, in seconds."""
    best = math.inf
    for _ in range(repeats):
        started = time.perf_counter()
        for key in keys:
            lookup(key)
        best = min(best, time.perf_counter() - started)
    return best


# --- measurements ---------------------------------------------------------------------------------


def _psutil_rss() -> Callable[[], int] | None:
    try:
        psutil: Any = importlib.import_module("psutil")
    except ImportError:
        return None
    process = psutil.Process()
    return lambda: int(process.memory_info().rss)


def _statm_rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


_RSS = _psutil_rss()


def rss() -> int:
    """Resident set size in bytes, after a full collection."""
    gc.collect()
    return _RSS() if _RSS is not None else _statm_rss()


def apply_all(
    engine: IdentityEngine, inputs: Sequence[IdentityInput]
) -> tuple[float, Counter[str]]:
    refused: Counter[str] = Counter()
    apply = engine.apply
    started = time.perf_counter()
    for inp in inputs:
        code = apply(inp).code
        if code is not None:
            refused[code] += 1
    return time.perf_counter() - started, refused


def time_late_recomputes(
    clusters: int, cluster_size: int, seed: int
) -> tuple[list[float], int, int]:
    """Milliseconds to apply one identify that lands before every input of a 50-id cluster.

    Builds `clusters` clusters first (one user identified from `cluster_size - 1` devices, time
    increasing), then times only the late inputs, each into its own untouched cluster. Returns the
    samples, the number of late inputs refused, and the number of clusters that did not end up
    with `cluster_size + 1` ids.
    """
    rng = random.Random(seed)
    engine = new_engine(IdentityMode.ORIGINAL)
    seq = 0
    time_ms = BASE_MS + DAY_MS
    users = [f"late-user-{c:05d}" for c in range(clusters)]
    for user in users:
        for _ in range(cluster_size - 1):
            engine.apply(
                IdentityInput.identify(
                    user, new_uuid(rng), time_ms=time_ms, seq=seq, insert_id=new_uuid(rng)
                )
            )
            seq += 1
            time_ms += 1_000
    late = [
        IdentityInput.identify(
            user, new_uuid(rng), time_ms=BASE_MS + c, seq=seq + c, insert_id=new_uuid(rng)
        )
        for c, user in enumerate(users)
    ]
    gc.collect()
    samples: list[float] = []
    refused = 0
    apply = engine.apply
    clock = time.perf_counter
    for inp in late:
        started = clock()
        outcome = apply(inp)
        samples.append((clock() - started) * 1000.0)
        if not outcome.is_applied:
            refused += 1
    wrong = sum(len(engine.members(user)) != cluster_size + 1 for user in users)
    return samples, refused, wrong


def percentile(samples: Sequence[float], q: float) -> float:
    """Nearest-rank percentile, q in (0, 100]."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(q / 100.0 * len(ordered)) - 1)]


# --- report ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Row:
    metric: str
    kindred: float
    baseline: float | None = None
    unit: str = ""
    target: str = ""
    passed: bool | None = None

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or self.baseline == 0:
            return None
        return self.kindred / self.baseline


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if isinstance(value, int):
        return f"{value:,}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def print_table(rows: Sequence[Row]) -> None:
    header = ("metric", "kindred", "baseline", "ratio", "target", "result")
    lines = [
        (
            f"{row.metric} ({row.unit})" if row.unit else row.metric,
            _fmt(row.kindred),
            _fmt(row.baseline),
            "-" if row.ratio is None else f"{row.ratio:.2f}x",
            row.target or "-",
            "-" if row.passed is None else ("PASS" if row.passed else "FAIL"),
        )
        for row in rows
    ]
    widths = [max(len(cell) for cell in column) for column in zip(header, *lines, strict=True)]

    def render(cells: Sequence[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = [cell.rjust(width) for cell, width in zip(cells[1:], widths[1:], strict=True)]
        return "  ".join([first, *rest])

    print(render(header))
    print("  ".join("-" * width for width in widths))
    for line in lines:
        print(render(line))


def print_counter(title: str, counts: Counter[str]) -> None:
    total = sum(counts.values())
    print(f"{title}: {total:,}")
    for code, count in counts.most_common():
        print(f"  {code:<34} {count:>10,}")


# --- main -----------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--users", type=int, default=1_000_000, help="users (default 1M)")
    parser.add_argument("--seed", type=int, default=1, help="generator seed (default 1)")
    parser.add_argument("--lookups", type=int, default=2_000_000, help="resolve lookups")
    parser.add_argument("--clusters", type=int, default=200, help="late-recompute repetitions")
    parser.add_argument("--cluster-size", type=int, default=50, help="ids per late cluster")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write figures as JSON")
    args = parser.parse_args(argv)
    if args.users < 10:
        parser.error("--users must be at least 10")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)

    # 1. Workload. Everything the script keeps is allocated before `rss_before`.
    log(f"generating inputs for {args.users:,} users (seed {args.seed})")
    work = generate(args.users, args.seed)
    inputs = work.inputs
    log(
        f"{len(inputs):,} inputs, {len(work.known_ids):,} known ids "
        f"({work.identified_users:,} users, {work.devices:,} devices, {work.aliases:,} aliases, "
        f"{work.merges:,} merges, {work.out_of_order:,} out of order) in {work.seconds:.1f}s"
    )

    # 3 and 6. In-order apply, timed, between two RSS readings.
    rss_before = rss()
    engine = new_engine(IdentityMode.ORIGINAL)
    log("applying inputs to the engine")
    apply_s, refused_at_apply = apply_all(engine, inputs)
    rss_after = rss()
    known = len(engine)
    engine_bytes = rss_after - rss_before
    log(f"applied in {apply_s:.1f}s; engine holds {known:,} ids, RSS +{engine_bytes / 1e6:,.0f} MB")
    refused_final = Counter(
        outcome.code for outcome in engine.refused() if outcome.code is not None
    )

    # 7. Start-up path: snapshot and restore; the restored engine owns all its strings.
    log("snapshot and restore")
    started = time.perf_counter()
    snapshot = engine.snapshot()
    snapshot_s = time.perf_counter() - started
    rss_snapshot = rss()
    started = time.perf_counter()
    restored = restore_engine(snapshot)
    restore_s = time.perf_counter() - started
    restored_bytes = rss() - rss_snapshot
    sample = work.known_ids[:: max(1, len(work.known_ids) // 10_000)]
    restore_ok = len(restored) == known and all(
        restored.resolve(i) == engine.resolve(i) for i in sample
    )
    snapshot_bytes = len(snapshot)
    del restored, snapshot

    # 2. Baseline union-find over the same inputs.
    log("baseline union-find")
    union_s, uf = time_unions(inputs)
    table = {i: uf.find(i) for i in work.known_ids}
    del uf

    # 4. Resolve: the same random key sequence through both.
    log(f"{args.lookups:,} lookups")
    keys = random.Random(args.seed + 1).choices(work.known_ids, k=args.lookups)
    resolve_s = time_lookups(engine.resolve, keys, repeats=3)
    get_s = time_lookups(table.get, keys, repeats=3)
    del table, keys

    # 5. Late input into a fresh 50-id cluster.
    log(f"late-input recompute, {args.clusters} clusters of {args.cluster_size} ids")
    late_ms, late_refused, late_wrong = time_late_recomputes(
        args.clusters, args.cluster_size, args.seed + 2
    )

    apply_rate = len(inputs) / apply_s
    union_rate = len(inputs) / union_s
    resolve_rate = args.lookups / resolve_s
    get_rate = args.lookups / get_s
    late_median = statistics.median(late_ms)
    late_p99 = percentile(late_ms, 99)
    bytes_per_id = engine_bytes / known if known else math.inf
    rows = [
        Row("inputs", len(inputs)),
        Row("known ids (engine / generator)", known, len(work.known_ids)),
        Row("refused inputs at apply", sum(refused_at_apply.values())),
        Row(
            "apply in order",
            apply_rate,
            union_rate,
            "inputs/s",
            f">= {APPLY_RATIO_TARGET:.2f}x",
            apply_rate / union_rate >= APPLY_RATIO_TARGET,
        ),
        Row(
            "resolve",
            resolve_rate,
            get_rate,
            "lookups/s",
            f">= {RESOLVE_TARGET_PER_S / 1e6:g}M/s",
            resolve_rate >= RESOLVE_TARGET_PER_S,
        ),
        Row(
            f"late input, {args.cluster_size}-id cluster, median",
            late_median,
            unit="ms",
            target=f"<= {LATE_TARGET_MS:g} ms",
            passed=late_median <= LATE_TARGET_MS,
        ),
        Row(
            f"late input, {args.cluster_size}-id cluster, p99",
            late_p99,
            unit="ms",
            target=f"<= {LATE_TARGET_MS:g} ms",
            passed=late_p99 <= LATE_TARGET_MS,
        ),
        Row(
            "memory per known id",
            bytes_per_id,
            unit="B",
            target=f"<= {BYTES_PER_ID_TARGET:g} B",
            passed=bytes_per_id <= BYTES_PER_ID_TARGET,
        ),
        Row("engine RSS growth", engine_bytes / 1e6, unit="MB"),
        Row("restored engine per known id (owns its strings)", restored_bytes / known, unit="B"),
        Row("snapshot size", snapshot_bytes / 1e6, unit="MB"),
        Row("snapshot()", snapshot_s, unit="s"),
        Row("restore_engine()", restore_s, unit="s"),
    ]

    print()
    print(
        f"kindred identity benchmark: {args.users:,} users, seed {args.seed}, "
        f"Python {platform.python_version()} on {platform.machine()}"
    )
    print()
    print_table(rows)
    print()
    print_counter("refused at apply, by code", refused_at_apply)
    print_counter("refused at the end (engine.refused()), by code", refused_final)
    if known != len(work.known_ids):
        print(f"WARNING: engine knows {known:,} ids, the generator made {len(work.known_ids):,}")
    if not restore_ok:
        print("WARNING: the restored engine does not match the original")
    if late_refused or late_wrong:
        print(f"WARNING: late inputs: {late_refused} refused, {late_wrong} clusters of wrong size")
    failed = [row.metric for row in rows if row.passed is False]
    print(f"targets: {sum(row.passed is True for row in rows)} met, {len(failed)} missed")

    if args.json is not None:
        figures: dict[str, object] = {
            "params": {
                "users": args.users,
                "seed": args.seed,
                "lookups": args.lookups,
                "clusters": args.clusters,
                "cluster_size": args.cluster_size,
                "python": platform.python_version(),
                "machine": platform.machine(),
            },
            "workload": {
                "inputs": len(inputs),
                "known_ids": len(work.known_ids),
                "identified_users": work.identified_users,
                "devices": work.devices,
                "aliases": work.aliases,
                "merges": work.merges,
                "out_of_order": work.out_of_order,
                "generate_s": work.seconds,
            },
            "apply": {
                "seconds": apply_s,
                "inputs_per_s": apply_rate,
                "baseline_unions_per_s": union_rate,
                "ratio": apply_rate / union_rate,
                "target_ratio": APPLY_RATIO_TARGET,
            },
            "resolve": {
                "lookups_per_s": resolve_rate,
                "baseline_dict_get_per_s": get_rate,
                "ratio": resolve_rate / get_rate,
                "target_per_s": RESOLVE_TARGET_PER_S,
            },
            "late_recompute_ms": {
                "median": late_median,
                "p99": late_p99,
                "max": max(late_ms),
                "target": LATE_TARGET_MS,
                "refused": late_refused,
                "wrong_cluster_size": late_wrong,
            },
            "memory": {
                "known_ids": known,
                "rss_before": rss_before,
                "rss_after": rss_after,
                "engine_bytes": engine_bytes,
                "bytes_per_known_id": bytes_per_id,
                "target_bytes_per_known_id": BYTES_PER_ID_TARGET,
                "restored_engine_bytes": restored_bytes,
            },
            "snapshot": {
                "bytes": snapshot_bytes,
                "snapshot_s": snapshot_s,
                "restore_s": restore_s,
                "round_trip_ok": restore_ok,
            },
            "refused_at_apply": dict(refused_at_apply.most_common()),
            "refused_final": dict(refused_final.most_common()),
            "passed": {row.metric: row.passed for row in rows if row.passed is not None},
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
        log(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
