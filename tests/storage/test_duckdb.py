"""What only the DuckDB event store does: one process per file, rollback, schema version, close."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from kindred.ingest.model import EventRecord
from kindred.storage.base import WriteBatch
from kindred.storage.duckdb_store import DuckDBEventStore
from kindred.storage.errors import PermanentStorageError

T0 = 1_700_000_000_000
OPEN_IN_CHILD = """
import sys
from kindred.storage.duckdb_store import DuckDBEventStore
from kindred.storage.errors import PermanentStorageError
try:
    DuckDBEventStore(sys.argv[1])
except PermanentStorageError as exc:
    print(exc)
"""


def viewed(seq: int) -> tuple[int, int, EventRecord]:
    return 1, seq, EventRecord("Viewed", "u1", T0 + seq, "", {"n": seq})


def test_a_second_process_is_told_the_file_is_taken(tmp_path: Path) -> None:
    path = tmp_path / "kindred.duckdb"
    store = DuckDBEventStore(path)
    try:
        command = [sys.executable, "-c", OPEN_IN_CHILD, str(path)]
        result = subprocess.run(command, capture_output=True, text=True, timeout=30, check=True)
    finally:
        store.close()

    assert "another process has the file open" in result.stdout
    assert "one process per file" in result.stdout


def test_a_statement_that_fails_rolls_back_the_whole_batch(tmp_path: Path) -> None:
    store = DuckDBEventStore(tmp_path / "kindred.duckdb")
    too_big = 2**70  # fails in the profiles statement, after the events were inserted
    bad = WriteBatch(events=[viewed(0), viewed(1)], profiles=[(1, "u1", {}, too_big)])

    with pytest.raises(PermanentStorageError, match="could not write a batch"):
        store.write(bad)
    store.write(WriteBatch(events=[viewed(2)]))

    assert [e.seq for e in store.events(1, from_ms=T0, to_ms=T0 + 10)] == [2]
    assert store.profiles(1, ["u1"]) == {}
    store.close()


def test_a_file_from_a_newer_kindred_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "kindred.duckdb"
    DuckDBEventStore(path).close()
    with duckdb.connect(str(path)) as db:
        db.execute("UPDATE schema_version SET version = 99")

    with pytest.raises(PermanentStorageError, match="schema version 99.*upgrade kindred"):
        DuckDBEventStore(path)


def test_close_folds_the_write_ahead_log_into_the_file(tmp_path: Path) -> None:
    path = tmp_path / "kindred.duckdb"
    store = DuckDBEventStore(path)
    store.write(WriteBatch(events=[viewed(n) for n in range(100)]))
    wal = tmp_path / "kindred.duckdb.wal"
    assert wal.stat().st_size > 0

    store.close()

    assert not wal.exists() or wal.stat().st_size == 0
