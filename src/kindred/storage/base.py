"""What kindred needs from a database, as Protocols that every backend implements.

Two stores, because they have different readers:
- `MetadataStore` holds projects and service accounts. Several processes open it at once (the
  server, and `kindred project ...` run beside it), so the embedded backend is a SQLite file.
- `EventStore` holds events, profiles, group profiles and each project's identity log. One writer
  (the pipeline) owns it; the embedded backend is DuckDB.

tests/storage/test_contract.py runs one suite against every backend.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from kindred.identity.model import IdentityInput, IdentityMode, Withdrawal
from kindred.ingest.model import EventRecord


@dataclass(frozen=True, slots=True)
class Project:
    """A project: its token is public and may only write; its secret reads and imports."""

    id: int
    name: str
    token: str
    secret: str
    identity_mode: IdentityMode
    has_data: bool = False


@dataclass(frozen=True, slots=True)
class ServiceAccount:
    """A service account: Basic `username:secret`, sent with `project_id`."""

    project_id: int
    username: str
    secret: str


@dataclass(frozen=True, slots=True)
class SavedFunnel:
    """A funnel saved for `/funnels?funnel_id=`: its steps and default window, as given."""

    id: int
    project_id: int
    name: str
    definition: dict[str, Any]


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event as stored: its raw id, and the arrival sequence the pipeline gave it."""

    project_id: int
    seq: int
    event: str
    distinct_id: str
    time_ms: int
    insert_id: str
    properties: dict[str, Any]


@dataclass(frozen=True, slots=True)
class StoredProfile:
    """A user profile stored under one raw id, or a group profile under its group id."""

    distinct_id: str
    properties: dict[str, Any]
    updated_ms: int


IdentityEntry = IdentityInput | Withdrawal


@dataclass(slots=True)
class WriteBatch:
    """Everything one pipeline flush writes, in one transaction.

    `events` carry the seq the pipeline gave them; an identity input has the seq of its event.
    `persons` maps the seq of an event to its canonical id when that is not its raw id; the store
    keeps it with the event, for reports. `overrides` re-point the events already stored under a
    raw id at a new canonical id: (project, raw id, canonical id), after a merge or an unmerge.
    A profile whose properties are None is deleted. `id_keys` holds the keys
    (`kindred.storage.keys`) of some of the ids, computed ahead: a store may take them from there.
    """

    events: list[tuple[int, int, EventRecord]] = field(default_factory=list)
    persons: dict[int, str] = field(default_factory=dict)
    overrides: list[tuple[int, str, str]] = field(default_factory=list)
    identity: list[tuple[int, IdentityEntry]] = field(default_factory=list)
    profiles: list[tuple[int, str, dict[str, Any] | None, int]] = field(default_factory=list)
    groups: list[tuple[int, str, str, dict[str, Any] | None, int]] = field(default_factory=list)
    id_keys: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return (
            len(self.events)
            + len(self.identity)
            + len(self.profiles)
            + len(self.groups)
            + len(self.overrides)
        )


class MetadataStore(Protocol):
    """Projects and service accounts. Safe to open from several processes at once.

    Raises `ProjectExistsError` for a name or token already taken, `UnknownProjectError` for an
    id that does not exist.
    """

    def create_project(
        self, name: str, *, token: str, secret: str, identity_mode: IdentityMode
    ) -> Project: ...

    def project(self, project_id: int) -> Project | None: ...

    def project_by_name(self, name: str) -> Project | None: ...

    def project_by_token(self, token: str) -> Project | None: ...

    def projects(self) -> list[Project]: ...

    def set_identity_mode(self, project_id: int, mode: IdentityMode) -> Project: ...

    def mark_has_data(self, project_id: int) -> None: ...

    def create_service_account(
        self, project_id: int, username: str, secret: str
    ) -> ServiceAccount: ...

    def service_account(self, username: str) -> ServiceAccount | None: ...

    def save_funnel(self, project_id: int, name: str, definition: dict[str, Any]) -> SavedFunnel:
        """Save a new funnel; ids are never reused."""
        ...

    def funnels(self, project_id: int) -> list[SavedFunnel]:
        """The project's saved funnels, oldest first."""
        ...

    def close(self) -> None: ...


class EventStore(Protocol):
    """Events, profiles, group profiles and identity logs of every project.

    One writer at a time: `write()` is called only by the pipeline's writer thread, and is
    durable when it returns (the data survives `kill -9` the next instant). Reads may run on other
    threads; they see only committed data.
    """

    def write(self, batch: WriteBatch) -> None: ...

    def compact_person_overrides(self) -> int:
        """Fold the person overrides into the stored events; return how many there were."""
        ...

    def max_seq(self) -> int:
        """The highest seq of any event or identity entry stored, or -1 when empty."""
        ...

    def events(
        self,
        project_id: int,
        *,
        from_ms: int,
        to_ms: int,
        names: Sequence[str] | None = None,
        limit: int | None = None,
    ) -> Iterator[StoredEvent]:
        """Events with from_ms <= time_ms < to_ms, oldest first (ties by seq), every copy."""
        ...

    def profiles(
        self, project_id: int, distinct_ids: Collection[str]
    ) -> dict[str, StoredProfile]: ...

    def all_profiles(self, project_id: int) -> Iterator[StoredProfile]:
        """Every user profile of the project, ordered by distinct_id."""
        ...

    def groups(
        self, project_id: int, group_key: str, group_ids: Collection[str]
    ) -> dict[str, StoredProfile]: ...

    def all_groups(self, project_id: int, group_key: str) -> Iterator[StoredProfile]: ...

    def identity_entries_since(self, project_id: int, seq: int) -> Iterator[IdentityEntry]:
        """The project's identity entries whose seq is greater than `seq`, in seq order."""
        ...

    def save_identity_snapshot(
        self, project_id: int, chunks: Iterable[bytes], *, last_seq: int
    ) -> None:
        """Replace the project's identity snapshot with `chunks`, taken in order; a failed save
        leaves the previous snapshot in place."""
        ...

    def load_identity_snapshot(self, project_id: int) -> Iterator[bytes] | None:
        """The chunks of the project's snapshot in order, read as they are taken; None if it
        has none."""
        ...

    def close(self) -> None: ...
