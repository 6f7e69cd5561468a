"""Snapshots in chunks: bounded pieces, the ids' text in frames, and the format before chunks."""

from __future__ import annotations

import sys
from array import array
from pathlib import Path

import orjson
import pytest

from kindred.identity import (
    IdentityEngine,
    IdentityInput,
    IdentityMode,
    engine as engine_module,
    new_engine,
    restore_engine,
)
from kindred.identity.model import InputKind
from kindred.storage.duckdb_store import DuckDBEventStore

T0_MS = 1_700_000_000_000


def engine_of(pairs: int, mode: IdentityMode = IdentityMode.ORIGINAL) -> IdentityEngine:
    """`pairs` users each joined to an anonymous id; in Original mode also a merge of two users,
    which the cap of 3 ids refuses, so that the snapshot carries a refusal."""
    engine = new_engine(mode, max_cluster_size=3)
    kind = next(
        k for k in (InputKind.IDENTIFY, InputKind.LINK, InputKind.CREATE_ALIAS) if k in engine.kinds
    )
    for n in range(pairs):
        ids = (f"user {n} ü", f"00000000-0000-4000-8000-{n:012d}")
        engine.apply(IdentityInput(kind, ids, T0_MS + n, 2 * n, f"insert-{n}"))
    if InputKind.MERGE in engine.kinds:
        engine.apply(IdentityInput.merge("user 0 ü", "user 1 ü", time_ms=T0_MS, seq=2 * pairs))
    return engine


def observed(engine: IdentityEngine, ids: list[str]) -> tuple[object, ...]:
    return (
        engine.mode,
        engine.last_seq,
        len(engine),
        {i: engine.resolve(i) for i in ids},
        {i: engine.members(i) for i in ids},
        [(o.input, o.code) for o in engine.refused()],
    )


def ids_of(pairs: int) -> list[str]:
    return [i for n in range(pairs) for i in (f"user {n} ü", f"00000000-0000-4000-8000-{n:012d}")]


def test_chunks_are_bounded_and_join_into_the_snapshot() -> None:
    engine = engine_of(40)

    chunks = list(engine.snapshot_chunks(100))

    assert all(len(chunk) == 100 for chunk in chunks[:-1])
    assert 0 < len(chunks[-1]) <= 100
    assert b"".join(chunks) == engine.snapshot()


def test_ids_in_many_frames_and_tiny_chunks_restore_the_same_engine(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(engine_module, "_IDS_PER_FRAME", 3)  # 80 ids: 27 frames, the last short
    engine = engine_of(40)

    restored = restore_engine(engine.snapshot_chunks(7))

    assert observed(restored, ids_of(40)) == observed(engine, ids_of(40))
    assert len(restored.refused()) == 1


def test_a_snapshot_cut_short_is_refused_not_half_restored() -> None:
    chunks = list(engine_of(40).snapshot_chunks(64))

    with pytest.raises(ValueError, match="cut short"):
        restore_engine(chunks[:-1])


def format_1_snapshot(engine: IdentityEngine) -> bytes:
    """The snapshot as kindred wrote it before chunks: one blob whose header lists part sizes."""
    n_ids, n_inputs = len(engine._ids), engine._input_count
    columns = [
        bytes(getattr(engine, name)[: n_ids if name in engine_module._ID_COLUMNS else n_inputs])
        for name in engine_module._COLUMNS
    ]
    index = engine._index
    parts = [
        *columns,
        bytes(engine._insert_ids),
        bytes(array("q", map(len, engine._ids))),
        "".join(engine._ids).encode(),
        bytes(array("i", map(index.__getitem__, engine._canonical))),
        bytes(array("i", map(index.__getitem__, engine._canonical.values()))),
    ]
    header = orjson.dumps(
        {
            "format": 1,
            "mode": str(engine.mode),
            "max_cluster_size": engine.max_cluster_size,
            "last_seq": engine.last_seq,
            "byteorder": sys.byteorder,
            "sizes": [len(part) for part in parts],
            "refusals": [[i, sentence] for i, sentence in engine._refusals.items()],
        }
    )
    return b"".join([b"KINDRED-IDENTITY\n", len(header).to_bytes(8, "little"), header, *parts])


@pytest.mark.parametrize("mode", list(IdentityMode))
@pytest.mark.parametrize("pairs", [0, 40])
def test_a_snapshot_saved_whole_before_chunks_still_restores(
    mode: IdentityMode, pairs: int
) -> None:
    engine = engine_of(pairs, mode)

    restored = restore_engine(format_1_snapshot(engine))

    assert observed(restored, ids_of(40)) == observed(engine, ids_of(40))
    assert restore_engine(engine.snapshot_chunks(5)).snapshot() == engine.snapshot()


def test_the_duckdb_store_reads_a_snapshot_row_saved_whole_before_chunks(tmp_path: Path) -> None:
    engine = engine_of(40)
    store = DuckDBEventStore(tmp_path / "kindred.duckdb")
    try:
        with store._cursor("write a snapshot the way kindred did before chunks") as cursor:
            cursor.execute(
                "INSERT INTO identity_snapshots VALUES (?, ?, ?)",
                [1, engine.last_seq, format_1_snapshot(engine)],
            )
        chunks = store.load_identity_snapshot(1)
        assert chunks is not None
        restored = restore_engine(chunks)

        store.save_identity_snapshot(1, restored.snapshot_chunks(1000), last_seq=restored.last_seq)
        saved = store.load_identity_snapshot(1)
        assert saved is not None
        assert observed(restore_engine(saved), ids_of(40)) == observed(engine, ids_of(40))
    finally:
        store.close()
