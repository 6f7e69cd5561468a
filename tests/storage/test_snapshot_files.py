"""Identity snapshots in files beside the DuckDB database, named by the database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kindred.storage.duckdb_store import DuckDBEventStore
from kindred.storage.errors import TransientStorageError
from kindred.storage.snapshot_files import SnapshotFiles

P1, P2 = 1, 2


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DuckDBEventStore]:
    opened = DuckDBEventStore(tmp_path / "kindred.duckdb")
    yield opened
    opened.close()


def snapshot_dir(tmp_path: Path) -> Path:
    return tmp_path / "kindred.duckdb.identity"


def loaded(store: DuckDBEventStore, project_id: int) -> bytes | None:
    chunks = store.load_identity_snapshot(project_id)
    return None if chunks is None else b"".join(chunks)


def test_each_project_keeps_one_file_and_no_partial_one(
    store: DuckDBEventStore, tmp_path: Path
) -> None:
    store.save_identity_snapshot(P1, [b"one"], last_seq=3)
    store.save_identity_snapshot(P2, [b"other"], last_seq=4)
    store.save_identity_snapshot(P1, [b"two"], last_seq=8)

    names = sorted(path.name for path in snapshot_dir(tmp_path).iterdir())
    assert names == ["1-8.snapshot", "2-4.snapshot"]
    assert loaded(store, P1) == b"two"


def test_a_large_snapshot_comes_back_in_bounded_chunks(store: DuckDBEventStore) -> None:
    snapshot = bytes(range(256)) * 100_000  # 25.6 MB
    store.save_identity_snapshot(P1, [snapshot[:5], snapshot[5:]], last_seq=1)

    chunks = store.load_identity_snapshot(P1)

    assert chunks is not None
    sizes = [len(chunk) for chunk in chunks]
    assert max(sizes) == 8 << 20
    assert sum(sizes) == len(snapshot)


def test_a_failed_save_leaves_the_previous_file_and_no_partial_one(
    store: DuckDBEventStore, tmp_path: Path
) -> None:
    store.save_identity_snapshot(P1, [b"kept"], last_seq=3)

    def failing() -> Iterator[bytes]:
        yield b"half"
        raise RuntimeError("snapshot failed")

    with pytest.raises(RuntimeError):
        store.save_identity_snapshot(P1, failing(), last_seq=9)

    assert [path.name for path in snapshot_dir(tmp_path).iterdir()] == ["1-3.snapshot"]
    assert loaded(store, P1) == b"kept"


def test_a_file_the_database_does_not_name_is_not_the_snapshot(
    store: DuckDBEventStore, tmp_path: Path
) -> None:
    # A crash after the file's rename and before the row names it; or a database restored from a
    # backup beside newer files: either way the database's own snapshot is the one to load.
    store.save_identity_snapshot(P1, [b"named"], last_seq=3)
    SnapshotFiles(snapshot_dir(tmp_path)).save(P1, [b"newer"], last_seq=9)

    assert loaded(store, P1) == b"named"


def test_a_missing_file_means_no_snapshot_so_the_log_is_replayed(
    store: DuckDBEventStore, tmp_path: Path
) -> None:
    store.save_identity_snapshot(P1, [b"gone"], last_seq=3)
    (snapshot_dir(tmp_path) / "1-3.snapshot").unlink()

    assert store.load_identity_snapshot(P1) is None


def test_a_directory_that_cannot_be_written_is_a_storage_error(tmp_path: Path) -> None:
    blocked = tmp_path / "kindred.duckdb.identity"
    blocked.write_text("a file where the snapshot directory should be")
    store = DuckDBEventStore(tmp_path / "kindred.duckdb")
    try:
        with pytest.raises(TransientStorageError, match="check free disk space and permissions"):
            store.save_identity_snapshot(P1, [b"x"], last_seq=1)
    finally:
        store.close()
