"""In-memory stores, for fast tests of the layers above storage.

They keep the contract of the real backends, down to storing properties as JSON text: a value the
database would refuse is refused here too, and what a reader gets back is a fresh copy.
Thread-safe; nothing survives `close()`.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import replace
from typing import Any, NamedTuple, TypeVar

import orjson

from kindred.identity.model import IdentityMode
from kindred.storage.base import (
    IdentityEntry,
    Project,
    SavedFunnel,
    ServiceAccount,
    StoredEvent,
    StoredProfile,
    WriteBatch,
)
from kindred.storage.encoding import encode_properties
from kindred.storage.errors import (
    PermanentStorageError,
    ProjectExistsError,
    ProjectHasDataError,
    ServiceAccountExistsError,
    UnknownProjectError,
)

K = TypeVar("K", bound=tuple[object, ...])


class _Event(NamedTuple):
    project_id: int
    seq: int
    event: str
    distinct_id: str
    time_ms: int
    insert_id: str
    properties: str


class _Profile(NamedTuple):
    properties: str
    updated_ms: int


class MemoryEventStore:
    """An `EventStore` in memory. `write()` applies a batch atomically under a lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._is_closed = False
        self._events: list[_Event] = []
        self._identity: dict[int, list[IdentityEntry]] = {}
        self._snapshots: dict[int, list[bytes]] = {}
        self._profiles: dict[tuple[int, str], _Profile] = {}
        self._groups: dict[tuple[int, str, str], _Profile] = {}
        self._max_seq = -1
        # Reports run on DuckDB only, so this store keeps no person keys; it counts the overrides
        # it was given, for the pipeline's compaction.
        self._overrides: set[tuple[int, str]] = set()

    def write(self, batch: WriteBatch) -> None:
        events = batch.events
        texts = encode_properties(
            [r.properties for _, _, r in events], lambda i: f"event seq {events[i][1]}"
        )
        rows = [
            _Event(p, s, r.event, r.distinct_id, r.time_ms, r.insert_id, text)
            for (p, s, r), text in zip(events, texts, strict=True)
        ]
        profiles = _encode_updates({(p, d): (props, ms) for p, d, props, ms in batch.profiles})
        groups = _encode_updates({(p, k, g): (props, ms) for p, k, g, props, ms in batch.groups})

        with self._lock:
            self._check_open()
            self._events.extend(rows)
            for project_id, entry in batch.identity:
                self._identity.setdefault(project_id, []).append(entry)
            _apply_updates(self._profiles, profiles)
            _apply_updates(self._groups, groups)
            seqs = [row.seq for row in rows] + [entry.seq for _, entry in batch.identity]
            self._max_seq = max([self._max_seq, *seqs])
            self._overrides.update((p, raw) for p, raw, _ in batch.overrides)

    def compact_person_overrides(self) -> int:
        with self._lock:
            self._check_open()
            count = len(self._overrides)
            self._overrides.clear()
            return count

    def max_seq(self) -> int:
        with self._lock:
            self._check_open()
            return self._max_seq

    def events(
        self,
        project_id: int,
        *,
        from_ms: int,
        to_ms: int,
        names: Sequence[str] | None = None,
        limit: int | None = None,
    ) -> Iterator[StoredEvent]:
        if limit is not None and limit < 0:
            raise ValueError(f"limit must be 0 or more, got {limit}")
        wanted = None if names is None else set(names)
        with self._lock:
            self._check_open()
            found = [
                row
                for row in self._events
                if row.project_id == project_id
                and from_ms <= row.time_ms < to_ms
                and (wanted is None or row.event in wanted)
            ]
        found.sort(key=lambda row: (row.time_ms, row.seq))
        return iter([StoredEvent(*row[:6], orjson.loads(row.properties)) for row in found[:limit]])

    def profiles(self, project_id: int, distinct_ids: Collection[str]) -> dict[str, StoredProfile]:
        with self._lock:
            self._check_open()
            found = {d: self._profiles.get((project_id, d)) for d in distinct_ids}
        return {d: _to_profile(d, stored) for d, stored in found.items() if stored is not None}

    def all_profiles(self, project_id: int) -> Iterator[StoredProfile]:
        with self._lock:
            self._check_open()
            found = [(k[1], v) for k, v in self._profiles.items() if k[0] == project_id]
        return iter([_to_profile(d, stored) for d, stored in sorted(found)])

    def groups(
        self, project_id: int, group_key: str, group_ids: Collection[str]
    ) -> dict[str, StoredProfile]:
        with self._lock:
            self._check_open()
            found = {g: self._groups.get((project_id, group_key, g)) for g in group_ids}
        return {g: _to_profile(g, stored) for g, stored in found.items() if stored is not None}

    def all_groups(self, project_id: int, group_key: str) -> Iterator[StoredProfile]:
        with self._lock:
            self._check_open()
            found = [(k[2], v) for k, v in self._groups.items() if k[:2] == (project_id, group_key)]
        return iter([_to_profile(g, stored) for g, stored in sorted(found)])

    def identity_entries_since(self, project_id: int, seq: int) -> Iterator[IdentityEntry]:
        with self._lock:
            self._check_open()
            found = [e for e in self._identity.get(project_id, []) if e.seq > seq]
        return iter(sorted(found, key=lambda entry: entry.seq))

    def save_identity_snapshot(
        self, project_id: int, chunks: Iterable[bytes], *, last_seq: int
    ) -> None:
        saved = [bytes(chunk) for chunk in chunks]
        with self._lock:
            self._check_open()
            self._snapshots[project_id] = saved

    def load_identity_snapshot(self, project_id: int) -> Iterator[bytes] | None:
        with self._lock:
            self._check_open()
            chunks = self._snapshots.get(project_id)
        return None if chunks is None else iter(chunks)

    def close(self) -> None:
        with self._lock:
            self._is_closed = True

    def _check_open(self) -> None:
        if self._is_closed:
            raise PermanentStorageError("the in-memory event store is closed")


def _encode_updates(
    updates: dict[K, tuple[dict[str, object] | None, int]],
) -> dict[K, _Profile | None]:
    """The last update of each key (dict order keeps it), encoded; None deletes."""
    kept = [(key, props, ms) for key, (props, ms) in updates.items() if props is not None]
    texts = encode_properties([props for _, props, _ in kept], lambda i: f"profile {kept[i][0]!r}")
    encoded: dict[K, _Profile | None] = {key: None for key, (props, _) in updates.items()}
    for (key, _, ms), text in zip(kept, texts, strict=True):
        encoded[key] = _Profile(text, ms)
    return encoded


def _apply_updates(table: dict[K, _Profile], updates: dict[K, _Profile | None]) -> None:
    for key, stored in updates.items():
        if stored is None:
            table.pop(key, None)
        else:
            table[key] = stored


def _to_profile(distinct_id: str, stored: _Profile) -> StoredProfile:
    return StoredProfile(distinct_id, orjson.loads(stored.properties), stored.updated_ms)


class MemoryMetadataStore:
    """A `MetadataStore` in memory, for one process. Project ids start at 1."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._projects: dict[int, Project] = {}
        self._accounts: dict[str, ServiceAccount] = {}
        self._funnels: list[SavedFunnel] = []

    def create_project(
        self, name: str, *, token: str, secret: str, identity_mode: IdentityMode
    ) -> Project:
        with self._lock:
            if any(p.name == name for p in self._projects.values()):
                raise ProjectExistsError(name=name)
            if any(p.token == token for p in self._projects.values()):
                raise ProjectExistsError(token=token)
            project_id = max(self._projects, default=0) + 1
            project = Project(project_id, name, token, secret, IdentityMode(identity_mode))
            self._projects[project_id] = project
        return project

    def project(self, project_id: int) -> Project | None:
        with self._lock:
            return self._projects.get(project_id)

    def project_by_name(self, name: str) -> Project | None:
        with self._lock:
            return next((p for p in self._projects.values() if p.name == name), None)

    def project_by_token(self, token: str) -> Project | None:
        with self._lock:
            return next((p for p in self._projects.values() if p.token == token), None)

    def projects(self) -> list[Project]:
        with self._lock:
            return [self._projects[key] for key in sorted(self._projects)]

    def set_identity_mode(self, project_id: int, mode: IdentityMode) -> Project:
        mode = IdentityMode(mode)
        with self._lock:
            project = self._known(project_id)
            if project.identity_mode == mode:
                return project
            if project.has_data:
                raise ProjectHasDataError(project_id, project.identity_mode, mode)
            project = self._projects[project_id] = replace(project, identity_mode=mode)
        return project

    def mark_has_data(self, project_id: int) -> None:
        with self._lock:
            self._projects[project_id] = replace(self._known(project_id), has_data=True)

    def create_service_account(self, project_id: int, username: str, secret: str) -> ServiceAccount:
        with self._lock:
            self._known(project_id)
            if username in self._accounts:
                raise ServiceAccountExistsError(username)
            account = self._accounts[username] = ServiceAccount(project_id, username, secret)
        return account

    def service_account(self, username: str) -> ServiceAccount | None:
        with self._lock:
            return self._accounts.get(username)

    def save_funnel(self, project_id: int, name: str, definition: dict[str, Any]) -> SavedFunnel:
        with self._lock:
            self._known(project_id)
            funnel_id = len(self._funnels) + 1
            funnel = SavedFunnel(
                funnel_id, project_id, name, orjson.loads(orjson.dumps(definition))
            )
            self._funnels.append(funnel)
        return funnel

    def funnels(self, project_id: int) -> list[SavedFunnel]:
        with self._lock:
            return [funnel for funnel in self._funnels if funnel.project_id == project_id]

    def close(self) -> None:
        """Nothing to release; the data stays readable, as it would in a file."""

    def _known(self, project_id: int) -> Project:
        project = self._projects.get(project_id)
        if project is None:
            raise UnknownProjectError(project_id)
        return project
