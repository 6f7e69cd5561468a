"""The single writer, over the in-memory stores: identity at ingestion, profiles, failed writes."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import replace

import pytest

from kindred import pipeline as pipeline_module
from kindred.identity import IdentityMode
from kindred.ingest.model import EventRecord, ProfileUpdate
from kindred.pipeline import Pipeline, Submission
from kindred.storage.base import Project, WriteBatch
from kindred.storage.errors import TransientStorageError
from kindred.storage.keys import id_key
from kindred.storage.memory import MemoryEventStore, MemoryMetadataStore

T0_MS = 1_700_000_000_000


class FailingOnceStore(MemoryEventStore):
    """A store whose next write fails, as a full disk would; it keeps every batch it wrote."""

    def __init__(self) -> None:
        super().__init__()
        self.fail_next = False
        self.batches: list[WriteBatch] = []

    def write(self, batch: WriteBatch) -> None:
        if self.fail_next:
            self.fail_next = False
            raise OSError("disk full")
        super().write(batch)
        self.batches.append(batch)


@pytest.fixture
def store() -> FailingOnceStore:
    return FailingOnceStore()


@pytest.fixture
def pipeline(store: FailingOnceStore) -> Iterator[Pipeline]:
    running = Pipeline(store, MemoryMetadataStore(), flush_interval_seconds=0)
    running.start()
    yield running
    running.stop()


def project_in(pipeline: Pipeline, mode: IdentityMode) -> Project:
    return pipeline.meta.create_project(
        f"p-{mode}", token=f"t-{mode}", secret="s", identity_mode=mode
    )


def event(name: str, distinct_id: str, at: int, **properties: object) -> EventRecord:
    return EventRecord(name, distinct_id, T0_MS + at, f"i{at}", dict(properties))


def stored_ids(store: MemoryEventStore, project: Project) -> list[tuple[str, str]]:
    events = store.events(project.id, from_ms=0, to_ms=2**62)
    return [(e.event, e.distinct_id) for e in events]


def test_legacy_stores_the_id_an_alias_resolves_to_when_the_event_arrives(
    pipeline: Pipeline, store: MemoryEventStore
) -> None:
    project = project_in(pipeline, IdentityMode.LEGACY)
    events = [
        event("Before", "sally", 1),
        event("$create_alias", "A", 2, alias="sally"),
        event("After", "sally", 3),
    ]

    pipeline.submit_nowait(Submission(project, events=events)).result()

    assert stored_ids(store, project) == [
        ("Before", "sally"),
        ("$create_alias", "A"),
        ("After", "A"),
    ]


def test_profile_update_to_a_merged_device_lands_on_the_users_profile(
    pipeline: Pipeline, store: MemoryEventStore
) -> None:
    project = project_in(pipeline, IdentityMode.ORIGINAL)
    device = "00000000-0000-4000-8000-000000000001"
    identify = event("$identify", "U1", 1, **{"$identified_id": "U1", "$anon_id": device})
    updates = [
        ProfileUpdate("U1", "$set", {"plan": "pro"}, T0_MS + 2),
        ProfileUpdate(device, "$set", {"seen": True}, T0_MS + 3),
    ]

    pipeline.submit_nowait(Submission(project, events=[identify], profile_updates=updates)).result()

    profiles = store.profiles(project.id, ["U1", device])
    assert list(profiles) == ["U1"]
    assert profiles["U1"].properties["plan"] == "pro"
    assert profiles["U1"].properties["seen"] is True


def test_a_failed_write_acknowledges_nothing_and_leaves_identity_as_stored(
    pipeline: Pipeline, store: FailingOnceStore
) -> None:
    project = project_in(pipeline, IdentityMode.ORIGINAL)
    device = "00000000-0000-4000-8000-000000000002"
    identify = event("$identify", "U1", 1, **{"$identified_id": "U1", "$anon_id": device})

    store.fail_next = True
    with pytest.raises(OSError, match="disk full"):
        pipeline.submit_nowait(Submission(project, events=[identify])).result()

    assert stored_ids(store, project) == []
    assert pipeline.engines.get(project).resolve(device) == device

    pipeline.submit_nowait(Submission(project, events=[identify])).result()
    assert pipeline.engines.get(project).resolve(device) == "U1"


class SnapshotFailingStore(MemoryEventStore):
    """A store whose snapshot saves fail, as a full disk would."""

    def __init__(self) -> None:
        super().__init__()
        self.attempts = 0

    def save_identity_snapshot(
        self, project_id: int, chunks: Iterable[bytes], *, last_seq: int
    ) -> None:
        self.attempts += 1
        raise TransientStorageError("could not save the identity snapshot: disk full")


def test_a_failed_periodic_snapshot_leaves_the_writer_running(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(pipeline_module, "SNAPSHOT_EVERY_ENTRIES", 2)
    store = SnapshotFailingStore()
    meta = MemoryMetadataStore()
    running = Pipeline(store, meta, flush_interval_seconds=0)
    running.start()
    project = meta.create_project("p", token="t", secret="s", identity_mode=IdentityMode.ORIGINAL)
    device = "00000000-0000-4000-8000-000000000001"
    try:
        for n in range(1, 7):  # six identity entries on the same two ids: the engine stays small
            identify = event("$identify", "U1", n, **{"$identified_id": "U1", "$anon_id": device})
            result = running.submit_nowait(Submission(project, events=[identify])).result(
                timeout=10
            )
            assert result.events_stored == 1
    finally:
        with pytest.raises(TransientStorageError):
            running.stop()  # the save on stopping reports its failure

    # Due after entries 2, 4 and 6, then on stopping; not after every flush once due.
    assert store.attempts == 4
    assert [name for name, _ in stored_ids(store, project)] == ["$identify"] * 6


def test_stopping_saves_identity_snapshots_that_the_next_start_loads(
    store: FailingOnceStore,
) -> None:
    meta = MemoryMetadataStore()
    first = Pipeline(store, meta, flush_interval_seconds=0)
    first.start()
    project = meta.create_project("p", token="t", secret="s", identity_mode=IdentityMode.ORIGINAL)
    device = "00000000-0000-4000-8000-000000000003"
    identify = event("$identify", "U1", 1, **{"$identified_id": "U1", "$anon_id": device})
    first.submit_nowait(Submission(project, events=[identify])).result()
    first.stop()

    assert store.load_identity_snapshot(project.id) is not None
    second = Pipeline(store, meta, flush_interval_seconds=0)
    assert second.engines.get(project).resolve(device) == "U1"


class CutShortSnapshotStore(MemoryEventStore):
    """A store whose snapshots come back without their last chunk, as from a damaged disk."""

    def load_identity_snapshot(self, project_id: int) -> Iterator[bytes] | None:
        chunks = super().load_identity_snapshot(project_id)
        return None if chunks is None else iter(list(chunks)[:-1])


def test_a_snapshot_cut_short_is_replaced_by_the_log_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store, meta = CutShortSnapshotStore(), MemoryMetadataStore()
    first = Pipeline(store, meta, flush_interval_seconds=0)
    first.start()
    project = meta.create_project("p", token="t", secret="s", identity_mode=IdentityMode.ORIGINAL)
    device = "00000000-0000-4000-8000-000000000004"
    identify = event("$identify", "U1", 1, **{"$identified_id": "U1", "$anon_id": device})
    first.submit_nowait(Submission(project, events=[identify])).result(timeout=10)
    first.stop()

    second = Pipeline(store, meta, flush_interval_seconds=0)
    with caplog.at_level("WARNING", logger="kindred.pipeline"):
        assert second.engines.get(project).resolve(device) == "U1"
    assert "cut short" in caplog.text and "replaying its identity log" in caplog.text


def test_events_carry_their_person_and_a_merge_re_points_the_ids_it_renamed(
    pipeline: Pipeline, store: FailingOnceStore
) -> None:
    project = project_in(pipeline, IdentityMode.ORIGINAL)
    device = "00000000-0000-4000-8000-000000000004"
    before = event("Viewed", device, 1)
    identify = event("$identify", "U1", 2, **{"$identified_id": "U1", "$anon_id": device})
    after = event("Bought", device, 3)

    pipeline.submit_nowait(Submission(project, events=[before])).result()
    pipeline.submit_nowait(Submission(project, events=[identify, after])).result()

    first, second = store.batches
    assert first.persons == {} and first.overrides == []
    identify_seq, after_seq = (seq for _, seq, _ in second.events)
    assert second.persons == {after_seq: "U1"}  # "U1" raw is its own person: not listed
    # A superset is harmless: U1 is re-pointed at itself.
    assert (project.id, device, "U1") in second.overrides
    assert {person for _, _, person in second.overrides} == {"U1"}


def test_the_submitting_thread_encodes_properties_and_keys_ahead_of_the_writer(
    pipeline: Pipeline, store: FailingOnceStore
) -> None:
    project = project_in(pipeline, IdentityMode.ORIGINAL)
    events = [event("Viewed", "u1", 1, plan="pro"), event("Viewed", "u2", 2), event("Left", "", 3)]
    submission = Submission(project, events=events)

    pipeline.submit_nowait(submission).result()

    (batch,) = store.batches
    assert batch.id_keys == {"u1": id_key("u1"), "u2": id_key("u2"), "": 0}
    assert [record._properties_json for record in events] == ['{"plan":"pro"}', "{}", "{}"]


def test_a_replaced_record_encodes_its_own_properties() -> None:
    record = event("Viewed", "u1", 1, plan="pro")
    assert record.properties_json() == '{"plan":"pro"}'

    changed = replace(record, properties={"plan": "team"})

    assert changed.properties_json() == '{"plan":"team"}'


def test_legacy_writes_no_overrides_since_its_aliases_are_not_retroactive(
    pipeline: Pipeline, store: FailingOnceStore
) -> None:
    project = project_in(pipeline, IdentityMode.LEGACY)
    events = [event("$create_alias", "A", 1, alias="sally"), event("After", "sally", 2)]

    pipeline.submit_nowait(Submission(project, events=events)).result()

    (batch,) = store.batches
    assert batch.overrides == [] and batch.persons == {}


def test_overrides_are_folded_once_enough_have_been_written(store: FailingOnceStore) -> None:
    meta = MemoryMetadataStore()
    pipeline = Pipeline(store, meta, flush_interval_seconds=0, fold_after_idle_seconds=60)
    project = meta.create_project("p", token="t", secret="s", identity_mode=IdentityMode.ORIGINAL)
    pipeline.start()
    devices = [f"00000000-0000-4000-8000-{n:012d}" for n in range(3)]
    try:
        for n, device in enumerate(devices):
            props = {"$identified_id": "U1", "$anon_id": device}
            identify = event("$identify", "U1", n, **props)
            pipeline.submit_nowait(Submission(project, events=[identify])).result()
    finally:
        pipeline.stop()

    # The first flush folds whatever a previous run left; the next overrides wait for more.
    assert store.compact_person_overrides() == 2


def test_overrides_are_folded_when_the_writer_is_idle(store: FailingOnceStore) -> None:
    meta = MemoryMetadataStore()
    pipeline = Pipeline(store, meta, flush_interval_seconds=0, fold_after_idle_seconds=0.05)
    project = meta.create_project("p", token="t", secret="s", identity_mode=IdentityMode.ORIGINAL)
    pipeline.start()
    device = "00000000-0000-4000-8000-000000000009"
    identify = event("$identify", "U1", 1, **{"$identified_id": "U1", "$anon_id": device})
    try:
        pipeline.submit_nowait(Submission(project, events=[identify])).result()
        time.sleep(0.5)  # ten idle windows
    finally:
        pipeline.stop()

    assert store.batches[-1].overrides  # the identify wrote overrides...
    assert store.compact_person_overrides() == 0  # ...which the idle writer folded
