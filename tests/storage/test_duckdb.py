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
from kindred.storage.keys import id_key

T0 = 1_700_000_000_000
OPEN_IN_CHILD = """
import sys
from kindred.storage.duckdb_store import DuckDBEventStore
from kindred.storage.errors import PermanentStorageError
from kindred.storage.keys import id_key
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


def test_rows_of_a_failed_write_do_not_reach_the_next_one(tmp_path: Path) -> None:
    # Events alone take the appender without a transaction of their own; the appender keeps the
    # rows before a bad one unless the store drops them.
    store = DuckDBEventStore(tmp_path / "kindred.duckdb")
    too_late = (1, 1, EventRecord("Viewed", "u1", 2**70, "", {}))

    with pytest.raises(PermanentStorageError, match="could not write a batch"):
        store.write(WriteBatch(events=[viewed(0), too_late]))
    store.write(WriteBatch(events=[viewed(2)]))

    assert [e.seq for e in store.events(1, from_ms=T0, to_ms=T0 + 10)] == [2]
    store.close()


def test_a_replaced_profile_keeps_one_row(tmp_path: Path) -> None:
    store = DuckDBEventStore(tmp_path / "kindred.duckdb")
    store.write(WriteBatch(profiles=[(1, "u1", {"plan": "free"}, T0)]))
    store.write(WriteBatch(profiles=[(1, "u1", {"plan": "pro"}, T0 + 1), (1, "u2", {}, T0)]))

    assert store.fetch("rows", "SELECT distinct_id, properties FROM profiles ORDER BY 1") == [
        ("u1", '{"plan":"pro"}'),
        ("u2", "{}"),
    ]
    store.close()


def test_a_file_from_a_newer_kindred_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "kindred.duckdb"
    DuckDBEventStore(path).close()
    with duckdb.connect(str(path)) as db:
        db.execute("UPDATE schema_version SET version = 99")

    with pytest.raises(PermanentStorageError, match="schema version 99.*upgrade kindred"):
        DuckDBEventStore(path)


def test_a_file_from_before_person_keys_is_refused_with_the_way_out(tmp_path: Path) -> None:
    path = tmp_path / "kindred.duckdb"
    DuckDBEventStore(path).close()
    with duckdb.connect(str(path)) as db:
        db.execute("UPDATE schema_version SET version = 1")

    with pytest.raises(PermanentStorageError, match="schema version 1.*kindred import"):
        DuckDBEventStore(path)


def test_close_folds_the_write_ahead_log_into_the_file(tmp_path: Path) -> None:
    path = tmp_path / "kindred.duckdb"
    store = DuckDBEventStore(path)
    store.write(WriteBatch(events=[viewed(n) for n in range(100)]))
    wal = tmp_path / "kindred.duckdb.wal"
    assert wal.stat().st_size > 0

    store.close()

    assert not wal.exists() or wal.stat().st_size == 0


def persons_by_raw_id(store: DuckDBEventStore) -> dict[str, set[int]]:
    """The person key each raw id's events count as in reports: the override, else the stored."""
    rows = store.fetch(
        "read persons",
        """SELECT e.distinct_id, coalesce(o.person_key, e.person_key) FROM events e
           LEFT JOIN person_overrides o ON o.project_id = e.project_id AND o.id_key = e.id_key""",
    )
    persons: dict[str, set[int]] = {}
    for raw, person in rows:
        persons.setdefault(raw, set()).add(person)
    return persons


def test_events_keep_the_key_of_their_person_and_overrides_re_point_them(tmp_path: Path) -> None:
    store = DuckDBEventStore(tmp_path / "kindred.duckdb")
    device = EventRecord("Viewed", "$device:d1", T0, "", {})
    user = EventRecord("Bought", "u1", T0 + 1, "", {})
    anonymous = EventRecord("Pinged", "", T0 + 2, "", {})
    store.write(WriteBatch(events=[(1, 0, device), (1, 1, user), (1, 2, anonymous)]))
    # A later event of the device, written after it was identified as u1.
    store.write(WriteBatch(events=[(1, 3, device)], persons={3: "u1"}))
    assert persons_by_raw_id(store) == {
        "$device:d1": {id_key("$device:d1"), id_key("u1")},
        "u1": {id_key("u1")},
        "": {0},
    }

    store.write(WriteBatch(overrides=[(1, "$device:d1", "u1")]))
    assert persons_by_raw_id(store)["$device:d1"] == {id_key("u1")}

    assert store.compact_person_overrides() == 1
    assert store.fetch("count", "SELECT count(*) FROM person_overrides") == [(0,)]
    assert persons_by_raw_id(store)["$device:d1"] == {id_key("u1")}
    store.close()


def test_keys_computed_ahead_are_taken_from_the_batch(tmp_path: Path) -> None:
    store = DuckDBEventStore(tmp_path / "kindred.duckdb")
    events = [
        (1, 0, EventRecord("Viewed", "u1", T0, "", {})),
        (1, 1, EventRecord("Viewed", "u2", T0, "", {})),
    ]

    # The pipeline computes them with id_key; a made-up one shows which the store used.
    store.write(WriteBatch(events=events, id_keys={"u1": 7}))

    assert persons_by_raw_id(store) == {"u1": {7}, "u2": {id_key("u2")}}
    store.close()


def test_the_last_override_of_an_id_in_a_batch_wins(tmp_path: Path) -> None:
    store = DuckDBEventStore(tmp_path / "kindred.duckdb")
    store.write(WriteBatch(events=[(1, 0, EventRecord("Viewed", "d", T0, "", {}))]))
    store.write(WriteBatch(overrides=[(1, "d", "u1"), (1, "d", "u2"), (2, "d", "u3")]))

    assert persons_by_raw_id(store) == {"d": {id_key("u2")}}
    store.close()


def test_keys_are_stable_and_the_empty_id_is_zero() -> None:
    # Stored keys outlive processes and versions: these values must never change.
    assert id_key("") == 0
    assert id_key("u1") == id_key("u1") != id_key("u2")
    assert id_key("u1") == -3068554161859749486
