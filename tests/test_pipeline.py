"""The single writer, over the in-memory stores: identity at ingestion, profiles, failed writes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kindred.identity import IdentityMode
from kindred.ingest.model import EventRecord, ProfileUpdate
from kindred.pipeline import Pipeline, Submission
from kindred.storage.base import Project, WriteBatch
from kindred.storage.memory import MemoryEventStore, MemoryMetadataStore

T0_MS = 1_700_000_000_000


class FailingOnceStore(MemoryEventStore):
    """A store whose next write fails, as a full disk would."""

    def __init__(self) -> None:
        super().__init__()
        self.fail_next = False

    def write(self, batch: WriteBatch) -> None:
        if self.fail_next:
            self.fail_next = False
            raise OSError("disk full")
        super().write(batch)


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
