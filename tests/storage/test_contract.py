"""One suite for every backend: what `EventStore` and `MetadataStore` promise in storage/base.py.

Each test takes a store from a fixture parametrized over the backends; a backend added later
(PostgreSQL, ClickHouse) joins by adding a param. Tests of reopening a store run over the backends
that keep their data in a file.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kindred.identity.model import IdentityInput, IdentityMode, Withdrawal
from kindred.ingest.model import EventRecord
from kindred.storage.base import (
    EventStore,
    IdentityEntry,
    MetadataStore,
    Project,
    ServiceAccount,
    StoredEvent,
    StoredProfile,
    WriteBatch,
)
from kindred.storage.duckdb_store import DuckDBEventStore
from kindred.storage.errors import (
    PermanentStorageError,
    ProjectExistsError,
    ProjectHasDataError,
    ServiceAccountExistsError,
    UnknownProjectError,
)
from kindred.storage.memory import MemoryEventStore, MemoryMetadataStore
from kindred.storage.sqlite_meta import SQLiteMetadataStore

T0 = 1_700_000_000_000
P1, P2 = 1, 2
D1 = "00000000-0000-4000-8000-000000000001"

OpenEventStore = Callable[[], EventStore]
OpenMetadataStore = Callable[[], MetadataStore]

EVENT_BACKENDS: dict[str, Callable[[Path], EventStore]] = {
    "memory": lambda _: MemoryEventStore(),
    "duckdb": lambda directory: DuckDBEventStore(directory / "kindred.duckdb"),
}
FILE_EVENT_BACKENDS = ["duckdb"]
METADATA_BACKENDS: dict[str, Callable[[Path], MetadataStore]] = {
    "memory": lambda _: MemoryMetadataStore(),
    "sqlite": lambda directory: SQLiteMetadataStore(directory / "meta.sqlite"),
}
FILE_METADATA_BACKENDS = ["sqlite"]


def opener(make: Callable[[Path], Any], directory: Path) -> tuple[Callable[[], Any], list[Any]]:
    opened: list[Any] = []

    def open_store() -> Any:
        opened.append(make(directory))
        return opened[-1]

    return open_store, opened


@pytest.fixture(params=[pytest.param(name, id=name) for name in EVENT_BACKENDS])
def open_events(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OpenEventStore]:
    """Opens the backend's store; every call on a file backend opens the same file."""
    open_store, opened = opener(EVENT_BACKENDS[request.param], tmp_path)
    yield open_store
    for store in opened:
        store.close()


@pytest.fixture(params=[pytest.param(name, id=name) for name in FILE_EVENT_BACKENDS])
def open_file_events(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OpenEventStore]:
    open_store, opened = opener(EVENT_BACKENDS[request.param], tmp_path)
    yield open_store
    for store in opened:
        store.close()


@pytest.fixture
def store(open_events: OpenEventStore) -> EventStore:
    return open_events()


@pytest.fixture(params=[pytest.param(name, id=name) for name in METADATA_BACKENDS])
def open_meta(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OpenMetadataStore]:
    open_store, opened = opener(METADATA_BACKENDS[request.param], tmp_path)
    yield open_store
    for store in opened:
        store.close()


@pytest.fixture(params=[pytest.param(name, id=name) for name in FILE_METADATA_BACKENDS])
def open_file_meta(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OpenMetadataStore]:
    open_store, opened = opener(METADATA_BACKENDS[request.param], tmp_path)
    yield open_store
    for store in opened:
        store.close()


@pytest.fixture
def meta(open_meta: OpenMetadataStore) -> MetadataStore:
    return open_meta()


def event(
    seq: int,
    *,
    time_ms: int = T0,
    name: str = "Viewed",
    distinct_id: str = "u1",
    insert_id: str = "",
    properties: dict[str, Any] | None = None,
    project_id: int = P1,
) -> tuple[int, int, EventRecord]:
    record = EventRecord(name, distinct_id, time_ms, insert_id, properties or {"n": seq})
    return project_id, seq, record


def seqs(events: Iterator[StoredEvent]) -> list[int]:
    return [stored.seq for stored in events]


def all_events(store: EventStore, project_id: int = P1, **kwargs: Any) -> list[StoredEvent]:
    return list(store.events(project_id, from_ms=0, to_ms=2**62, **kwargs))


def new_project(meta: MetadataStore, name: str = "web", **kwargs: Any) -> Project:
    values = {"token": f"token-{name}", "secret": f"secret-{name}"} | kwargs
    values.setdefault("identity_mode", IdentityMode.ORIGINAL)
    return meta.create_project(name, **values)


# Events


def test_an_empty_store_has_no_seq(store: EventStore) -> None:
    assert store.max_seq() == -1
    assert all_events(store) == []


def test_events_keep_every_field(store: EventStore) -> None:
    properties = {
        "plan": "pro",
        "city": "Zürich ☃",
        "price": 19.99,
        "count": 2**53,
        "is_trial": False,
        "missing": None,
        "tags": ["a", "b"],
        "nested": {"list": [1, {"deep": "x"}]},
    }
    record = EventRecord("Signed Up", "user ☃ 1", T0 + 5, "ins-1", properties)
    anonymous = EventRecord("Viewed", "", T0 + 6, "", {})

    store.write(WriteBatch(events=[(P1, 7, record), (P1, 8, anonymous)]))

    assert all_events(store) == [
        StoredEvent(P1, 7, "Signed Up", "user ☃ 1", T0 + 5, "ins-1", properties),
        StoredEvent(P1, 8, "Viewed", "", T0 + 6, "", {}),
    ]


def test_events_come_oldest_first_with_ties_broken_by_seq(store: EventStore) -> None:
    store.write(WriteBatch(events=[event(5, time_ms=T0 + 2), event(3, time_ms=T0 + 1)]))
    store.write(WriteBatch(events=[event(9, time_ms=T0), event(4, time_ms=T0 + 1)]))
    store.write(WriteBatch(events=[event(1, time_ms=T0 + 2)]))

    assert seqs(iter(all_events(store))) == [9, 3, 4, 1, 5]


@pytest.mark.parametrize(
    ("from_ms", "to_ms", "expected"),
    [
        pytest.param(T0, T0 + 3, [0, 1, 2], id="whole-range"),
        pytest.param(T0 + 1, T0 + 3, [1, 2], id="from-is-inclusive"),
        pytest.param(T0, T0 + 2, [0, 1], id="to-is-exclusive"),
        pytest.param(T0 + 1, T0 + 2, [1], id="one-millisecond"),
        pytest.param(T0 + 1, T0 + 1, [], id="empty-range"),
        pytest.param(T0 + 3, T0 + 9, [], id="after-the-last"),
    ],
)
def test_events_are_read_by_time_range(
    store: EventStore, from_ms: int, to_ms: int, expected: list[int]
) -> None:
    store.write(WriteBatch(events=[event(n, time_ms=T0 + n) for n in range(3)]))

    assert seqs(store.events(P1, from_ms=from_ms, to_ms=to_ms)) == expected


def test_events_are_read_per_project(store: EventStore) -> None:
    store.write(WriteBatch(events=[event(0), event(1, project_id=P2), event(2)]))

    assert seqs(iter(all_events(store, P1))) == [0, 2]
    assert seqs(iter(all_events(store, P2))) == [1]
    assert all_events(store, 3) == []


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        pytest.param(None, [0, 1, 2, 3], id="no-filter"),
        pytest.param(["A"], [0, 2], id="one-name"),
        pytest.param(["A", "C"], [0, 2, 3], id="two-names"),
        pytest.param(("B",), [1], id="a-tuple"),
        pytest.param(["Z"], [], id="unknown-name"),
        pytest.param([], [], id="empty-list-matches-nothing"),
    ],
)
def test_events_are_filtered_by_name(
    store: EventStore, names: list[str] | None, expected: list[int]
) -> None:
    batch = [event(0, name="A"), event(1, name="B"), event(2, name="A"), event(3, name="C")]
    store.write(WriteBatch(events=batch))

    assert seqs(iter(all_events(store, names=names))) == expected


@pytest.mark.parametrize(
    ("limit", "expected"),
    [
        pytest.param(None, [0, 1, 2, 3], id="no-limit"),
        pytest.param(0, [], id="zero"),
        pytest.param(1, [0], id="one"),
        pytest.param(3, [0, 1, 2], id="fewer-than-stored"),
        pytest.param(100, [0, 1, 2, 3], id="more-than-stored"),
    ],
)
def test_events_stop_at_the_limit_oldest_first(
    store: EventStore, limit: int | None, expected: list[int]
) -> None:
    store.write(WriteBatch(events=[event(n, time_ms=T0 + n) for n in (3, 2, 1, 0)]))

    assert seqs(iter(all_events(store, limit=limit))) == expected


def test_limit_applies_after_the_name_filter(store: EventStore) -> None:
    names = ["A", "B", "A", "B", "A"]
    store.write(WriteBatch(events=[event(n, name=name) for n, name in enumerate(names)]))

    assert seqs(iter(all_events(store, names=["A"], limit=2))) == [0, 2]


def test_a_negative_limit_is_refused(store: EventStore) -> None:
    with pytest.raises(ValueError, match="limit"):
        all_events(store, limit=-1)


def test_every_copy_of_a_duplicate_event_is_returned(store: EventStore) -> None:
    copy = event(0, insert_id="same", properties={"x": 1})[2]
    store.write(WriteBatch(events=[(P1, 0, copy), (P1, 1, copy)]))
    store.write(WriteBatch(events=[(P1, 2, copy)]))

    found = all_events(store)

    assert seqs(iter(found)) == [0, 1, 2]
    assert {(e.insert_id, e.time_ms) for e in found} == {("same", T0)}


def test_two_streams_read_side_by_side(store: EventStore) -> None:
    store.write(WriteBatch(events=[event(n, time_ms=T0 + n) for n in range(5000)]))

    first = store.events(P1, from_ms=T0, to_ms=T0 + 5000)
    second = store.events(P1, from_ms=T0 + 2500, to_ms=T0 + 5000)
    pairs = list(zip(first, second, strict=False))

    assert [(a.seq, b.seq) for a, b in pairs] == [(n, 2500 + n) for n in range(2500)]
    assert seqs(first) == list(range(2501, 5000))  # zip took one more from `first`


def test_an_empty_batch_writes_nothing(store: EventStore) -> None:
    store.write(WriteBatch())

    assert store.max_seq() == -1


def test_a_batch_with_a_value_that_is_not_json_writes_nothing(store: EventStore) -> None:
    good = event(0)
    bad = event(1, properties={"when": object()})
    profile = (P1, "u1", {"a": 1}, T0)

    with pytest.raises(PermanentStorageError, match="event seq 1"):
        store.write(WriteBatch(events=[good, bad], profiles=[profile]))

    assert all_events(store) == []
    assert store.profiles(P1, ["u1"]) == {}


def test_readers_on_other_threads_see_whole_batches(store: EventStore) -> None:
    batch_size, batches = 200, 20
    done = threading.Event()
    seen: list[int] = []

    def read() -> None:
        while not done.is_set():
            seen.append(len(all_events(store)))

    readers = [threading.Thread(target=read) for _ in range(2)]
    for reader in readers:
        reader.start()
    for k in range(batches):
        first = k * batch_size
        store.write(WriteBatch(events=[event(n) for n in range(first, first + batch_size)]))
    done.set()
    for reader in readers:
        reader.join()

    assert seen
    assert all(count % batch_size == 0 for count in seen)
    assert len(all_events(store)) == batch_size * batches


def test_a_closed_store_refuses_reads_and_writes(open_events: OpenEventStore) -> None:
    store = open_events()
    store.close()

    with pytest.raises(PermanentStorageError, match="closed"):
        store.write(WriteBatch(events=[event(0)]))
    with pytest.raises(PermanentStorageError, match="closed"):
        store.max_seq()
    store.close()  # closing twice is harmless


# max_seq


@pytest.mark.parametrize(
    ("batch", "expected"),
    [
        pytest.param(WriteBatch(events=[event(4), event(2)]), 4, id="events"),
        pytest.param(WriteBatch(events=[event(0, project_id=P2), event(6)]), 6, id="any-project"),
        pytest.param(
            WriteBatch(
                events=[event(3)],
                identity=[(P1, IdentityInput.identify("U", D1, time_ms=T0, seq=3))],
            ),
            3,
            id="identity-input-with-its-event",
        ),
        pytest.param(
            WriteBatch(
                events=[event(3)],
                identity=[(P2, Withdrawal(IdentityInput.merge("a", "b", time_ms=T0, seq=1), 8))],
            ),
            8,
            id="withdrawal-after-the-last-event",
        ),
        pytest.param(WriteBatch(profiles=[(P1, "u1", {"a": 1}, T0)]), -1, id="profiles-have-none"),
    ],
)
def test_max_seq_is_the_highest_seq_of_events_and_identity_entries(
    store: EventStore, batch: WriteBatch, expected: int
) -> None:
    store.write(batch)

    assert store.max_seq() == expected


# Profiles


def test_a_profile_is_read_back_by_distinct_id(store: EventStore) -> None:
    store.write(WriteBatch(profiles=[(P1, "u1", {"$name": "Ann", "n": [1, 2]}, T0)]))

    assert store.profiles(P1, ["u1", "unknown"]) == {
        "u1": StoredProfile("u1", {"$name": "Ann", "n": [1, 2]}, T0)
    }
    assert store.profiles(P2, ["u1"]) == {}
    assert store.profiles(P1, []) == {}
    assert store.profiles(P1, {"u1"}) == store.profiles(P1, ("u1",))


@pytest.mark.parametrize(
    ("updates", "expected"),
    [
        pytest.param([[("u1", {"a": 1}, 1)], [("u1", {"b": 2}, 2)]], ({"b": 2}, 2), id="replace"),
        pytest.param([[("u1", {"a": 1}, 1)], [("u1", None, 2)]], None, id="delete"),
        pytest.param([[("u1", None, 1)]], None, id="delete-missing"),
        pytest.param(
            [[("u1", {"a": 1}, 1)], [("u1", None, 2)], [("u1", {"c": 3}, 3)]],
            ({"c": 3}, 3),
            id="recreate-after-delete",
        ),
        pytest.param(
            [[("u1", {"a": 1}, 1), ("u1", {"b": 2}, 2)]], ({"b": 2}, 2), id="last-in-batch-wins"
        ),
        pytest.param(
            [[("u1", {"a": 1}, 1)], [("u1", {"b": 2}, 2), ("u1", None, 3)]],
            None,
            id="set-then-delete-in-one-batch",
        ),
        pytest.param(
            [[("u1", {"a": 1}, 1)], [("u1", None, 2), ("u1", {"c": 3}, 3)]],
            ({"c": 3}, 3),
            id="delete-then-set-in-one-batch",
        ),
    ],
)
def test_profile_updates_replace_or_delete(
    store: EventStore,
    updates: list[list[tuple[str, dict[str, Any] | None, int]]],
    expected: tuple[dict[str, Any], int] | None,
) -> None:
    for batch in updates:
        store.write(WriteBatch(profiles=[(P1, d, props, ms) for d, props, ms in batch]))

    found = store.profiles(P1, ["u1"])

    assert found == ({} if expected is None else {"u1": StoredProfile("u1", *expected)})
    assert list(store.all_profiles(P1)) == list(found.values())


def test_all_profiles_come_ordered_by_distinct_id(store: EventStore) -> None:
    ids = ["u3", "u1", "b", "u2"]
    store.write(WriteBatch(profiles=[(P1, d, {"id": d}, T0) for d in ids]))
    store.write(WriteBatch(profiles=[(P2, "other", {}, T0), (P1, "u2", None, T0)]))

    assert [p.distinct_id for p in store.all_profiles(P1)] == ["b", "u1", "u3"]
    assert [p.properties for p in store.all_profiles(P2)] == [{}]
    assert list(store.all_profiles(3)) == []


# Group profiles


def test_a_group_profile_is_read_back_by_key_and_id(store: EventStore) -> None:
    store.write(
        WriteBatch(
            groups=[
                (P1, "company", "acme", {"plan": "pro"}, T0),
                (P1, "team", "acme", {"size": 3}, T0 + 1),
                (P2, "company", "acme", {"plan": "free"}, T0 + 2),
            ]
        )
    )

    assert store.groups(P1, "company", ["acme", "other"]) == {
        "acme": StoredProfile("acme", {"plan": "pro"}, T0)
    }
    assert store.groups(P1, "team", ["acme"]) == {
        "acme": StoredProfile("acme", {"size": 3}, T0 + 1)
    }
    assert store.groups(P2, "company", ["acme"])["acme"].properties == {"plan": "free"}
    assert store.groups(P1, "company", []) == {}


def test_group_updates_replace_and_delete(store: EventStore) -> None:
    store.write(WriteBatch(groups=[(P1, "company", "acme", {"a": 1}, 1)]))
    store.write(WriteBatch(groups=[(P1, "company", "acme", {"b": 2}, 2)]))
    store.write(WriteBatch(groups=[(P1, "company", "init", {"c": 3}, 3)]))
    store.write(WriteBatch(groups=[(P1, "company", "init", None, 4)]))

    assert store.groups(P1, "company", ["acme", "init"]) == {
        "acme": StoredProfile("acme", {"b": 2}, 2)
    }


def test_all_groups_of_a_key_come_ordered_by_group_id(store: EventStore) -> None:
    ids = ["c", "a", "b"]
    store.write(WriteBatch(groups=[(P1, "company", g, {"id": g}, T0) for g in ids]))
    store.write(WriteBatch(groups=[(P1, "team", "z", {}, T0), (P2, "company", "y", {}, T0)]))

    assert [g.distinct_id for g in store.all_groups(P1, "company")] == ["a", "b", "c"]
    assert [g.distinct_id for g in store.all_groups(P1, "team")] == ["z"]
    assert list(store.all_groups(P1, "nothing")) == []


# Identity log and snapshots


def identity_history() -> list[IdentityEntry]:
    late = IdentityInput.identify("U2", D1, time_ms=T0 - 50, seq=3, insert_id="i3")
    return [
        IdentityInput.identify("U1", D1, time_ms=T0, seq=1, insert_id="i1"),
        IdentityInput.create_alias("U1", "a@x.com", time_ms=T0 + 1, seq=2),
        late,
        IdentityInput.merge("U1", "U3", time_ms=T0 + 2, seq=5),
        IdentityInput.link("U4", "dev-1", time_ms=T0 + 3, seq=6),
        Withdrawal(late, seq=8),
    ]


def test_identity_entries_come_back_in_seq_order_with_every_field(store: EventStore) -> None:
    one, two, three, four, five, withdrawal = identity_history()
    store.write(WriteBatch(identity=[(P1, three), (P1, one)]))
    store.write(WriteBatch(identity=[(P1, withdrawal), (P1, two), (P2, four)]))
    store.write(WriteBatch(identity=[(P1, five)]))

    assert list(store.identity_entries_since(P1, -1)) == [one, two, three, five, withdrawal]
    assert list(store.identity_entries_since(P2, -1)) == [four]


@pytest.mark.parametrize(
    ("since", "expected"),
    [
        pytest.param(-1, [1, 2, 3, 5, 6, 8], id="everything"),
        pytest.param(2, [3, 5, 6, 8], id="after-a-seq"),
        pytest.param(4, [5, 6, 8], id="after-a-missing-seq"),
        pytest.param(6, [8], id="only-the-withdrawal"),
        pytest.param(8, [], id="after-the-last"),
    ],
)
def test_identity_entries_since_a_seq_exclude_it(
    store: EventStore, since: int, expected: list[int]
) -> None:
    store.write(WriteBatch(identity=[(P1, entry) for entry in identity_history()]))

    assert [entry.seq for entry in store.identity_entries_since(P1, since)] == expected


def test_a_withdrawal_keeps_the_input_it_withdraws(store: EventStore) -> None:
    target = IdentityInput.merge("U1", "U3", time_ms=T0 - 7, seq=5, insert_id="m1")
    store.write(WriteBatch(identity=[(P1, Withdrawal(target, seq=8))]))

    (stored,) = store.identity_entries_since(P1, -1)

    assert isinstance(stored, Withdrawal)
    assert (stored.target, stored.seq) == (target, 8)


def _snapshot(store: EventStore, project_id: int) -> bytes | None:
    """The snapshot's bytes: a store may cut them into other chunks than it was given."""
    chunks = store.load_identity_snapshot(project_id)
    return None if chunks is None else b"".join(chunks)


def test_identity_snapshots_keep_the_last_one_saved_per_project(store: EventStore) -> None:
    assert store.load_identity_snapshot(P1) is None

    store.save_identity_snapshot(P1, [b"\x00first\xff", b"", b"part two"], last_seq=3)
    store.save_identity_snapshot(P2, [b"other"], last_seq=1)
    assert _snapshot(store, P1) == b"\x00first\xffpart two"

    store.save_identity_snapshot(P1, iter([b"second"]), last_seq=9)
    assert _snapshot(store, P1) == b"second"
    assert _snapshot(store, P2) == b"other"
    assert store.max_seq() == -1  # a snapshot is not an entry


def test_a_snapshot_save_that_fails_midway_leaves_the_previous_one(store: EventStore) -> None:
    store.save_identity_snapshot(P1, [b"kept", b"whole"], last_seq=3)

    def failing_chunks() -> Iterator[bytes]:
        yield b"half"
        raise RuntimeError("the engine failed while its snapshot was being saved")

    with pytest.raises(RuntimeError):
        store.save_identity_snapshot(P1, failing_chunks(), last_seq=9)

    assert _snapshot(store, P1) == b"keptwhole"
    store.save_identity_snapshot(P1, [b"next"], last_seq=12)
    assert _snapshot(store, P1) == b"next"


# Reopening a file


def test_a_reopened_event_store_keeps_everything(open_file_events: OpenEventStore) -> None:
    history = identity_history()
    store = open_file_events()
    store.write(
        WriteBatch(
            events=[event(n, time_ms=T0 + n) for n in range(3)],
            identity=[(P1, entry) for entry in history],
            profiles=[(P1, "u1", {"a": 1}, T0), (P1, "u2", {"b": 2}, T0)],
            groups=[(P1, "company", "acme", {"c": 3}, T0)],
        )
    )
    store.write(WriteBatch(profiles=[(P1, "u2", None, T0 + 1)]))
    store.save_identity_snapshot(P1, [b"snap", b"shot"], last_seq=5)
    before = all_events(store)
    store.close()

    reopened = open_file_events()

    assert all_events(reopened) == before
    assert reopened.max_seq() == 8
    assert list(reopened.identity_entries_since(P1, -1)) == history
    assert list(reopened.all_profiles(P1)) == [StoredProfile("u1", {"a": 1}, T0)]
    assert list(reopened.all_groups(P1, "company")) == [StoredProfile("acme", {"c": 3}, T0)]
    assert _snapshot(reopened, P1) == b"snapshot"


# Projects


def test_projects_are_numbered_from_one(meta: MetadataStore) -> None:
    web = new_project(meta, "web")
    ios = new_project(meta, "ios", identity_mode=IdentityMode.SIMPLIFIED)

    assert web == Project(1, "web", "token-web", "secret-web", IdentityMode.ORIGINAL, False)
    assert (ios.id, ios.identity_mode) == (2, IdentityMode.SIMPLIFIED)
    assert meta.projects() == [web, ios]


def test_a_project_is_found_by_id_name_and_token(meta: MetadataStore) -> None:
    new_project(meta, "web")
    ios = new_project(meta, "ios", identity_mode=IdentityMode.LEGACY)

    assert meta.project(2) == ios
    assert meta.project_by_name("ios") == ios
    assert meta.project_by_token("token-ios") == ios
    assert meta.project(3) is None
    assert meta.project_by_name("android") is None
    assert meta.project_by_token("secret-ios") is None


@pytest.mark.parametrize(
    ("name", "token", "message"),
    [
        pytest.param("web", "token-new", "a project named 'web' already exists", id="same-name"),
        pytest.param("new", "token-web", "token 'toke…' is already used", id="same-token"),
    ],
)
def test_a_taken_name_or_token_is_refused(
    meta: MetadataStore, name: str, token: str, message: str
) -> None:
    new_project(meta, "web")

    with pytest.raises(ProjectExistsError, match=message) as caught:
        new_project(meta, name, token=token)

    assert "secret" not in str(caught.value)
    assert len(meta.projects()) == 1


def test_the_identity_mode_changes_while_the_project_holds_no_data(meta: MetadataStore) -> None:
    project = new_project(meta)

    changed = meta.set_identity_mode(project.id, IdentityMode.SIMPLIFIED)

    assert changed.identity_mode == IdentityMode.SIMPLIFIED
    assert meta.project(project.id) == changed


def test_the_identity_mode_is_fixed_once_the_project_holds_data(meta: MetadataStore) -> None:
    project = new_project(meta)
    meta.mark_has_data(project.id)
    meta.mark_has_data(project.id)  # marking twice is harmless

    with pytest.raises(ProjectHasDataError, match="already holds data") as caught:
        meta.set_identity_mode(project.id, IdentityMode.LEGACY)

    assert "'original'" in str(caught.value)
    assert "'legacy'" in str(caught.value)
    stored = meta.project(project.id)
    assert stored is not None
    assert (stored.identity_mode, stored.has_data) == (IdentityMode.ORIGINAL, True)
    assert meta.set_identity_mode(project.id, IdentityMode.ORIGINAL) == stored  # no change


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda m: m.set_identity_mode(9, IdentityMode.LEGACY), id="set-mode"),
        pytest.param(lambda m: m.mark_has_data(9), id="mark-has-data"),
        pytest.param(lambda m: m.create_service_account(9, "bot", "s"), id="service-account"),
    ],
)
def test_an_unknown_project_id_is_refused(
    meta: MetadataStore, call: Callable[[MetadataStore], object]
) -> None:
    new_project(meta)

    with pytest.raises(UnknownProjectError, match="no project has id 9"):
        call(meta)


# Service accounts


def test_a_service_account_is_found_by_username(meta: MetadataStore) -> None:
    project = new_project(meta)

    account = meta.create_service_account(project.id, "bot.web", "s3cret")

    assert (account.project_id, account.username, account.secret) == (1, "bot.web", "s3cret")
    assert meta.service_account("bot.web") == account
    assert meta.service_account("bot.other") is None


def test_a_taken_service_account_username_is_refused(meta: MetadataStore) -> None:
    web, ios = new_project(meta, "web"), new_project(meta, "ios")
    meta.create_service_account(web.id, "bot", "one")

    with pytest.raises(ServiceAccountExistsError, match="'bot' already exists"):
        meta.create_service_account(ios.id, "bot", "two")

    assert meta.service_account("bot") == ServiceAccount(web.id, "bot", "one")


def test_secrets_never_reach_the_log(meta: MetadataStore, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)

    project = new_project(meta, "web", secret="project-secret-123")
    meta.create_service_account(project.id, "bot", "account-secret-456")
    with pytest.raises(ProjectExistsError):
        new_project(meta, "web", secret="project-secret-789")

    logged = caplog.text + " ".join(str(record.args) for record in caplog.records)
    assert "secret-123" not in logged
    assert "secret-456" not in logged
    assert "secret-789" not in logged


def test_a_reopened_metadata_store_keeps_everything(open_file_meta: OpenMetadataStore) -> None:
    meta = open_file_meta()
    web = new_project(meta, "web")
    meta.mark_has_data(web.id)
    account = meta.create_service_account(web.id, "bot", "s")
    meta.close()

    reopened = open_file_meta()

    assert reopened.projects() == [
        Project(1, "web", "token-web", "secret-web", IdentityMode.ORIGINAL, True)
    ]
    assert reopened.service_account("bot") == account
    assert new_project(reopened, "ios").id == 2


def test_two_metadata_stores_on_one_file_see_each_others_writes(
    open_file_meta: OpenMetadataStore,
) -> None:
    server, cli = open_file_meta(), open_file_meta()

    created = new_project(cli, "web")
    server.mark_has_data(created.id)

    with pytest.raises(ProjectExistsError):
        new_project(server, "web")
    with pytest.raises(ProjectHasDataError):
        cli.set_identity_mode(created.id, IdentityMode.LEGACY)
    assert server.project_by_token("token-web") == cli.project(created.id)
