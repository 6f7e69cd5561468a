"""The seam between the engine and whatever keeps its state across restarts.

A store keeps two things per project: the log of identity entries (inputs and withdrawals, in
arrival order) and, now and then, a snapshot of the engine. Start-up loads the newest snapshot and
applies only the entries that arrived after it, so it never replays the whole history.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from kindred.identity.engine import IdentityEngine
from kindred.identity.model import IdentityInput, IdentityMode, Outcome, Withdrawal
from kindred.identity.rules import new_engine, restore_engine

LogEntry = IdentityInput | Withdrawal


class IdentityLog(Protocol):
    """One project's identity log and its latest snapshot.

    `append` must be durable before the caller acknowledges the entry. `entries_since(seq)` yields
    the entries whose `seq` is greater than `seq`, in arrival order. A snapshot saved with
    `last_seq` holds every entry up to and including it. Snapshots come and go in chunks, in order:
    a large one is never held whole.
    """

    def append(self, entry: LogEntry) -> None: ...

    def entries_since(self, seq: int) -> Iterable[LogEntry]: ...

    def save_snapshot(self, chunks: Iterable[bytes], *, last_seq: int) -> None: ...

    def load_snapshot(self) -> Iterable[bytes] | None: ...


class InMemoryIdentityLog:
    """An `IdentityLog` in memory, for tests and for projects that need no persistence."""

    def __init__(self) -> None:
        self.entries: list[LogEntry] = []
        self.snapshot: list[bytes] | None = None
        self.snapshot_seq = -1

    def append(self, entry: LogEntry) -> None:
        self.entries.append(entry)

    def entries_since(self, seq: int) -> Iterable[LogEntry]:
        return [entry for entry in self.entries if entry.seq > seq]

    def save_snapshot(self, chunks: Iterable[bytes], *, last_seq: int) -> None:
        self.snapshot, self.snapshot_seq = list(chunks), last_seq

    def load_snapshot(self) -> Iterable[bytes] | None:
        return self.snapshot


def apply_entry(engine: IdentityEngine, entry: LogEntry) -> tuple[Outcome, ...]:
    """Apply one log entry; return the outcomes it produced or changed."""
    if isinstance(entry, Withdrawal):
        return engine.withdraw(entry.target, seq=entry.seq)
    outcome = engine.apply(entry)
    return (outcome, *outcome.reclassified)


def load_engine(
    log: IdentityLog, mode: IdentityMode | str, *, max_cluster_size: int = 500
) -> IdentityEngine:
    """The engine for a project: its latest snapshot plus the entries that arrived after it."""
    snapshot = log.load_snapshot()
    engine = None if snapshot is None else restore_engine(snapshot)
    if engine is not None and engine.mode != IdentityMode(mode):
        raise ValueError(
            f"the identity snapshot was taken in {engine.mode} mode, but the project is in "
            f"{IdentityMode(mode)} mode; delete the snapshot to rebuild it from the log"
        )
    if engine is None or engine.max_cluster_size != max_cluster_size:
        # A snapshot taken under another cap holds other refusals: rebuild from the whole log.
        engine = new_engine(mode, max_cluster_size=max_cluster_size)
    for entry in log.entries_since(engine.last_seq):
        apply_entry(engine, entry)
    return engine


def checkpoint(engine: IdentityEngine, log: IdentityLog) -> None:
    """Save a snapshot of `engine`, so that the next start-up replays only what comes after."""
    log.save_snapshot(engine.snapshot_chunks(), last_seq=engine.last_seq)
