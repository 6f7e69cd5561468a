"""Unmerge through the single writer: withdraw an identity event by its `$insert_id`."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from kindred.errors import NotFoundError
from kindred.identity import (
    ERR_ANON_ASSIGNED_ALREADY,
    IdentityInput,
    IdentityMode,
    Withdrawal,
    new_engine,
)
from kindred.ingest.model import EventRecord
from kindred.pipeline import Pipeline, Submission, UnknownInsertIdError, Unmerge
from kindred.storage.base import Project, WriteBatch
from kindred.storage.memory import MemoryEventStore, MemoryMetadataStore

T0_MS = 1_700_000_000_000
DEVICE = "00000000-0000-4000-8000-00000000000d"


class RecordingStore(MemoryEventStore):
    """A memory store that keeps every batch it wrote."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[WriteBatch] = []

    def write(self, batch: WriteBatch) -> None:
        super().write(batch)
        self.batches.append(batch)


@pytest.fixture
def store() -> RecordingStore:
    return RecordingStore()


@pytest.fixture
def pipeline(store: RecordingStore) -> Iterator[Pipeline]:
    running = Pipeline(store, MemoryMetadataStore(), flush_interval_seconds=0)
    running.start()
    yield running
    running.stop()


@pytest.fixture
def project(pipeline: Pipeline) -> Project:
    return pipeline.meta.create_project(
        "p", token="t", secret="s", identity_mode=IdentityMode.ORIGINAL
    )


def identify(user: str, at: int, insert_id: str, anon: str = DEVICE) -> EventRecord:
    properties = {"$identified_id": user, "$anon_id": anon}
    return EventRecord("$identify", user, T0_MS + at, insert_id, properties)


def send(pipeline: Pipeline, project: Project, *events: EventRecord) -> None:
    pipeline.submit_nowait(Submission(project, events=list(events))).result()


def unmerge(pipeline: Pipeline, project: Project, insert_id: str) -> Unmerge:
    return asyncio.run(pipeline.withdraw(project, insert_id))


def test_unmerge_splits_the_ids_and_re_points_the_devices_events(
    pipeline: Pipeline, store: RecordingStore, project: Project
) -> None:
    send(pipeline, project, EventRecord("Viewed", DEVICE, T0_MS, "v1", {}))
    send(pipeline, project, identify("U1", 1, "merge-1"))
    assert pipeline.engines.get(project).resolve(DEVICE) == "U1"

    done = unmerge(pipeline, project, "merge-1")

    assert pipeline.engines.get(project).resolve(DEVICE) == DEVICE
    assert done.canonical_ids == {"U1": "U1", DEVICE: DEVICE}
    assert [inp.insert_id for inp in done.withdrawn] == ["merge-1"]
    batch = store.batches[-1]
    assert batch.events == []
    [(project_id, entry)] = batch.identity
    assert project_id == project.id
    assert isinstance(entry, Withdrawal) and entry.target == done.withdrawn[0]
    assert entry.seq > entry.target.seq
    assert (project.id, DEVICE, DEVICE) in batch.overrides


def test_unmerge_reports_the_refusals_it_turned_into_merges(
    pipeline: Pipeline, project: Project
) -> None:
    send(pipeline, project, identify("U1", 1, "to-u1"), identify("U2", 2, "to-u2"))
    [refused] = pipeline.engines.get(project).refused()
    assert refused.code == ERR_ANON_ASSIGNED_ALREADY

    done = unmerge(pipeline, project, "to-u1")

    [changed] = done.reclassified
    assert changed.input.insert_id == "to-u2" and changed.is_applied
    assert done.canonical_ids == {"U1": "U1", DEVICE: "U2"}


def test_unmerge_of_an_unknown_insert_id_is_a_404_that_writes_nothing(
    pipeline: Pipeline, store: RecordingStore, project: Project
) -> None:
    send(pipeline, project, identify("U1", 1, "merge-1"))
    written = len(store.batches)

    with pytest.raises(UnknownInsertIdError, match="'nope'") as raised:
        unmerge(pipeline, project, "nope")

    assert isinstance(raised.value, NotFoundError) and raised.value.status == 404
    assert "kindred identity show" in str(raised.value)
    assert all(len(batch) == 0 for batch in store.batches[written:])
    assert pipeline.engines.get(project).resolve(DEVICE) == "U1"


def test_an_input_can_be_withdrawn_only_once(pipeline: Pipeline, project: Project) -> None:
    send(pipeline, project, identify("U1", 1, "merge-1"))
    unmerge(pipeline, project, "merge-1")

    with pytest.raises(UnknownInsertIdError, match="withdrawn already"):
        unmerge(pipeline, project, "merge-1")


def test_unmerge_withdraws_every_copy_of_a_retried_event(
    pipeline: Pipeline, project: Project
) -> None:
    retried = identify("U1", 1, "merge-1")
    send(pipeline, project, retried)
    send(pipeline, project, retried)

    done = unmerge(pipeline, project, "merge-1")

    assert len(done.withdrawn) == 2
    assert pipeline.engines.get(project).resolve(DEVICE) == DEVICE


def test_an_unknown_insert_id_fails_its_own_submission_and_not_its_batch(
    store: RecordingStore,
) -> None:
    meta = MemoryMetadataStore()
    writer = Pipeline(store, meta, flush_interval_seconds=0)
    project = meta.create_project("p", token="t", secret="s", identity_mode=IdentityMode.ORIGINAL)
    # Queued before the writer starts, so that one flush takes all three.
    merged = writer.submit_nowait(Submission(project, events=[identify("U1", 1, "merge-1")]))
    failed = writer.submit_nowait(Submission(project, withdrawals=["nope"]))
    unmerged = writer.submit_nowait(Submission(project, withdrawals=["merge-1"]))
    writer.start()
    try:
        assert merged.result().events_stored == 1
        with pytest.raises(UnknownInsertIdError):
            failed.result()
        assert unmerged.result().unmerges[0].canonical_ids[DEVICE] == DEVICE
    finally:
        writer.stop()
    assert len(store.batches) == 1


def test_an_unmerge_survives_a_restart_from_the_log_and_from_a_snapshot(
    store: RecordingStore,
) -> None:
    meta = MemoryMetadataStore()
    first = Pipeline(store, meta, flush_interval_seconds=0)
    project = meta.create_project("p", token="t", secret="s", identity_mode=IdentityMode.ORIGINAL)
    first.start()
    send(first, project, identify("U1", 1, "merge-1"))
    unmerge(first, project, "merge-1")

    from_log = Pipeline(store, meta, flush_interval_seconds=0)
    assert from_log.engines.get(project).resolve(DEVICE) == DEVICE
    first.stop()
    assert store.load_identity_snapshot(project.id) is not None
    from_snapshot = Pipeline(store, meta, flush_interval_seconds=0)
    assert from_snapshot.engines.get(project).resolve(DEVICE) == DEVICE


# --- The engine's look-up by $insert_id --------------------------------------------------------


def test_inputs_with_insert_id_matches_whole_insert_ids_only() -> None:
    engine = new_engine(IdentityMode.ORIGINAL)
    inputs = [
        IdentityInput.merge("a", "b", time_ms=1, seq=1, insert_id="xab"),
        IdentityInput.merge("c", "d", time_ms=2, seq=2, insert_id=""),
        IdentityInput.merge("e", "f", time_ms=3, seq=3, insert_id="ab"),
        IdentityInput.merge("g", "h", time_ms=4, seq=4, insert_id="abx"),
        IdentityInput.merge("i", "j", time_ms=5, seq=5, insert_id="ab"),
    ]
    for inp in inputs:
        engine.apply(inp)

    assert engine.inputs_with_insert_id("ab") == (inputs[2], inputs[4])
    assert engine.inputs_with_insert_id("b") == ()
    assert engine.inputs_with_insert_id("") == ()
    assert engine.inputs_with_insert_id("xab") == (inputs[0],)

    engine.withdraw(inputs[2])
    assert engine.inputs_with_insert_id("ab") == (inputs[4],)


def test_largest_clusters_and_refusal_counts_summarise_the_engine() -> None:
    engine = new_engine(IdentityMode.ORIGINAL, max_cluster_size=3)
    for seq, (first, second) in enumerate([("a", "b"), ("a", "c"), ("x", "y"), ("a", "x")]):
        engine.apply(IdentityInput.merge(first, second, time_ms=seq, seq=seq))

    assert engine.largest_clusters(5) == [("a", 3), ("x", 2)]
    assert engine.largest_clusters(1) == [("a", 3)]
    assert engine.refusal_counts() == {"errManyIDs": 1}
