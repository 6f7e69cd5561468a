"""`EventStore` on a DuckDB file: the embedded event store.

DuckDB lets one process open a file for writing, so only the server opens this store; other
processes reach the data through the server. Inside the process, every call runs on a cursor of
its own (`connection.cursor()`, a few microseconds), so reads may run on any thread, and a stream
may be consumed on a thread other than the one that started it. Writes take a lock: one at a time.

`write()` commits one transaction per batch. DuckDB appends the transaction to its write-ahead log
and syncs it before COMMIT returns, so an acknowledged batch survives `kill -9`.

Writes go through one cursor and its appenders (`duckdb.Appender`), which take rows into DuckDB's
vectors with no SQL to parse, bind and plan: a 30-event /track flush costs 1.4 ms instead of 2.0,
a 2000-row identity log 4.4 ms instead of 11, and the writer waits to take the GIL back half as
often. Deletes stay statements, each column one list parameter `unnest`-ed (`executemany` runs
one statement per row).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import orjson

from kindred.identity.model import IdentityInput, InputKind, Withdrawal
from kindred.ingest.model import EventRecord
from kindred.storage.base import IdentityEntry, StoredEvent, StoredProfile, WriteBatch
from kindred.storage.encoding import encode_properties
from kindred.storage.errors import PermanentStorageError, TransientStorageError
from kindred.storage.keys import id_key
from kindred.storage.snapshot_files import SnapshotFiles

logger = logging.getLogger(__name__)

T = TypeVar("T")

SCHEMA_VERSION = 2
FETCH_ROWS = 2048
# DuckDB folds its write-ahead log into the file once the log passes this size, inside the COMMIT
# that crossed it. Each fold rewrites the table's last, partly filled row group (122,880 rows), so
# a small threshold rewrites the same rows many times: at DuckDB's default of 16 MB, 2000-event
# batches ran at 60-100k events/s; at 128 MB, 130-150k. The cost is memory (data not yet folded
# stays in memory) and recovery time after a crash (the log is replayed on open).
CHECKPOINT_THRESHOLD_MB = 128

# Properties are JSON text (VARCHAR): cheaper to insert than DuckDB's JSON type, and its JSON
# functions read either. `id_key` and `person_key` are the keys (kindred.storage.keys) of the raw
# id and of the canonical id when the event was written; `person_overrides` re-points the raw ids
# whose canonical id changed since, until `compact_person_overrides()` folds it into the events.
# An identity row with `withdrawn_seq` set is a Withdrawal arriving at `seq`; its other columns
# describe the input it withdraws.
SCHEMA = [
    "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)",
    """CREATE TABLE IF NOT EXISTS events (
        project_id INTEGER NOT NULL,
        seq BIGINT NOT NULL,
        event VARCHAR NOT NULL,
        distinct_id VARCHAR NOT NULL,
        time_ms BIGINT NOT NULL,
        insert_id VARCHAR NOT NULL,
        properties VARCHAR NOT NULL,
        id_key BIGINT NOT NULL,
        person_key BIGINT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS person_overrides (
        project_id INTEGER NOT NULL,
        id_key BIGINT NOT NULL,
        person_key BIGINT NOT NULL,
        PRIMARY KEY (project_id, id_key)
    )""",
    """CREATE TABLE IF NOT EXISTS identity_log (
        project_id INTEGER NOT NULL,
        seq BIGINT NOT NULL,
        kind TINYINT NOT NULL,
        id0 VARCHAR NOT NULL,
        id1 VARCHAR NOT NULL,
        time_ms BIGINT NOT NULL,
        insert_id VARCHAR NOT NULL,
        withdrawn_seq BIGINT
    )""",
    """CREATE TABLE IF NOT EXISTS identity_snapshots (
        project_id INTEGER PRIMARY KEY,
        last_seq BIGINT NOT NULL,
        data BLOB NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS profiles (
        project_id INTEGER NOT NULL,
        distinct_id VARCHAR NOT NULL,
        properties VARCHAR NOT NULL,
        updated_ms BIGINT NOT NULL,
        id_key BIGINT NOT NULL,
        PRIMARY KEY (project_id, distinct_id)
    )""",
    """CREATE TABLE IF NOT EXISTS group_profiles (
        project_id INTEGER NOT NULL,
        group_key VARCHAR NOT NULL,
        group_id VARCHAR NOT NULL,
        properties VARCHAR NOT NULL,
        updated_ms BIGINT NOT NULL,
        PRIMARY KEY (project_id, group_key, group_id)
    )""",
]

# DuckDB's memory while `kindred import` stages a file (`bulk_cursor`). A 1M-event file (600 MB)
# fits: at 512MB it spilled, which made its import 0.5 s slower (bench/README.md).
BULK_MEMORY_LIMIT = "1GB"

DELETE_PROFILES = """
    DELETE FROM profiles USING (SELECT unnest($1::INTEGER[]) AS p, unnest($2::VARCHAR[]) AS d) AS k
    WHERE profiles.project_id = k.p AND profiles.distinct_id = k.d
"""
DELETE_GROUPS = """
    DELETE FROM group_profiles USING (
        SELECT unnest($1::INTEGER[]) AS p, unnest($2::VARCHAR[]) AS k, unnest($3::VARCHAR[]) AS g
    ) AS keys
    WHERE group_profiles.project_id = keys.p AND group_profiles.group_key = keys.k
        AND group_profiles.group_id = keys.g
"""

Statement = tuple[str, list[Any]]


@dataclass(frozen=True, slots=True)
class Rows:
    """Rows for `table`, in its columns' order, written by the writer's appender for it. An upsert
    replaces the row with the same primary key, as INSERT OR REPLACE does."""

    table: str
    rows: list[tuple[Any, ...]]
    is_upsert: bool = False


Step = Statement | Rows


@contextmanager
def map_duckdb_errors(action: str, path: str) -> Iterator[None]:
    """Re-raise duckdb's exceptions as `TransientStorageError` or `PermanentStorageError`."""
    try:
        yield
    except (
        duckdb.TransactionException,
        duckdb.SerializationException,
        duckdb.OutOfMemoryException,
        duckdb.InterruptException,
    ) as exc:
        raise TransientStorageError(f"could not {action} in {path}: {exc}; try again") from exc
    except duckdb.IOException as exc:
        if "lock" in str(exc).lower():
            raise PermanentStorageError(
                f"could not {action} in {path}: another process has the file open ({exc}). "
                "DuckDB allows one process per file: stop the other kindred server, or go "
                "through its HTTP API"
            ) from exc
        raise TransientStorageError(
            f"could not {action} in {path}: {exc}; check free disk space and permissions"
        ) from exc
    except duckdb.FatalException as exc:
        raise PermanentStorageError(
            f"could not {action} in {path}: {exc}; restart kindred, which recovers the database "
            "from its write-ahead log"
        ) from exc
    except duckdb.Error as exc:
        raise PermanentStorageError(f"could not {action} in {path}: {exc}") from exc


class DuckDBEventStore:
    """Events, profiles, group profiles and identity logs in one DuckDB file.

    Thread-safe. `write()` is durable when it returns; reads see committed data only.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        checkpoint_threshold_mb: int = CHECKPOINT_THRESHOLD_MB,
    ) -> None:
        self._path = os.fspath(path)
        # Identity snapshots live in files beside the database (`SnapshotFiles` says why).
        self._snapshots = SnapshotFiles(Path(self._path + ".identity"))
        self._lock = threading.Lock()  # guards the connection: opening cursors, closing
        self._write_lock = threading.Lock()
        self._is_closed = False
        # Per (table, is_upsert), on the writer cursor; used and closed under the write lock.
        self._appenders: dict[tuple[str, bool], duckdb.Appender] = {}
        with map_duckdb_errors("open the event database", self._path):
            threshold = f"{checkpoint_threshold_mb}MB"
            config: dict[str, str | bool | int | float | list[str]] = {
                "checkpoint_threshold": threshold,
                # Funnels and retention chain ASOF joins. DuckDB turns an ASOF join whose input it
                # estimates below 64 rows into a nested loop, and a join against the (usually
                # empty) person overrides makes it estimate 1: a 2-second funnel took minutes.
                "asof_loop_join_threshold": 0,
            }
            self._db = duckdb.connect(self._path, config=config)
            self._create_schema()
            self._writer = self._db.cursor()  # every write() runs on it

    def _create_schema(self) -> None:
        self._db.execute("BEGIN")
        for statement in SCHEMA:
            self._db.execute(statement)
        row = self._db.execute("SELECT max(version) FROM schema_version").fetchone()
        version = None if row is None else row[0]
        if version is None:
            self._db.execute("INSERT INTO schema_version VALUES (?)", [SCHEMA_VERSION])
        elif version < SCHEMA_VERSION:
            self._db.execute("ROLLBACK")
            raise PermanentStorageError(
                f"{self._path} has schema version {version}, written by a development version of "
                f"kindred before person keys; this kindred reads version {SCHEMA_VERSION}. Export "
                "its events with that version (`GET /api/2.0/export`) and `kindred import` them "
                "into a new data dir"
            )
        elif version > SCHEMA_VERSION:
            self._db.execute("ROLLBACK")
            raise PermanentStorageError(
                f"{self._path} has schema version {version}, newer than this kindred "
                f"understands ({SCHEMA_VERSION}); upgrade kindred"
            )
        self._db.execute("COMMIT")

    @contextmanager
    def _cursor(self, action: str) -> Iterator[duckdb.DuckDBPyConnection]:
        with map_duckdb_errors(action, self._path):
            with self._lock:
                self._check_open(action)
                cursor = self._db.cursor()
            try:
                yield cursor
            finally:
                cursor.close()

    def _check_open(self, action: str) -> None:
        if self._is_closed:
            raise PermanentStorageError(
                f"could not {action}: the event store {self._path} is closed"
            )

    def write(self, batch: WriteBatch) -> None:
        steps = _write_steps(batch)
        if not steps:
            return
        with self._write_lock, map_duckdb_errors("write a batch", self._path):
            self._check_open("write a batch")
            if len(steps) == 1:
                # One step is its own transaction: BEGIN and COMMIT would add a third to the
                # cost of a small batch (most /track flushes hold only events).
                self._write_step(steps[0])
                return
            self._writer.execute("BEGIN")
            try:
                for step in steps:
                    self._write_step(step)
                self._writer.execute("COMMIT")
            except BaseException:
                _rollback(self._writer)
                raise

    def _write_step(self, step: Step) -> None:
        if not isinstance(step, Rows):
            self._writer.execute(*step)
            return
        appender = self._appenders.get((step.table, step.is_upsert))
        if appender is None:
            if step.is_upsert:
                appender = self._writer.appender(step.table, action="upsert")
            else:
                appender = self._writer.appender(step.table)
            self._appenders[step.table, step.is_upsert] = appender
        try:
            appender.append_rows(step.rows)
            appender.flush()
        except BaseException:
            # A failed append keeps the rows before the bad one; the next write must not get them.
            appender.clear()
            raise

    @contextmanager
    def bulk_cursor(self, action: str) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor of its own for a bulk load (`kindred.storage.bulk_import`).

        The load stages a file in temporary tables, which only this cursor sees, and appends to
        `events` through it without the write lock: DuckDB runs its append beside `write()`'s.
        What must not run until the append commits is `compact_person_overrides()`, which would
        fold and drop overrides that the appended rows still need; the caller sees to that.

        The staged file would otherwise sit in memory whole (about its own size): a memory limit
        makes DuckDB spill it to `<database>.tmp` beyond `BULK_MEMORY_LIMIT`, so that a file of
        any size loads in bounded memory.
        """
        with self._cursor(action) as cursor:
            cursor.execute(f"SET memory_limit = '{BULK_MEMORY_LIMIT}'")
            try:
                yield cursor
            finally:
                cursor.execute("RESET memory_limit")

    def compact_person_overrides(self) -> int:
        """Fold the overrides into the events' person keys and empty the table; return how many.

        Called by the writer, like `write()`: an override written between the two statements
        would otherwise be deleted unapplied.
        """
        fold = """
            UPDATE events SET person_key = o.person_key FROM person_overrides AS o
            WHERE events.project_id = o.project_id AND events.id_key = o.id_key
                AND events.person_key <> o.person_key
        """
        with self._write_lock, self._cursor("fold person overrides into events") as cursor:
            cursor.execute("BEGIN")
            try:
                row = cursor.execute("SELECT count(*) FROM person_overrides").fetchone()
                cursor.execute(fold)
                cursor.execute("DELETE FROM person_overrides")
                cursor.execute("COMMIT")
            except BaseException:
                _rollback(cursor)
                raise
        return 0 if row is None else int(row[0])

    def fetch(self, action: str, sql: str, parameters: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one read-only query (a report's) and return its rows; `action` names it in errors."""
        with self._cursor(action) as cursor:
            return cursor.execute(sql, list(parameters)).fetchall()

    def max_seq(self) -> int:
        sql = """
            SELECT greatest(
                coalesce((SELECT max(seq) FROM events), -1),
                coalesce((SELECT max(seq) FROM identity_log), -1)
            )
        """
        with self._cursor("read the highest seq") as cursor:
            row = cursor.execute(sql).fetchone()
        assert row is not None
        return int(row[0])

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
        sql = (
            "SELECT project_id, seq, event, distinct_id, time_ms, insert_id, properties FROM events"
            " WHERE project_id = ? AND time_ms >= ? AND time_ms < ?"
        )
        parameters: list[Any] = [project_id, from_ms, to_ms]
        if names is not None:
            if not names:
                return iter(())
            sql += f" AND event IN ({', '.join('?' * len(names))})"
            parameters.extend(names)
        sql += " ORDER BY time_ms, seq"
        if limit is not None:
            sql += " LIMIT ?"
            parameters.append(limit)
        return self._stream(f"read events of project {project_id}", sql, parameters, _to_event)

    def profiles(self, project_id: int, distinct_ids: Collection[str]) -> dict[str, StoredProfile]:
        if not distinct_ids:
            return {}
        sql = """
            SELECT distinct_id, properties, updated_ms FROM profiles
            WHERE project_id = ? AND distinct_id IN (SELECT unnest(?::VARCHAR[]))
        """
        with self._cursor(f"read profiles of project {project_id}") as cursor:
            rows = cursor.execute(sql, [project_id, list(distinct_ids)]).fetchall()
        return {row[0]: _to_profile(row) for row in rows}

    def all_profiles(self, project_id: int) -> Iterator[StoredProfile]:
        sql = """
            SELECT distinct_id, properties, updated_ms FROM profiles
            WHERE project_id = ? ORDER BY distinct_id
        """
        return self._stream(
            f"read profiles of project {project_id}", sql, [project_id], _to_profile
        )

    def groups(
        self, project_id: int, group_key: str, group_ids: Collection[str]
    ) -> dict[str, StoredProfile]:
        if not group_ids:
            return {}
        sql = """
            SELECT group_id, properties, updated_ms FROM group_profiles
            WHERE project_id = ? AND group_key = ? AND group_id IN (SELECT unnest(?::VARCHAR[]))
        """
        with self._cursor(f"read {group_key} groups of project {project_id}") as cursor:
            rows = cursor.execute(sql, [project_id, group_key, list(group_ids)]).fetchall()
        return {row[0]: _to_profile(row) for row in rows}

    def all_groups(self, project_id: int, group_key: str) -> Iterator[StoredProfile]:
        sql = """
            SELECT group_id, properties, updated_ms FROM group_profiles
            WHERE project_id = ? AND group_key = ? ORDER BY group_id
        """
        action = f"read {group_key} groups of project {project_id}"
        return self._stream(action, sql, [project_id, group_key], _to_profile)

    def identity_entries_since(self, project_id: int, seq: int) -> Iterator[IdentityEntry]:
        sql = """
            SELECT seq, kind, id0, id1, time_ms, insert_id, withdrawn_seq FROM identity_log
            WHERE project_id = ? AND seq > ? ORDER BY seq
        """
        action = f"read the identity log of project {project_id}"
        return self._stream(action, sql, [project_id, seq], _to_identity_entry)

    def save_identity_snapshot(
        self, project_id: int, chunks: Iterable[bytes], *, last_seq: int
    ) -> None:
        # The file first, then the row that makes it the snapshot (an empty `data`: the file up to
        # `last_seq`; a row from before snapshot files holds the snapshot itself), then the rest.
        self._snapshots.save(project_id, chunks, last_seq=last_seq)
        sql = "INSERT OR REPLACE INTO identity_snapshots VALUES (?, ?, ?)"
        action = f"save the identity snapshot of project {project_id}"
        with self._write_lock, self._cursor(action) as cursor:
            cursor.execute(sql, [project_id, last_seq, b""])
        self._snapshots.remove_others(project_id, last_seq)

    def load_identity_snapshot(self, project_id: int) -> Iterator[bytes] | None:
        sql = "SELECT last_seq, data FROM identity_snapshots WHERE project_id = ?"
        with self._cursor(f"load the identity snapshot of project {project_id}") as cursor:
            row = cursor.execute(sql, [project_id]).fetchone()
        if row is None:
            return None
        last_seq, data = int(row[0]), bytes(row[1])
        return iter([data]) if data else self._snapshots.read(project_id, last_seq)

    def close(self) -> None:
        """Checkpoint (fold the write-ahead log into the file) and close. Idempotent."""
        with self._write_lock, self._lock:
            if self._is_closed:
                return
            self._is_closed = True
            with map_duckdb_errors("checkpoint and close", self._path):
                try:
                    self._writer.close()  # and its appenders, which hold nothing between writes
                    self._db.execute("CHECKPOINT")
                finally:
                    self._db.close()
        logger.info("closed event store %s", self._path)

    def _stream(
        self, action: str, sql: str, parameters: list[Any], convert: Callable[[Any], T]
    ) -> Iterator[T]:
        # A cursor of its own: another query on the same thread would end this one's result.
        with self._cursor(action) as cursor:
            result = cursor.execute(sql, parameters)
            while rows := result.fetchmany(FETCH_ROWS):
                yield from map(convert, rows)


def _rollback(cursor: duckdb.DuckDBPyConnection) -> None:
    try:
        cursor.execute("ROLLBACK")
    except duckdb.Error:
        # The transaction is already gone (a failed COMMIT ends it); the original error matters.
        logger.debug("rollback after a failed write raised", exc_info=True)


def _write_steps(batch: WriteBatch) -> list[Step]:
    """The steps that write `batch`, with every value encoded up front."""
    steps: list[Step] = []
    if batch.events:
        steps.append(_event_rows(batch.events, batch.persons, batch.id_keys))
    if batch.overrides:
        steps.append(_override_rows(batch.overrides))
    if batch.identity:
        rows = [_identity_row(project_id, entry) for project_id, entry in batch.identity]
        steps.append(Rows("identity_log", rows))
    if batch.profiles:
        latest = {(row[0], row[1]): row for row in batch.profiles}  # the last update of a key wins
        # A profile carries the key of its id, so that reports join it to the person's events.
        steps += _upsert_and_delete(
            "profiles", DELETE_PROFILES, 2, latest.values(), lambda row: (id_key(row[1]),)
        )
    if batch.groups:
        latest_groups = {(row[0], row[1], row[2]): row for row in batch.groups}
        steps += _upsert_and_delete("group_profiles", DELETE_GROUPS, 3, latest_groups.values())
    return steps


def _event_rows(
    events: list[tuple[int, int, EventRecord]], persons: dict[int, str], id_keys: dict[str, int]
) -> Rows:
    key = _KeyMemo(id_keys)
    rows = []
    try:
        for p, s, r in events:
            k = key(r.distinct_id)
            person = persons.get(s)
            q = k if person is None else key(person)
            rows.append((p, s, r.event, r.distinct_id, r.time_ms, r.insert_id, r.properties_json(),
                         k, q))  # fmt: skip
    except TypeError:
        # Raises PermanentStorageError naming the event.
        encode_properties(
            [record.properties for _, _, record in events], lambda i: f"event seq {events[i][1]}"
        )
        raise
    return Rows("events", rows)


def _override_rows(overrides: list[tuple[int, str, str]]) -> Rows:
    key = _KeyMemo()
    latest = {(p, key(raw)): key(person) for p, raw, person in overrides}  # the last one wins
    return Rows("person_overrides", [(p, k, q) for (p, k), q in latest.items()], is_upsert=True)


class _KeyMemo(dict[str, int]):
    """`id_key`, remembered for one batch: a batch names the same few ids many times."""

    def __call__(self, distinct_id: str) -> int:
        k = self.get(distinct_id)
        if k is None:
            k = self[distinct_id] = id_key(distinct_id)
        return k


def _identity_row(project_id: int, entry: IdentityEntry) -> tuple[Any, ...]:
    if isinstance(entry, Withdrawal):
        target = entry.target
        return (project_id, entry.seq, target.kind, *target.ids, target.time_ms, target.insert_id,
                target.seq)  # fmt: skip
    return (project_id, entry.seq, entry.kind, *entry.ids, entry.time_ms, entry.insert_id, None)


def _upsert_and_delete(
    table: str,
    delete_sql: str,
    key_width: int,
    rows: Collection[tuple[Any, ...]],
    extra_columns: Callable[[tuple[Any, ...]], tuple[Any, ...]] = lambda row: (),
) -> list[Step]:
    """Replace the rows whose properties are a dict; delete those whose properties are None.

    Each row is (*key, properties, updated_ms), and each key appears once; a replaced row gets
    `extra_columns(row)` after those.
    """
    steps: list[Step] = []
    deleted = [row[:key_width] for row in rows if row[key_width] is None]
    if deleted:
        steps.append((delete_sql, [list(column) for column in zip(*deleted, strict=True)]))
    kept = [row for row in rows if row[key_width] is not None]
    if kept:
        encoded = encode_properties(
            [row[key_width] for row in kept], lambda i: f"{table} row {kept[i][:key_width]!r}"
        )
        replaced = [
            (*row[:key_width], properties, row[-1], *extra_columns(row))
            for row, properties in zip(kept, encoded, strict=True)
        ]
        steps.append(Rows(table, replaced, is_upsert=True))
    return steps


def _to_event(row: tuple[Any, ...]) -> StoredEvent:
    return StoredEvent(row[0], row[1], row[2], row[3], row[4], row[5], orjson.loads(row[6]))


def _to_profile(row: tuple[Any, ...]) -> StoredProfile:
    return StoredProfile(row[0], orjson.loads(row[1]), row[2])


def _to_identity_entry(row: tuple[Any, ...]) -> IdentityEntry:
    seq, kind, id0, id1, time_ms, insert_id, withdrawn_seq = row
    if withdrawn_seq is None:
        return IdentityInput(InputKind(kind), (id0, id1), time_ms, seq, insert_id)
    target = IdentityInput(InputKind(kind), (id0, id1), time_ms, withdrawn_seq, insert_id)
    return Withdrawal(target, seq)
