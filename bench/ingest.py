"""Ingestion benchmark: /import and /track over HTTP, `kindred import`, and server memory.

Run by hand, not by pytest:

    python bench/ingest.py                         # every part; the 10M-event RSS part takes long
    python bench/ingest.py --quick                 # smaller sizes, a few minutes
    python bench/ingest.py --only track --only import --json bench/out/ingest.json
    python bench/ingest.py --only track --only import --repeat 3   # median of three runs each
    python bench/ingest.py --only rss --rss-events 2000000

Each kindred figure sits beside a baseline measured in the same run on the same machine: a script
that only decodes the /import bodies and appends them to DuckDB; a bare Starlette app on uvicorn
answering /track with `1`; DuckDB's own NDJSON reader; a kindred server on an empty data dir.
Servers listen on 127.0.0.1 only; data dirs live under one temporary directory, removed at the
end. bench/README.md explains the figures.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import itertools
import json
import os
import platform
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import duckdb
import orjson

# Targets.
IMPORT_TARGET_PER_S = 60_000.0
IMPORT_FLOOR_RATIO_TARGET = 0.50
TRACK_TARGET_PER_S = 6_000.0
TRACK_P99_TARGET_MS = 60.0
TRACK_BASELINE_RATIO_TARGET = 0.50
CLI_IMPORT_TARGET_PER_S = 200_000.0
RSS_TARGET_MB = 600.0

BATCH_EVENTS = 2000
# kindred's DuckDB store folds its write-ahead log at this size; the floor does the same.
CHECKPOINT_THRESHOLD = "128MB"
SERVER_START_TIMEOUT_S = 120.0
SERVER_STOP_TIMEOUT_S = 600.0
DAY_S = 86_400
PARTS = ("import", "track", "cli", "rss")

EVENT_NAMES = (
    "Page Viewed",
    "Page Viewed",
    "Page Viewed",
    "Button Clicked",
    "Product Viewed",
    "Added to Cart",
    "Checkout Started",
    "Signed Up",
    "Purchase Completed",
)
PATHS = ("/", "/pricing", "/docs/getting-started", "/blog/launch-week", "/cart", "/checkout")
BROWSERS = (("Chrome", 124), ("Safari", 17.4), ("Firefox", 125), ("Microsoft Edge", 124))
OSES = ("Mac OS X", "Windows", "Linux", "iOS", "Android")
PLANS = ("free", "starter", "pro", "enterprise")
UTM_SOURCES = ("google", "newsletter", "twitter", "direct")


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- The workload ------------------------------------------------------------------------------


def device_id(n: int) -> str:
    """A browser SDK device id (a UUID-like string), the same for the same n."""
    mixed = (n * 0x9E3779B97F4A7C15) & (2**64 - 1)
    return f"{n:08x}-{mixed >> 48:04x}-4{(mixed >> 36) & 0xFFF:03x}-a{(mixed >> 24) & 0xFFF:03x}-{mixed & 0xFFFFFFFFFFFF:012x}"


def user_id(n: int) -> str:
    return f"user-{n:07d}"


class Workload:
    """Browser-SDK-shaped events in Original mode, as JSON lines.

    Every `identify_every`-th event is an `$identify` linking the next device to a user (two
    devices per user, so every link is new). Other events come from a device picked at random
    among `devices`; a device already identified sends under its user's id, as the SDK does after
    `identify()`. Times grow evenly from `start_s` by `step_s` per event.
    """

    def __init__(
        self,
        token: str,
        *,
        identify_every: int,
        devices: int,
        start_s: float,
        step_s: float,
        seed: int = 1,
    ) -> None:
        self.token = token
        self.identify_every = identify_every
        self.devices = devices
        self.start_s = start_s
        self.step_s = step_s
        self.rng = random.Random(seed)
        self.count = 0
        self.identifies = 0

    def lines(self, count: int) -> Iterator[bytes]:
        for _ in range(count):
            yield self.next_line()

    def next_line(self) -> bytes:
        k = self.count
        self.count += 1
        rng = self.rng
        seconds = self.start_s + k * self.step_s
        browser, version = BROWSERS[k % len(BROWSERS)]
        common = (
            f'"token":"{self.token}","time":{seconds:.3f},"$insert_id":"{rng.getrandbits(64):016x}",'
            f'"$os":"{OSES[k % len(OSES)]}","$browser":"{browser}","$browser_version":{version},'
            f'"$screen_height":1080,"$screen_width":1920,"mp_lib":"web","$lib_version":"2.55.1",'
            f'"$initial_referrer":"https://www.google.com/",'
            f'"$initial_referring_domain":"www.google.com"'
        )
        if k % self.identify_every == self.identify_every - 1:
            j = self.identifies
            self.identifies += 1
            device, user = device_id(j), user_id(j // 2)
            return (
                f'{{"event":"$identify","properties":{{{common},"distinct_id":"{user}",'
                f'"$anon_distinct_id":"{device}","$device_id":"{device}","$user_id":"{user}"}}}}'
            ).encode()

        d = rng.randrange(self.devices)
        device = device_id(d)
        distinct = user_id(d // 2) if d < self.identifies else device
        path = PATHS[rng.randrange(len(PATHS))]
        return (
            f'{{"event":"{EVENT_NAMES[rng.randrange(len(EVENT_NAMES))]}","properties":{{{common},'
            f'"distinct_id":"{distinct}","$device_id":"{device}",'
            f'"$current_url":"https://shop.example.com{path}?utm_source={UTM_SOURCES[k % 4]}",'
            f'"plan":"{PLANS[d % 4]}","cart_items":{k % 5},"utm_source":"{UTM_SOURCES[k % 4]}"}}}}'
        ).encode()


def import_workload(token: str, events: int, *, identify_every: int, seed: int) -> Workload:
    """Events spread over the 30 days before now, as an /import backfill would send them."""
    span_s = 30 * DAY_S
    return Workload(
        token,
        identify_every=identify_every,
        devices=max(1000, 4 * (events // identify_every)),
        start_s=time.time() - span_s - 60,
        step_s=span_s / max(events, 1),
        seed=seed,
    )


def batch_bodies(workload: Workload, events: int) -> list[bytes]:
    bodies = []
    for start in range(0, events, BATCH_EVENTS):
        lines = workload.lines(min(BATCH_EVENTS, events - start))
        bodies.append(b"[" + b",".join(lines) + b"]")
    return bodies


def write_ndjson(path: Path, workload: Workload, events: int) -> int:
    with path.open("wb") as file:
        for start in range(0, events, 10_000):
            file.write(b"\n".join(workload.lines(min(10_000, events - start))) + b"\n")
    return path.stat().st_size


# -- Processes -----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def rss_mb(pid: int) -> tuple[float, float]:
    """VmRSS and VmHWM (peak) of a process, in MB."""
    status = Path(f"/proc/{pid}/status").read_text()
    values = {}
    for name in ("VmRSS", "VmHWM"):
        match = re.search(rf"^{name}:\s+(\d+) kB", status, re.MULTILINE)
        values[name] = int(match.group(1)) / 1024 if match else float("nan")
    return values["VmRSS"], values["VmHWM"]


def _machine_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of all cores since boot, from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def _process_ticks(pid: int) -> int:
    try:
        return _stat_ticks(Path(f"/proc/{pid}/stat"))
    except FileNotFoundError:
        return 0


def _thread_ticks(pid: int) -> dict[int, int]:
    """Clock ticks used so far by each thread of a process, by thread id."""
    ticks = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            ticks[int(task.name)] = _stat_ticks(task / "stat")
        except FileNotFoundError:
            continue  # the thread ended
    return ticks


def _stat_ticks(path: Path) -> int:
    fields = path.read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


class CpuMeter:
    """CPU use during a measurement: the machine's, ours (this process, its waited children and
    the servers it names) and everyone else's, each as a share of all cores; how many cores the
    named servers kept busy; and, for the first of them, how busy its threads were.

    Threads are told apart by what they did, not by name (all of kindred's are "python"): the
    process's first thread runs the event loop, and under load its busiest other thread is the
    pipeline's writer."""

    def __init__(self, *pids: int) -> None:
        self.pids = pids
        self.start = self._read()
        self.start_threads = _thread_ticks(pids[0]) if pids else {}
        self.started = time.perf_counter()

    def _read(self) -> tuple[float, float, float, float]:
        busy, total = _machine_ticks()
        tick = os.sysconf("SC_CLK_TCK")
        times = os.times()
        servers = sum(_process_ticks(pid) for pid in self.pids)
        ours = (times.user + times.system + times.children_user + times.children_system) * tick
        return busy, total, ours + servers, servers / tick

    def stop(self) -> dict[str, Any]:
        end = self._read()
        seconds = time.perf_counter() - self.started
        busy, total, ours, server_s = (e - s for e, s in zip(end, self.start, strict=True))
        total = max(total, 1)
        figures: dict[str, Any] = {
            "machine_busy_pct": round(100 * busy / total, 1),
            "ours_pct": round(100 * ours / total, 1),
            "others_pct": round(max(0.0, 100 * (busy - ours) / total), 1),
            "server_cpu_s": round(server_s, 2),
            "server_cores": round(server_s / seconds, 2),
        }
        if self.pids:
            figures["server_threads_pct"] = self._thread_shares(seconds)
        return figures

    def _thread_shares(self, seconds: float) -> dict[str, float]:
        """Each thread's share of one core: the first thread's, the busiest other's, the rest's."""
        pid, tick = self.pids[0], os.sysconf("SC_CLK_TCK")
        used = {
            tid: ticks - self.start_threads.get(tid, 0) for tid, ticks in _thread_ticks(pid).items()
        }
        first = used.pop(pid, 0)
        busiest = max(used.values(), default=0)
        rest = sum(used.values()) - busiest

        def pct(ticks: int) -> float:
            return round(100 * ticks / tick / seconds, 1)

        return {"first": pct(first), "busiest_other": pct(busiest), "rest": pct(rest)}


def wait_until_idle(max_seconds: float, threshold_pct: float = 10.0) -> float:
    """Wait (up to `max_seconds`) for a 3-second window in which the machine is nearly idle;
    return the busy share of the last window."""
    deadline = time.monotonic() + max_seconds
    while True:
        meter = CpuMeter()
        time.sleep(3.0)
        busy = float(meter.stop()["machine_busy_pct"])
        if busy <= threshold_pct or time.monotonic() >= deadline:
            return busy
        log(f"machine {busy:.0f}% busy; waiting for it to quiet down")


@dataclass
class Server:
    """A server process on 127.0.0.1, its output in files."""

    name: str
    process: subprocess.Popen[bytes]
    port: int
    stdout_path: Path
    stderr_path: Path
    files: list[IO[bytes]] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    def log_size(self) -> int:
        return self.stderr_path.stat().st_size

    def flushes_since(self, offset: int) -> dict[str, float] | None:
        """The median events and milliseconds of the pipeline's flushes logged after `offset`."""
        with self.stderr_path.open("rb") as file:
            file.seek(offset)
            text = file.read().decode(errors="replace")
        flushes = [(int(m[1]), float(m[2])) for m in FLUSH_LINE.finditer(text)]
        if not flushes:
            return None
        return {
            "count": len(flushes),
            "events_median": statistics.median(n for n, _ in flushes),
            "ms_median": statistics.median(ms for _, ms in flushes),
        }

    def stop(self) -> None:
        """SIGINT, as Ctrl-C would: uvicorn shuts down, kindred flushes and checkpoints."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(SERVER_STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                log(f"{self.name} did not stop within {SERVER_STOP_TIMEOUT_S:.0f} s; killing it")
                self.process.kill()
                self.process.wait()
        for file in self.files:
            file.close()


RUNNING: list[Server] = []
# kindred.pipeline's INFO line for each flush.
FLUSH_LINE = re.compile(r"flushed (\d+) events, .* in ([\d.]+) ms")


def start_server(name: str, args: Sequence[str], workdir: Path, port: int) -> Server:
    stdout_path, stderr_path = workdir / f"{name}.out", workdir / f"{name}.err"
    stdout, stderr = stdout_path.open("wb"), stderr_path.open("wb")
    process = subprocess.Popen(
        [sys.executable, *args], stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL
    )
    server = Server(name, process, port, stdout_path, stderr_path, [stdout, stderr])
    RUNNING.append(server)
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited: {stderr_path.read_text(errors='replace')[-2000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return server
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{name} did not listen on port {port} in {SERVER_START_TIMEOUT_S:.0f} s")


def stop_server(server: Server) -> None:
    server.stop()
    if server in RUNNING:
        RUNNING.remove(server)


def start_kindred(data_dir: Path, workdir: Path, name: str = "kindred") -> Server:
    port = free_port()
    args = ["-m", "kindred", "serve", "--data-dir", str(data_dir), "--port", str(port)]
    return start_server(name, [*args, "--host", "127.0.0.1"], workdir, port)


def start_baseline(workdir: Path) -> Server:
    port = free_port()
    return start_server(
        "baseline", [__file__, "baseline-server", "--port", str(port)], workdir, port
    )


def kindred_cli(*args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "kindred", *args], capture_output=True, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"kindred {' '.join(args)} failed: {result.stderr.decode()[-2000:]}")
    return result.stdout.decode()


@dataclass(frozen=True)
class Credentials:
    token: str
    secret: str

    @property
    def basic(self) -> str:
        return "Basic " + base64.b64encode(f"{self.secret}:".encode()).decode()


def create_project(data_dir: Path, name: str) -> Credentials:
    created = orjson.loads(kindred_cli("project", "create", name, "--data-dir", str(data_dir)))
    return Credentials(created["token"], created["secret"])


def default_project(server: Server) -> Credentials:
    output = server.output()
    token = re.search(r"token:\s+(\S+)", output)
    secret = re.search(r"secret:\s+(\S+)", output)
    if token is None or secret is None:
        raise RuntimeError(f"kindred serve printed no token and secret:\n{output}")
    return Credentials(token.group(1), secret.group(1))


class Profiler:
    """`py-spy record` on a server while a load runs (only with --profile).

    It writes collapsed stacks (`<name>.txt`, which speedscope and flamegraph.pl read) and puts
    the functions with the most samples, self and inclusive, into the results.
    """

    def __init__(self, directory: Path | None, pid: int, name: str, *, gil: bool = False) -> None:
        self.process: subprocess.Popen[bytes] | None = None
        self.output = Path(directory or ".") / f"{name}.txt"
        self.gil = gil
        if directory is None:
            return
        directory.mkdir(parents=True, exist_ok=True)
        command = ["py-spy", "record", "--pid", str(pid), "--nonblocking", "--format", "raw"]
        command += ["--rate", str(PROFILE_RATE), "-o", str(self.output)]
        if gil:
            command.append("--gil")
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        log(f"profiling {name} into {self.output}")
        time.sleep(1.0)

    def stop(self) -> dict[str, Any] | None:
        if self.process is None:
            return None
        self.process.send_signal(signal.SIGINT)
        self.process.wait(60)
        profile = summarize_stacks(self.output)
        if self.gil:
            # Only the thread holding the GIL is sampled, so the samples measure how long it was held.
            profile["gil_held_s"] = profile["samples"] / PROFILE_RATE
        return profile


# py-spy's samples per second (its default is 100).
PROFILE_RATE = 500

WRITER_FRAMES = (
    "Pipeline._run ",
    "Pipeline._flush ",
    "Pipeline._collect ",
    "DuckDBEventStore.write ",
)


def summarize_stacks(path: Path, top: int = 15) -> dict[str, Any]:
    """Where the samples of a collapsed-stack file went: by thread, by function (self), and by
    kindred function (inclusive)."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        frames = stack.split(";")
        total += count
        own[_short_frame(frames[-1])] += count
        for frame in {_short_frame(f) for f in frames if " (kindred/" in f}:
            inclusive[frame] += count
        # --nonblocking samples may lose the bottom of a stack, so look for the writer's frames.
        if any(f.startswith(WRITER_FRAMES) for f in frames):
            threads["writer thread (Pipeline._run)"] += count
        else:
            threads["event loop (HTTP, decode, validate)"] += count

    def shares(counter: Counter[str], n: int = top) -> list[tuple[str, float]]:
        return [(frame, round(100 * k / total, 1)) for frame, k in counter.most_common(n)]

    return {
        "samples": total,
        "threads_pct": shares(threads),
        "self_pct": shares(own),
        "inclusive_pct": shares(inclusive, 2 * top),
    }


def _short_frame(frame: str) -> str:
    # "validate_event (kindred/ingest/events.py:61)" -> "validate_event (ingest/events.py)"
    name, _, where = frame.partition(" (")
    parts = Path(where.rstrip(")").rsplit(":", 1)[0]).parts
    return f"{name} ({'/'.join(parts[-2:])})" if parts else name


# -- 1. /import with 2000-event batches ----------------------------------------------------------


@dataclass
class ImportRun:
    events: int
    seconds: float
    batch_ms: list[float]

    @property
    def rate(self) -> float:
        return self.events / self.seconds


def post_batches(
    port: int, credentials: Credentials, bodies: Sequence[bytes], clients: int
) -> ImportRun:
    """POST every body to /import?strict=1 from `clients` keep-alive connections."""
    headers = {"Content-Type": "application/json", "Authorization": credentials.basic}
    next_index = itertools.count()
    lock = threading.Lock()
    batch_ms: list[float] = []
    imported: list[int] = []
    failures: list[str] = []

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        try:
            while not failures:
                with lock:
                    index = next(next_index)
                if index >= len(bodies):
                    return
                started = time.perf_counter()
                connection.request("POST", "/import?strict=1", bodies[index], headers)
                response = connection.getresponse()
                answer = response.read()
                batch_ms.append((time.perf_counter() - started) * 1000)
                if response.status != 200:
                    failures.append(f"HTTP {response.status}: {answer[:300]!r}")
                    return
                imported.append(orjson.loads(answer)["num_records_imported"])
        except Exception as exc:  # reported below, after the other clients stop
            failures.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    if failures:
        raise RuntimeError(f"/import failed: {failures[0]}")
    return ImportRun(sum(imported), seconds, batch_ms)


FLOOR_INSERT = """
    INSERT INTO events SELECT unnest($1::VARCHAR[]), unnest($2::VARCHAR[]), unnest($3::BIGINT[]),
        unnest($4::VARCHAR[]), unnest($5::VARCHAR[])
"""


def run_floor(bodies: Sequence[bytes], path: Path) -> ImportRun:
    """Decode each body with orjson and append it to a DuckDB table, one transaction per body."""
    db = duckdb.connect(str(path), config={"checkpoint_threshold": CHECKPOINT_THRESHOLD})
    db.execute(
        "CREATE TABLE events (event VARCHAR, distinct_id VARCHAR, time_ms BIGINT,"
        " insert_id VARCHAR, properties VARCHAR)"
    )
    loads, dumps = orjson.loads, orjson.dumps
    batch_ms = []
    events = 0
    started = time.perf_counter()
    for body in bodies:
        batch_started = time.perf_counter()
        items = loads(body)
        properties = [item["properties"] for item in items]
        columns = [
            [item["event"] for item in items],
            [str(p.get("distinct_id", "")) for p in properties],
            [int(p["time"] * 1000) for p in properties],
            [p.get("$insert_id", "") for p in properties],
            [dumps(p).decode() for p in properties],
        ]
        db.execute(FLOOR_INSERT, columns)
        events += len(items)
        batch_ms.append((time.perf_counter() - batch_started) * 1000)
    seconds = time.perf_counter() - started
    db.close()
    return ImportRun(events, seconds, batch_ms)


def part_import(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    data_dir = workdir / "import-data"
    server = start_kindred(data_dir, workdir, "kindred-import")
    credentials = default_project(server)
    log(f"/import: generating {args.import_events:,} events in {BATCH_EVENTS}-event bodies")
    workload = import_workload(
        credentials.token, args.import_events + 4 * BATCH_EVENTS, identify_every=50, seed=args.seed
    )
    warmup = batch_bodies(workload, 4 * BATCH_EVENTS)
    bodies = batch_bodies(workload, args.import_events)
    body_mb = sum(map(len, bodies)) / len(bodies) / 1e6

    try:
        post_batches(server.port, credentials, warmup, args.clients)
        log(f"/import: {len(bodies)} bodies of ~{body_mb:.2f} MB, {args.clients} clients")
        profiler = Profiler(args.profile, server.pid, "import", gil=args.profile_gil)
        wait_until_idle(args.wait_idle)
        log_size = server.log_size()
        meter = CpuMeter(server.pid)
        run = post_batches(server.port, credentials, bodies, args.clients)
        cpu = meter.stop()
        flushes = server.flushes_since(log_size)
        profile = profiler.stop()
        rss, _ = rss_mb(server.pid)
    finally:
        stop_server(server)
    log(f"/import: {run.rate:,.0f} events/s; now the floor")
    wait_until_idle(args.wait_idle)
    meter = CpuMeter()
    floor = run_floor(bodies, workdir / "floor.duckdb")
    floor_cpu = meter.stop()
    log(f"/import floor: {floor.rate:,.0f} events/s")
    return {
        "events": run.events,
        "requests": len(bodies),
        "body_mb": body_mb,
        "clients": args.clients,
        "seconds": run.seconds,
        "events_per_s": run.rate,
        "batch_ms_median": statistics.median(run.batch_ms),
        "batch_ms_max": max(run.batch_ms),
        "server_rss_mb": rss,
        "cpu": cpu,
        "flushes": flushes,
        "floor_cpu": floor_cpu,
        "floor_events_per_s": floor.rate,
        "floor_batch_ms_median": statistics.median(floor.batch_ms),
        "ratio": run.rate / floor.rate,
        "profile": profile,
    }


# -- 2. /track, one event per request -------------------------------------------------------------

WRK_SCRIPT = r"""
local body_template = [==[BODY]==]
local headers = {["Content-Type"] = "application/x-www-form-urlencoded"}
local threads = {}
local next_id = 0
bad = 0

function setup(thread)
  thread:set("tid", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  math.randomseed(os.time() * 1000 + tid)
end

function request()
  local n = math.random(0, 49999)
  local device = string.format("%08x-0000-4000-a000-%012x", n, n)
  local insert_id = string.format("%08x%08x", math.random(0, 2147483647), math.random(0, 2147483647))
  local body = string.format(body_template, os.time(), device, device, insert_id)
  return wrk.format("POST", "/track?ip=0", headers, body)
end

function response(status, headers, body)
  if status ~= 200 or body ~= "1" then bad = bad + 1 end
end

function done(summary, latency, requests)
  local bad_total = 0
  for _, thread in ipairs(threads) do bad_total = bad_total + thread:get("bad") end
  local errors = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "bad": %d, "socket_errors": %d, ' ..
    '"p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, "mean_us": %.1f}\n',
    summary.requests, summary.duration, bad_total,
    errors.connect + errors.read + errors.write + errors.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    latency.mean))
end
"""


def wrk_script(token: str, path: Path) -> None:
    """The Lua script: a Python-SDK-style form body `data=<JSON>` with a fresh id per request."""
    event = {
        "event": "Page Viewed",
        "properties": {
            "token": token,
            "time": "XXTIMEXX",
            "distinct_id": "XXDEVICEXX",
            "$device_id": "XXDEVICEXX",
            "$insert_id": "XXINSERTXX",
            "$os": "Mac OS X",
            "$browser": "Chrome",
            "$browser_version": 124,
            "$current_url": "https://shop.example.com/pricing?utm_source=google",
            "$screen_height": 1080,
            "$screen_width": 1920,
            "mp_lib": "python",
            "$lib_version": "5.4.1",
            "plan": "pro",
            "utm_source": "google",
        },
    }
    encoded = urllib.parse.quote(
        orjson.dumps(event).decode().replace('"XXTIMEXX"', "XXTIMEXX"), safe=""
    )
    # The placeholders, in this order, become string.format's arguments in the Lua script.
    template = ("data=" + encoded).replace("%", "%%").replace("XXTIMEXX", "%d")
    template = template.replace("XXDEVICEXX", "%s").replace("XXINSERTXX", "%s")
    path.write_text(WRK_SCRIPT.replace("BODY", template))


def run_wrk(port: int, script: Path, seconds: float, connections: int) -> dict[str, Any]:
    command = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{seconds:g}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        f"http://127.0.0.1:{port}/",
    ]
    result = subprocess.run(command, capture_output=True, check=True, text=True)
    for line in result.stdout.splitlines():
        if line.startswith("BENCH_JSON "):
            figures: dict[str, Any] = json.loads(line.removeprefix("BENCH_JSON "))
            figures["requests_per_s"] = figures["requests"] / (figures["duration_us"] / 1e6)
            return figures
    raise RuntimeError(f"wrk printed no figures:\n{result.stdout}\n{result.stderr}")


def track_load(server: Server, script: Path, args: argparse.Namespace, name: str) -> dict[str, Any]:
    run_wrk(server.port, script, args.track_warmup, args.track_connections)
    # The bare app is profiled only for --profile-gil, whose figure per request it puts beside ours.
    directory = args.profile if name == "kindred" or args.profile_gil else None
    profiler = Profiler(directory, server.pid, f"track-{name}", gil=args.profile_gil)
    wait_until_idle(args.wait_idle)
    log_size = server.log_size()
    meter = CpuMeter(server.pid)
    figures = run_wrk(server.port, script, args.track_seconds, args.track_connections)
    figures["cpu"] = meter.stop()
    figures["flushes"] = server.flushes_since(log_size)
    figures["profile"] = profiler.stop()
    figures["server_rss_mb"] = rss_mb(server.pid)[0]
    if figures["bad"] or figures["socket_errors"]:
        log(f"WARNING: {name}: {figures['bad']} bad answers, {figures['socket_errors']} errors")
    log(
        f"/track {name}: {figures['requests_per_s']:,.0f} req/s, p50 "
        f"{figures['p50_us'] / 1000:.1f} ms, p99 {figures['p99_us'] / 1000:.1f} ms"
    )
    return figures


def part_track(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    if shutil.which("wrk") is None:
        raise RuntimeError("the /track part needs wrk: apt-get install -y wrk")
    baseline = start_baseline(workdir)
    try:
        wrk_script("baseline-token", workdir / "track-baseline.lua")
        base = track_load(baseline, workdir / "track-baseline.lua", args, "baseline")
    finally:
        stop_server(baseline)

    server = start_kindred(workdir / "track-data", workdir, "kindred-track")
    try:
        wrk_script(default_project(server).token, workdir / "track.lua")
        ours = track_load(server, workdir / "track.lua", args, "kindred")
    finally:
        stop_server(server)
    return {"kindred": ours, "baseline": base, "connections": args.track_connections}


# -- 3. `kindred import` of an NDJSON file --------------------------------------------------------


def part_cli(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    data_dir = workdir / "cli-data"
    credentials = create_project(data_dir, "bench")
    path = workdir / "events.ndjson"
    log(f"kindred import: writing {args.cli_events:,} events to {path}")
    workload = import_workload(
        credentials.token, args.cli_events, identify_every=50, seed=args.seed
    )
    size = write_ndjson(path, workload, args.cli_events)
    # The kernel would still be writing the new file to disk during the import, whose own writes
    # and fsyncs would queue behind it (0.5 s of 5), and no longer during the baseline's run.
    os.sync()

    log(f"kindred import: {size / 1e6:,.0f} MB")
    wait_until_idle(args.wait_idle)
    meter = CpuMeter()
    started = time.perf_counter()
    output = kindred_cli("import", str(path), "--project", "bench", "--data-dir", str(data_dir))
    seconds = time.perf_counter() - started
    cpu = meter.stop()
    match = re.search(r"imported (\d+) events, rejected (\d+), in ([\d.]+) s", output)
    if match is None:
        raise RuntimeError(f"kindred import printed no summary:\n{output}")
    imported, rejected, own_seconds = int(match[1]), int(match[2]), float(match[3])
    log(f"kindred import: {imported / seconds:,.0f} events/s; now DuckDB's read_ndjson")

    baseline_path = workdir / "read_ndjson.duckdb"
    wait_until_idle(args.wait_idle)
    meter = CpuMeter()
    started = time.perf_counter()
    db = duckdb.connect(str(baseline_path))
    db.execute("CREATE TABLE events AS SELECT * FROM read_ndjson_auto(?)", [str(path)])
    row = db.execute("SELECT count(*) FROM events").fetchone()
    db.close()
    baseline_seconds = time.perf_counter() - started
    baseline_cpu = meter.stop()
    baseline_rows = 0 if row is None else int(row[0])
    path.unlink()
    return {
        "events": args.cli_events,
        "file_mb": size / 1e6,
        "imported": imported,
        "rejected": rejected,
        "seconds": seconds,
        "events_per_s": imported / seconds,
        "reported_seconds": own_seconds,
        "cpu": cpu,
        "duckdb_cpu": baseline_cpu,
        "duckdb_rows": baseline_rows,
        "duckdb_seconds": baseline_seconds,
        "duckdb_events_per_s": baseline_rows / baseline_seconds,
        "duckdb_threads": os.cpu_count(),
        "database_mb": (data_dir / "kindred.duckdb").stat().st_size / 1e6,
    }


# -- 4. Server RSS after a large load ------------------------------------------------------------


def send_track(port: int, lines: Sequence[bytes]) -> None:
    """One /track request per event, stamped now, the Python SDK's way."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    now = int(time.time())
    for line in lines:
        event = orjson.loads(line)
        event["properties"]["time"] = now
        body = "data=" + urllib.parse.quote(orjson.dumps(event).decode(), safe="")
        connection.request("POST", "/track?ip=0", body, form)
        response = connection.getresponse()
        if response.read() != b"1":
            raise RuntimeError(f"/track answered HTTP {response.status}")
    connection.close()


def server_rss(
    data_dir: Path, workdir: Path, credentials: Credentials | None, seed: int
) -> dict[str, Any]:
    """Start a server on `data_dir`, send a little traffic, and read its RSS along the way:
    one /track event (which loads the project's identity engine), 99 more, then 5 /import
    batches of 2000 events."""
    started = time.perf_counter()
    server = start_kindred(data_dir, workdir, "kindred-rss")
    try:
        start_s = time.perf_counter() - started
        idle_rss, _ = rss_mb(server.pid)
        credentials = credentials or default_project(server)
        workload = import_workload(credentials.token, 11_000, identify_every=10, seed=seed)
        traffic_started = time.perf_counter()
        send_track(server.port, list(workload.lines(1)))
        first_s = time.perf_counter() - traffic_started
        first_rss, _ = rss_mb(server.pid)
        send_track(server.port, list(workload.lines(99)))
        post_batches(server.port, credentials, batch_bodies(workload, 5 * BATCH_EVENTS), 1)
        traffic_s = time.perf_counter() - traffic_started
        time.sleep(1.0)
        rss, peak = rss_mb(server.pid)
        loaded = re.findall(
            r"loaded identity for project \d+ \(\w+ mode\): (\d+) ids",
            server.stderr_path.read_text(),
        )
    finally:
        stop_server(server)
    return {
        "start_s": start_s,
        "idle_rss_mb": idle_rss,
        "first_event_s": first_s,
        "first_event_rss_mb": first_rss,
        "traffic_s": traffic_s,
        "rss_mb": rss,
        "peak_rss_mb": peak,
        "known_ids": int(loaded[0]) if loaded else None,
    }


def part_rss(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    events = args.rss_events
    identifies = events // 10
    log("RSS: empty data dir first (the baseline)")
    empty = server_rss(workdir / "rss-empty", workdir, None, args.seed)

    data_dir = workdir / "rss-data"
    credentials = create_project(data_dir, "bench")
    workload = import_workload(credentials.token, events, identify_every=10, seed=args.seed)
    files = []
    started = time.perf_counter()
    per_file = 1_000_000
    for index, start in enumerate(range(0, events, per_file)):
        path = workdir / f"rss-{index:03d}.ndjson"
        write_ndjson(path, workload, min(per_file, events - start))
        files.append(path)
    generate_s = time.perf_counter() - started
    log(f"RSS: wrote {events:,} events ({identifies:,} $identify) in {generate_s:.0f} s; importing")

    started = time.perf_counter()
    kindred_cli("import", *map(str, files), "--project", "bench", "--data-dir", str(data_dir))
    import_s = time.perf_counter() - started
    for path in files:
        path.unlink()
    log(f"RSS: imported in {import_s:.0f} s; starting the server on it")
    loaded = server_rss(data_dir, workdir, credentials, args.seed + 1)
    log(f"RSS: {loaded['rss_mb']:.0f} MB (empty data dir: {empty['rss_mb']:.0f} MB)")
    return {
        "events": events,
        "identify_events": identifies,
        "generate_s": generate_s,
        "import_s": import_s,
        "import_events_per_s": events / import_s,
        "database_mb": (data_dir / "kindred.duckdb").stat().st_size / 1e6,
        "loaded": loaded,
        "empty": empty,
    }


# -- Reporting -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    metric: str
    kindred: float
    baseline: float | None = None
    target: str = "-"
    passed: bool | None = None
    digits: int = 0

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or not self.baseline:
            return None
        return self.kindred / self.baseline


def _fmt(value: float | None, digits: int) -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}"


def print_table(rows: Sequence[Row]) -> None:
    header = ("metric", "kindred", "baseline", "ratio", "target", "result")
    lines = [
        (
            row.metric,
            _fmt(row.kindred, row.digits),
            _fmt(row.baseline, row.digits),
            "-" if row.ratio is None else f"{row.ratio:.2f}",
            row.target,
            {True: "PASS", False: "FAIL", None: "-"}[row.passed],
        )
        for row in rows
    ]
    widths = [max(len(cells[i]) for cells in (header, *lines)) for i in range(len(header))]

    def render(cells: Sequence[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = [cell.rjust(width) for cell, width in zip(cells[1:], widths[1:], strict=True)]
        return "  ".join([first, *rest])

    print(render(header))
    print("  ".join("-" * width for width in widths))
    for line in lines:
        print(render(line))


def rows_of(results: dict[str, Any]) -> list[Row]:
    rows = []
    if "import" in results:
        r = results["import"]
        rows.append(
            Row(
                f"/import {BATCH_EVENTS}-event batches, {r['clients']} clients (events/s)",
                r["events_per_s"],
                r["floor_events_per_s"],
                f">= {IMPORT_TARGET_PER_S / 1000:g}k/s, >= {IMPORT_FLOOR_RATIO_TARGET:.2f}x",
                r["events_per_s"] >= IMPORT_TARGET_PER_S
                and r["ratio"] >= IMPORT_FLOOR_RATIO_TARGET,
            )
        )
    if "track" in results:
        ours, base = results["track"]["kindred"], results["track"]["baseline"]
        c = results["track"]["connections"]
        rate, base_rate = ours["requests_per_s"], base["requests_per_s"]
        rows += [
            Row(
                f"/track, 1 event/request, {c} connections (req/s)",
                rate,
                base_rate,
                f">= {TRACK_TARGET_PER_S / 1000:g}k/s, >= {TRACK_BASELINE_RATIO_TARGET:.2f}x",
                rate >= TRACK_TARGET_PER_S and rate / base_rate >= TRACK_BASELINE_RATIO_TARGET,
            ),
            Row("/track p50 latency (ms)", ours["p50_us"] / 1000, base["p50_us"] / 1000, digits=1),
            Row(
                "/track p99 latency (ms)",
                ours["p99_us"] / 1000,
                base["p99_us"] / 1000,
                f"< {TRACK_P99_TARGET_MS:g} ms",
                ours["p99_us"] / 1000 < TRACK_P99_TARGET_MS,
                digits=1,
            ),
        ]
    if "cli" in results:
        r = results["cli"]
        rows.append(
            Row(
                f"kindred import, {r['events'] / 1e6:g}M-event NDJSON (events/s)",
                r["events_per_s"],
                r["duckdb_events_per_s"],
                f">= {CLI_IMPORT_TARGET_PER_S / 1000:g}k/s",
                r["events_per_s"] >= CLI_IMPORT_TARGET_PER_S,
            )
        )
    if "rss" in results:
        r = results["rss"]
        rows.append(
            Row(
                f"server RSS, {r['events'] / 1e6:g}M events, {r['identify_events'] / 1e6:g}M identifies (MB)",
                r["loaded"]["rss_mb"],
                r["empty"]["rss_mb"],
                f"<= {RSS_TARGET_MB:g} MB",
                r["loaded"]["rss_mb"] <= RSS_TARGET_MB,
            )
        )
    return rows


def cpu_shares(results: dict[str, Any]) -> dict[str, dict[str, float]]:
    """The CPU meter of every measured span, by name."""
    spans = {
        "/import": ("import", "cpu"),
        "/import floor": ("import", "floor_cpu"),
        "/track kindred": ("track", "kindred", "cpu"),
        "/track baseline": ("track", "baseline", "cpu"),
        "kindred import": ("cli", "cpu"),
        "read_ndjson": ("cli", "duckdb_cpu"),
    }
    shares = {}
    for name, keys in spans.items():
        value: Any = results
        for key in keys:
            value = value.get(key) if isinstance(value, dict) else None
        if value:
            shares[name] = value
    return shares


def print_servers(results: dict[str, Any]) -> None:
    """How busy the kindred server's threads were, and what its flushes held."""
    measured = {
        "/import": results.get("import", {}),
        "/track": results.get("track", {}).get("kindred", {}),
    }
    for name, figures in measured.items():
        threads = figures.get("cpu", {}).get("server_threads_pct")
        if not threads:
            continue
        line = (
            f"kindred under {name}, share of one core: event loop {threads['first']:.0f}%, "
            f"writer {threads['busiest_other']:.0f}%, other threads {threads['rest']:.0f}%"
        )
        flushes = figures.get("flushes")
        if flushes:
            line += (
                f"; {flushes['count']:,} flushes, median {flushes['events_median']:,.0f} events "
                f"in {flushes['ms_median']:.1f} ms"
            )
        print(line)


def print_gil_held(results: dict[str, Any]) -> None:
    """With --profile-gil: how long the GIL was held per event or request, and how busy it was."""
    imported = results.get("import", {})
    runs = [("/import", "event", imported, imported.get("events"), imported.get("seconds"))]
    for name in ("kindred", "baseline"):
        figures = results.get("track", {}).get(name, {})
        seconds = figures["duration_us"] / 1e6 if figures else None
        runs.append((f"/track, {name}", "request", figures, figures.get("requests"), seconds))
    for label, unit, figures, count, seconds in runs:
        held = (figures.get("profile") or {}).get("gil_held_s")
        if held is None or not count or not seconds:
            continue
        print(
            f"GIL held under {label}: {held / count * 1e6:.1f} us per {unit}, "
            f"{100 * held / seconds:.0f}% of the time"
        )


def print_profiles(results: dict[str, Any]) -> None:
    profiles = {
        "/import": results.get("import", {}).get("profile"),
        "/track": results.get("track", {}).get("kindred", {}).get("profile"),
    }
    for name, profile in profiles.items():
        if not profile:
            continue
        print(f"py-spy, kindred server under {name}: {profile['samples']:,} samples")
        for kind in ("threads", "self", "inclusive"):
            print(f"  top {kind}:")
            for frame, share in profile[f"{kind}_pct"]:
                print(f"    {share:5.1f}%  {frame}")


def machine() -> dict[str, Any]:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    memory_kb = int(Path("/proc/meminfo").read_text().split()[1])
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(memory_kb / 1024**2, 1),
        "python": platform.python_version(),
        "duckdb": duckdb.__version__,
        "commit": commit or "unknown",
        "date": time.strftime("%Y-%m-%d"),
    }


# -- Entry points --------------------------------------------------------------------------------


def baseline_server(port: int) -> None:
    """The /track baseline: Starlette on uvicorn, run the way `kindred serve` runs; reads, says 1."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse, Response
    from starlette.routing import Route

    async def track(request: Request) -> Response:
        await request.body()
        return PlainTextResponse("1")

    app = Starlette(routes=[Route("/track", track, methods=["GET", "POST"])])
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="smaller sizes: a few minutes in all")
    parser.add_argument(
        "--only", action="append", choices=PARTS, help="run only this part (repeatable)"
    )
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="run /import and /track this many times and report the median ratio [1]",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--import-events", type=int, help="events POSTed to /import [200,000]")
    parser.add_argument("--clients", type=int, default=4, help="concurrent /import clients [4]")
    parser.add_argument("--track-seconds", type=float, help="length of each /track run [20]")
    parser.add_argument("--track-warmup", type=float, default=3.0)
    parser.add_argument("--track-connections", type=int, default=64)
    parser.add_argument("--cli-events", type=int, help="events in the NDJSON file [1,000,000]")
    parser.add_argument("--rss-events", type=int, help="events loaded before reading RSS [10M]")
    parser.add_argument(
        "--wait-idle",
        type=float,
        default=120.0,
        help="before each measurement, wait up to this many seconds for an idle machine [120]",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        help="py-spy the kindred server under /import and /track; stacks go here",
    )
    parser.add_argument(
        "--profile-gil",
        action="store_true",
        help="with --profile, sample only the thread holding the GIL, and print how long it was "
        "held per event or request (the bare /track app is profiled too)",
    )
    args = parser.parse_args(argv)
    defaults = {
        "import_events": (200_000, 40_000),
        "track_seconds": (20.0, 5.0),
        "cli_events": (1_000_000, 100_000),
        "rss_events": (10_000_000, 500_000),
    }
    for name, (full, quick) in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else full)
    args.parts = args.only or list(PARTS)
    return args


# Parts whose single run the machine's noise can swing by ±10%: --repeat runs them again.
REPEATABLE = ("import", "track")


def run_ratio(name: str, result: dict[str, Any]) -> tuple[float, float, float]:
    """(kindred, baseline, ratio) of one run of a repeatable part."""
    if name == "import":
        ours, base = result["events_per_s"], result["floor_events_per_s"]
    else:
        ours = result["kindred"]["requests_per_s"]
        base = result["baseline"]["requests_per_s"]
    return ours, base, ours / base


def median_run(name: str, runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run whose ratio is the median (the lower one of an even count), with every run's
    figures under "runs"."""
    if len(runs) == 1:
        return runs[0]
    ordered = sorted(runs, key=lambda run: run_ratio(name, run)[2])
    chosen = dict(ordered[(len(ordered) - 1) // 2])
    chosen["runs"] = [
        dict(zip(("kindred", "baseline", "ratio"), run_ratio(name, run), strict=True))
        for run in runs
    ]
    return chosen


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["baseline-server"]:
        baseline_server(int(argv[argv.index("--port") + 1]))
        return 0
    args = parse_args(argv)
    info = machine()
    log(f"parts: {', '.join(args.parts)}")

    parts: dict[str, Callable[[argparse.Namespace, Path], dict[str, Any]]] = {
        "import": part_import,
        "track": part_track,
        "cli": part_cli,
        "rss": part_rss,
    }
    results: dict[str, Any] = {}
    timings: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="kindred-bench-") as directory:
        try:
            for name in args.parts:
                workdir = Path(directory) / name
                workdir.mkdir()
                started = time.perf_counter()
                runs = []
                for n in range(args.repeat if name in REPEATABLE else 1):
                    run_dir = workdir / f"run-{n + 1}"
                    run_dir.mkdir()
                    runs.append(parts[name](args, run_dir))
                results[name] = median_run(name, runs)
                timings[name] = time.perf_counter() - started
        finally:
            for server in list(RUNNING):
                stop_server(server)

    rows = rows_of(results)
    print()
    print(
        f"kindred ingestion benchmark, {info['date']}, commit {info['commit']}: {info['cpu']}, "
        f"{info['cores']} cores, {info['memory_gb']} GB; Python {info['python']}, "
        f"DuckDB {info['duckdb']}"
    )
    print()
    print_table(rows)
    print()
    if "rss" in results:
        r = results["rss"]
        print(
            f"RSS part: generated {r['events']:,} events in {r['generate_s']:.0f} s, imported in "
            f"{r['import_s']:.0f} s; the server knew {r['loaded']['known_ids']:,} ids; its RSS: "
            f"{r['loaded']['idle_rss_mb']:.0f} MB before traffic, "
            f"{r['loaded']['first_event_rss_mb']:.0f} MB after the first event "
            f"({r['loaded']['first_event_s']:.1f} s, identity loaded), "
            f"{r['loaded']['rss_mb']:.0f} MB at the end, peak {r['loaded']['peak_rss_mb']:.0f} MB"
        )
    for name in REPEATABLE:
        if len(results.get(name, {}).get("runs", [])) > 1:
            listed = ", ".join(
                f"{run['kindred']:,.0f} / {run['baseline']:,.0f} = {run['ratio']:.2f}"
                for run in results[name]["runs"]
            )
            print(f"{name} runs (kindred / baseline = ratio; the table shows the median): {listed}")
    shares = cpu_shares(results)
    if shares:
        print(
            "CPU of other processes during each measurement (share of both cores): "
            + ", ".join(f"{name} {cpu['others_pct']:.0f}%" for name, cpu in shares.items())
        )
        if any(cpu["others_pct"] > 5 for cpu in shares.values()):
            print("WARNING: the machine was not idle; figures may be low, run again")
    print_servers(results)
    print_gil_held(results)
    print_profiles(results)
    print("time per part: " + ", ".join(f"{k} {v:.0f} s" for k, v in timings.items()))
    failed = [row.metric for row in rows if row.passed is False]
    print(f"targets: {sum(row.passed is True for row in rows)} met, {len(failed)} missed")

    if args.json is not None:
        figures = {
            "machine": info,
            "params": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
            "results": results,
            "seconds": timings,
            "passed": {row.metric: row.passed for row in rows if row.passed is not None},
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
        log(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
