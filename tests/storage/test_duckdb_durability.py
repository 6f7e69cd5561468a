"""An acknowledged write survives `kill -9`: a child process writes batches and prints each one's
number once `write()` has returned; the test kills it mid-write, reopens the file and looks for
every acknowledged batch. A batch is all there or not there at all.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from kindred.identity.model import IdentityInput
from kindred.ingest.model import EventRecord
from kindred.storage.base import WriteBatch
from kindred.storage.duckdb_store import DuckDBEventStore

T0 = 1_700_000_000_000
PROJECT = 1
BATCH_EVENTS = 500
ROOT = Path(__file__).resolve().parents[2]
CHILD = (
    "import sys; sys.path.insert(0, sys.argv[1]); "
    "from tests.storage.test_duckdb_durability import write_until_killed; "
    "write_until_killed(sys.argv[2], int(sys.argv[3]))"
)


def make_batch(number: int) -> WriteBatch:
    first = number * BATCH_EVENTS
    events = [
        (PROJECT, seq, EventRecord("Viewed", f"u{seq % 97}", T0 + seq, f"i{seq}", {
            "$current_url": f"https://example.com/page/{seq}", "batch": number, "n": seq,
            "$browser": "Firefox", "tags": ["x", "y"], "price": seq / 7,
        }))
        for seq in range(first, first + BATCH_EVENTS)
    ]  # fmt: skip
    link = IdentityInput.link(f"user-{number}", f"dev-{number}", time_ms=T0 + first, seq=first)
    return WriteBatch(
        events=events,
        identity=[(PROJECT, link)],
        profiles=[(PROJECT, f"user-{number}", {"batch": number}, T0 + first)],
    )


def write_until_killed(path: str, checkpoint_threshold_mb: int) -> None:
    """The child: write batch after batch, printing each number once `write()` returns."""
    store = DuckDBEventStore(path, checkpoint_threshold_mb=checkpoint_threshold_mb)
    for number in itertools.count():
        store.write(make_batch(number))
        sys.stdout.write(f"{number}\n")
        sys.stdout.flush()


def run_and_kill(path: Path, checkpoint_threshold_mb: int, batches: int) -> list[int]:
    """Start the child, kill -9 it once `batches` are acknowledged; every acknowledged number."""
    command = [sys.executable, "-c", CHILD, str(ROOT), str(path), str(checkpoint_threshold_mb)]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    acknowledged: list[int] = []
    try:
        for line in child.stdout:
            acknowledged.append(int(line))
            if len(acknowledged) == batches:
                break
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
    # Lines already in the pipe were acknowledged before the kill.
    acknowledged += [int(line) for line in child.stdout.read().split()]
    child.stdout.close()
    assert child.returncode == -signal.SIGKILL
    return acknowledged


@pytest.mark.parametrize(
    ("checkpoint_threshold_mb", "batches"),
    [
        pytest.param(128, 30, id="kill-between-checkpoints"),
        pytest.param(1, 30, id="kill-while-checkpointing-often"),
    ],
)
def test_every_acknowledged_batch_survives_kill_9(
    tmp_path: Path, checkpoint_threshold_mb: int, batches: int
) -> None:
    path = tmp_path / "kindred.duckdb"

    acknowledged = run_and_kill(path, checkpoint_threshold_mb, batches)

    assert acknowledged == list(range(len(acknowledged)))
    assert len(acknowledged) >= batches
    store = DuckDBEventStore(path)
    try:
        events = list(store.events(PROJECT, from_ms=T0, to_ms=T0 + 10**9))
        entries = list(store.identity_entries_since(PROJECT, -1))
        profiles = list(store.all_profiles(PROJECT))
    finally:
        store.close()
    # At most one batch more than acknowledged: committed, but killed before it could say so.
    stored = len(events) // BATCH_EVENTS
    assert stored in (len(acknowledged), len(acknowledged) + 1)
    assert [event.seq for event in events] == list(range(stored * BATCH_EVENTS))
    assert [entry.seq for entry in entries] == [n * BATCH_EVENTS for n in range(stored)]
    assert len(profiles) == stored
