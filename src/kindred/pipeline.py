"""The one writer: orders records, applies identity, writes one transaction per flush, then answers.

Requests hand their validated records to `Pipeline.submit()` and wait. A single writer thread takes
whatever has queued up (at most `max_batch_records` records, or what arrived within
`flush_interval_seconds` of the first), gives every event its arrival sequence, applies identity
inputs to the project's engine, routes profile updates, writes everything in one transaction, and
only then releases the waiting requests. A crash before the commit means no acknowledgement: the SDK
retries, and `$insert_id` makes the retry harmless (SPEC-DECISIONS.md, "Durability").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from typing import Any

from kindred.errors import NotFoundError
from kindred.identity import (
    IdentityEngine,
    IdentityInput,
    IdentityMode,
    Outcome,
    Withdrawal,
    new_engine,
)
from kindred.identity.events import (
    IdentityEventError,
    identity_input_from_event,
    may_carry_identity,
)
from kindred.identity.persistence import LogEntry, apply_entry, load_engine
from kindred.identity.profiles import profile_target
from kindred.ingest.model import EventRecord, GroupUpdate, Limits, ProfileUpdate
from kindred.ingest.profiles import apply_group_update, apply_profile_update
from kindred.storage.base import EventStore, MetadataStore, Project, StoredProfile, WriteBatch
from kindred.storage.errors import StorageError
from kindred.storage.keys import id_key

logger = logging.getLogger(__name__)

FLUSH_INTERVAL_SECONDS = 0.002
MAX_BATCH_RECORDS = 10_000
# An identity snapshot is taken once the entries since the last one number at least this many, and
# at least as many as the ids the engine knows: start-up replays a bounded tail, and the cost of
# writing snapshots stays proportional to the entries, however large the engine grows.
SNAPSHOT_EVERY_ENTRIES = 100_000
# Person overrides are folded into the stored events once this many have been written: each fold
# is one UPDATE over the events (about a second per 10M), and reports join the overrides, so the
# table should stay small without folding after every merge.
COMPACT_EVERY_OVERRIDES = 50_000
# ... and whenever the writer has had nothing to do for this long with overrides pending.
FOLD_AFTER_IDLE_SECONDS = 1.0


@dataclass(slots=True)
class Submission:
    """One request's validated records for one project, and where to send the answer."""

    project: Project
    events: list[EventRecord] = field(default_factory=list)
    profile_updates: list[ProfileUpdate] = field(default_factory=list)
    group_updates: list[GroupUpdate] = field(default_factory=list)
    via_import: bool = False
    # The `$insert_id`s of identity inputs to withdraw (unmerges), applied before the events.
    withdrawals: list[str] = field(default_factory=list)
    # The keys (kindred.storage.keys) of the events' ids, computed on the submitting thread.
    id_keys: dict[str, int] = field(default_factory=dict)
    # Who waits for the answer: a coroutine (`waiter`, set by submit()) or a thread (`done`,
    # set by submit_nowait()).
    waiter: asyncio.Future[SubmissionResult] | None = None
    done: Future[SubmissionResult] | None = None

    def __len__(self) -> int:
        return (
            len(self.events)
            + len(self.profile_updates)
            + len(self.group_updates)
            + len(self.withdrawals)
        )


@dataclass(frozen=True, slots=True)
class Unmerge:
    """What withdrawing the identity inputs of one `$insert_id` did.

    `withdrawn` is usually one input (more when an SDK sent the event twice); `reclassified` lists
    the other inputs whose outcome changed; `canonical_ids` maps every id the withdrawn inputs
    named to its canonical id afterwards.
    """

    insert_id: str
    withdrawn: tuple[IdentityInput, ...]
    reclassified: tuple[Outcome, ...]
    canonical_ids: dict[str, str]


@dataclass(frozen=True, slots=True)
class SubmissionResult:
    """What the writer did with a submission: every event is stored; some updates may fail."""

    events_stored: int
    update_errors: tuple[tuple[int, str], ...] = ()
    unmerges: tuple[Unmerge, ...] = ()


class UnknownInsertIdError(NotFoundError):
    """Raised when an unmerge names an `$insert_id` that no identity input still applies."""

    def __init__(self, insert_id: str) -> None:
        super().__init__(
            f"no identity input with $insert_id {insert_id!r} (or it was withdrawn already); "
            "`kindred identity show ID` lists the $insert_id of every input naming ID"
        )
        self.insert_id = insert_id


class IdentityEngines:
    """The identity engine of every project, loaded from the store on first use."""

    def __init__(self, store: EventStore, *, max_cluster_size: int) -> None:
        self._store = store
        self._max_cluster_size = max_cluster_size
        self._engines: dict[int, IdentityEngine] = {}
        self._entries_since_snapshot: Counter[int] = Counter()
        self._lock = threading.Lock()
        # Held by the writer while it changes engines, and by readers that walk one (members,
        # outcomes): a walk must not see a cluster half spliced. resolve() needs no lock.
        self.lock = threading.RLock()

    def get(self, project: Project) -> IdentityEngine:
        engine = self._engines.get(project.id)
        if engine is not None and engine.mode == project.identity_mode:
            return engine
        with self._lock:
            # Check again: another thread may have loaded it while this one waited, and the
            # writer may already be applying inputs to that engine.
            engine = self._engines.get(project.id)
            if engine is None or engine.mode != project.identity_mode:
                engine = self._load(project)
                self._engines[project.id] = engine
        return engine

    def forget(self, project_id: int) -> None:
        """Drop a project's engine, so that the next use reloads it from the store."""
        self._engines.pop(project_id, None)

    def note_entries(self, project_id: int, count: int) -> None:
        self._entries_since_snapshot[project_id] += count
        engine = self._engines.get(project_id)
        due = max(SNAPSHOT_EVERY_ENTRIES, len(engine) if engine is not None else 0)
        if self._entries_since_snapshot[project_id] >= due:
            try:
                self.save_snapshot(project_id)
            except StorageError:
                # The entries are safe in the log, and a snapshot only shortens start-ups: try
                # again after as many entries again, not after every flush.
                logger.exception("saving the identity snapshot of project %d failed", project_id)
                self._entries_since_snapshot[project_id] = 0

    def save_snapshot(self, project_id: int) -> None:
        engine = self._engines.get(project_id)
        if engine is None or engine.last_seq < 0:
            return
        self._store.save_identity_snapshot(
            project_id, engine.snapshot_chunks(), last_seq=engine.last_seq
        )
        self._entries_since_snapshot[project_id] = 0

    def save_all(self) -> None:
        for project_id in list(self._engines):
            self.save_snapshot(project_id)

    def _load(self, project: Project) -> IdentityEngine:
        started = time.perf_counter()
        log = _StoreIdentityLog(self._store, project.id)
        try:
            engine = load_engine(
                log, project.identity_mode, max_cluster_size=self._max_cluster_size
            )
        except ValueError as exc:
            # A snapshot from another mode (the project changed mode while empty), or one cut
            # short or unreadable: the log holds every entry, so rebuild from it.
            logger.warning(
                "identity snapshot of project %d not used (%s); replaying its identity log",
                project.id,
                exc,
            )
            engine = new_engine(project.identity_mode, max_cluster_size=self._max_cluster_size)
            for entry in self._store.identity_entries_since(project.id, -1):
                apply_entry(engine, entry)
        # The loaded state is the stored one: its renames were written with the inputs that made
        # them.
        engine.take_renamed()
        logger.info(
            "loaded identity for project %d (%s mode): %d ids in %.1f ms",
            project.id,
            project.identity_mode,
            len(engine),
            (time.perf_counter() - started) * 1000,
        )
        return engine


class _StoreIdentityLog:
    """The IdentityLog of one project, read from an EventStore (writes go through WriteBatch)."""

    def __init__(self, store: EventStore, project_id: int) -> None:
        self._store = store
        self._project_id = project_id

    def append(self, entry: LogEntry) -> None:
        raise NotImplementedError("identity entries are written by the pipeline's WriteBatch")

    def entries_since(self, seq: int) -> Iterable[LogEntry]:
        return self._store.identity_entries_since(self._project_id, seq)

    def save_snapshot(self, chunks: Iterable[bytes], *, last_seq: int) -> None:
        self._store.save_identity_snapshot(self._project_id, chunks, last_seq=last_seq)

    def load_snapshot(self) -> Iterable[bytes] | None:
        return self._store.load_identity_snapshot(self._project_id)


class Pipeline:
    """The single writer of an EventStore. `start()` it, `submit()` to it, `stop()` it."""

    def __init__(
        self,
        store: EventStore,
        meta: MetadataStore,
        *,
        limits: Limits | None = None,
        max_cluster_size: int = 500,
        flush_interval_seconds: float = FLUSH_INTERVAL_SECONDS,
        max_batch_records: int = MAX_BATCH_RECORDS,
        fold_after_idle_seconds: float = FOLD_AFTER_IDLE_SECONDS,
        clock_ms: Callable[[], int] | None = None,
    ) -> None:
        self.store = store
        self.meta = meta
        self.limits = limits or Limits()
        self.engines = IdentityEngines(store, max_cluster_size=max_cluster_size)
        self._flush_interval = flush_interval_seconds
        self._max_batch = max_batch_records
        self._fold_after_idle = fold_after_idle_seconds
        self._clock_ms = clock_ms or (lambda: int(time.time() * 1000))
        # SimpleQueue, written in C: queue.Queue's Python locking cost each request 1.1 us more.
        self._queue: queue.SimpleQueue[Submission | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._next_seq = store.max_seq() + 1
        self._projects_with_data: set[int] = set()
        # Unknown at start (the table may hold some): fold at the first chance.
        self._overrides_since_compaction = COMPACT_EVERY_OVERRIDES

    # -- Life cycle -------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="kindred-writer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Write what is queued, save identity snapshots, and stop the writer."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None
        self.engines.save_all()

    def compact(self) -> None:
        """Fold person overrides into the stored events. Only the writer thread calls this."""
        started = time.perf_counter()
        folded = self.store.compact_person_overrides()
        self._overrides_since_compaction = 0
        if folded:
            logger.info(
                "folded %d person overrides into the events in %.1f ms",
                folded,
                (time.perf_counter() - started) * 1000,
            )

    # -- Submitting -------------------------------------------------------------------------

    async def submit(self, submission: Submission) -> SubmissionResult:
        """Queue a submission and wait until it is durable."""
        if not len(submission):
            return SubmissionResult(0)
        _encode_ahead(submission)
        submission.waiter = asyncio.get_running_loop().create_future()
        self._queue.put(submission)
        return await submission.waiter

    async def withdraw(self, project: Project, insert_id: str) -> Unmerge:
        """Withdraw the identity inputs of an event, as if it had never arrived (an unmerge).

        The writer re-points the stored events of every id whose person changes, in the same
        transaction. UnknownInsertIdError if no input with `insert_id` is still in effect.
        """
        result = await self.submit(Submission(project, withdrawals=[insert_id]))
        (unmerge,) = result.unmerges
        return unmerge

    def submit_nowait(self, submission: Submission) -> Future[SubmissionResult]:
        """Queue a submission from a thread that is not the event loop; wait on the future."""
        submission.done = Future()
        if not len(submission):
            submission.done.set_result(SubmissionResult(0))
        else:
            _encode_ahead(submission)
            self._queue.put(submission)
        return submission.done

    def write_at(
        self,
        placed: Sequence[tuple[int, Submission]],
        *,
        next_seq: int = 0,
        may_compact: bool = True,
    ) -> list[Answer]:
        """Write submissions now, on this thread, each one's events numbered from a seq of its own.

        For `kindred import`, which stores most events of a file itself and sends the rest here:
        every event keeps the seq of its place in the file, so both kinds keep the file's order.
        Seqs must ascend and be unused; numbering then goes on from `next_seq`, or after the last
        seq used if that is higher. Only while the writer thread is stopped. One transaction, like
        a flush; a failed write raises, and nothing of it was acknowledged. Person overrides are
        folded into the events afterwards when due, unless `may_compact` is false (events are
        being appended beside this write).
        """
        if self._thread is not None:
            raise RuntimeError("write_at() runs only while the writer thread is stopped")
        results = self._write_placed(placed) if placed else []
        self._next_seq = max(self._next_seq, next_seq)
        if may_compact and self._overrides_since_compaction >= COMPACT_EVERY_OVERRIDES:
            self._compact_safely()
        return results

    def _write_placed(self, placed: Sequence[tuple[int, Submission]]) -> list[Answer]:
        started = time.perf_counter()
        batch = [submission for _, submission in placed]
        write = WriteBatch()
        refusals: Counter[str] = Counter()
        entry_seq = self._next_seq
        try:
            first_seqs = [first_seq for first_seq, _ in placed]
            results = self._prepare_batch(batch, write, refusals, first_seqs)
            self._commit(batch, write)
        except Exception:
            self._roll_back(batch, entry_seq)
            raise
        self._after_commit(batch, write, refusals, started)
        return results

    # -- The writer -------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            # With overrides pending, wait only so long for work: a quiet moment is the time to
            # fold them, so that reports on an idle server read no overrides at all.
            wait = self._fold_after_idle if self._overrides_since_compaction else None
            try:
                first = self._queue.get(timeout=wait)
            except queue.Empty:
                self._compact_safely()
                continue
            if first is None:
                return
            batch, is_stopping = self._collect(first)
            self._flush(batch)
            if is_stopping:
                return
            if self._overrides_since_compaction >= COMPACT_EVERY_OVERRIDES:
                self._compact_safely()

    def _compact_safely(self) -> None:
        try:
            self.compact()
        except Exception:
            # Reports stay right with the overrides unfolded; try again after the next flush.
            logger.exception("folding person overrides failed; they stay in place")

    def _collect(self, first: Submission) -> tuple[list[Submission], bool]:
        """Take `first` and whatever has queued behind it, up to the batch cap.

        When nothing has queued, wait up to the flush window for company: a lone request pays a
        couple of milliseconds so that a burst shares one commit. Under load the queue is never
        empty, and nobody waits for the window.
        """
        batch, size = [first], len(first)
        deadline = time.monotonic() + self._flush_interval
        while size < self._max_batch:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                timeout = deadline - time.monotonic()
                if len(batch) > 1 or timeout <= 0:
                    break
                try:
                    item = self._queue.get(timeout=timeout)
                except queue.Empty:
                    break
            if item is None:
                return batch, True
            batch.append(item)
            size += len(item)
        return batch, False

    def _flush(self, batch: list[Submission]) -> None:
        started = time.perf_counter()
        write = WriteBatch()
        refusals: Counter[str] = Counter()
        first_seq = self._next_seq
        try:
            results = self._prepare_batch(batch, write, refusals)
            self._commit(batch, write)
        except Exception as exc:
            logger.exception("flush of %d submissions failed; nothing was acknowledged", len(batch))
            self._roll_back(batch, first_seq)
            _answer(batch, [exc] * len(batch))
            return

        _answer(batch, results)
        self._after_commit(batch, write, refusals, started)

    def _prepare_batch(
        self,
        batch: Sequence[Submission],
        write: WriteBatch,
        refusals: Counter[str],
        first_seqs: Sequence[int] | None = None,
    ) -> list[Answer]:
        """Apply identity and profile updates to the engines and fill `write`; one answer each.

        Events are numbered on from the next free seq, or (`first_seqs`, for `write_at`) each
        submission's from its own, which must ascend and be free.
        """
        updates = _ProfileUpdater(self.store, self.limits)
        results: list[Answer] = []
        with self.engines.lock:
            for n, submission in enumerate(batch):
                if first_seqs is not None:
                    if first_seqs[n] < self._next_seq:
                        raise ValueError(
                            f"seq {first_seqs[n]} is taken: the next free seq is {self._next_seq}"
                        )
                    self._next_seq = first_seqs[n]
                results.append(self._prepare(submission, write, updates, refusals))
            self._add_overrides(batch, write)
        updates.finish(write)
        return results

    def _commit(self, batch: Sequence[Submission], write: WriteBatch) -> None:
        # Marked before the write, so that the mode of a project can never change once it has data.
        self._mark_projects_with_data(batch)
        self.store.write(write)

    def _roll_back(self, batch: Sequence[Submission], first_seq: int) -> None:
        """After a failed write: number from `first_seq` again, and reload the engines, which
        ran ahead of the store, from what was committed."""
        self._next_seq = first_seq
        for submission in batch:
            self.engines.forget(submission.project.id)

    def _after_commit(
        self, batch: list[Submission], write: WriteBatch, refusals: Counter[str], started: float
    ) -> None:
        for project_id, count in Counter(project for project, _ in write.identity).items():
            self.engines.note_entries(project_id, count)
        self._overrides_since_compaction += len(write.overrides)

        logger.info(
            "flushed %d events, %d identity inputs, %d profile and %d group updates in %.1f ms",
            len(write.events),
            len(write.identity),
            len(write.profiles),
            len(write.groups),
            (time.perf_counter() - started) * 1000,
        )
        if refusals:
            summary = ", ".join(f"{count} {code}" for code, count in refusals.most_common())
            logger.warning("refused identity inputs in this batch: %s", summary)

    def _add_overrides(self, batch: Sequence[Submission], write: WriteBatch) -> None:
        """Re-point the stored events of every id whose canonical id this flush changed."""
        projects = {submission.project.id: submission.project for submission in batch}
        for project in projects.values():
            engine = self.engines.get(project)
            renamed = engine.take_renamed()
            if project.identity_mode is IdentityMode.LEGACY:
                continue  # Legacy is never retroactive: events keep the id they resolved to.
            write.overrides.extend((project.id, i, engine.resolve(i)) for i in renamed)

    def _mark_projects_with_data(self, batch: Sequence[Submission]) -> None:
        for project_id in {submission.project.id for submission in batch}:
            if project_id not in self._projects_with_data:
                self.meta.mark_has_data(project_id)
                self._projects_with_data.add(project_id)

    def _prepare(
        self,
        submission: Submission,
        write: WriteBatch,
        updates: _ProfileUpdater,
        refusals: Counter[str],
    ) -> Answer:
        project = submission.project
        engine = self.engines.get(project)
        unmerges = self._withdraw_all(engine, submission, write)
        if isinstance(unmerges, UnknownInsertIdError):
            return unmerges

        write.id_keys.update(submission.id_keys)
        mode = project.identity_mode
        for record in submission.events:
            seq = self._next_seq
            self._next_seq += 1
            # Skipped for most events, which carry no identity and keep their id (not Legacy).
            if mode is IdentityMode.LEGACY or may_carry_identity(
                mode, record.event, record.properties
            ):
                record = self._apply_identity(
                    engine, project, record, seq, submission, write, refusals
                )
            write.events.append((project.id, seq, record))
            person = engine.resolve(record.distinct_id)
            if person != record.distinct_id:
                write.persons[seq] = person

        errors: list[tuple[int, str]] = []
        for index, update in enumerate(submission.profile_updates):
            message = updates.apply_profile(project, engine, update)
            if message is not None:
                errors.append((index, message))
        for index, group_update in enumerate(submission.group_updates):
            message = updates.apply_group(project, group_update)
            if message is not None:
                errors.append((index, message))
        return SubmissionResult(len(submission.events), tuple(errors), unmerges)

    def _withdraw_all(
        self, engine: IdentityEngine, submission: Submission, write: WriteBatch
    ) -> tuple[Unmerge, ...] | UnknownInsertIdError:
        """Withdraw the inputs of every insert id the submission names, or of none if one is
        unknown: the submission is then refused as a whole, before it changed anything."""
        withdrawals = submission.withdrawals
        if not withdrawals:  # nearly every submission: spare the writer the empty comprehensions
            return ()
        targets = [engine.inputs_with_insert_id(insert_id) for insert_id in withdrawals]
        for insert_id, found in zip(withdrawals, targets, strict=True):
            if not found:
                return UnknownInsertIdError(insert_id)
        return tuple(
            self._withdraw(engine, submission.project, insert_id, found, write)
            for insert_id, found in zip(withdrawals, targets, strict=True)
        )

    def _withdraw(
        self,
        engine: IdentityEngine,
        project: Project,
        insert_id: str,
        targets: tuple[IdentityInput, ...],
        write: WriteBatch,
    ) -> Unmerge:
        """Withdraw `targets`, each at a seq of its own; `_add_overrides` re-points the events."""
        reclassified: list[Outcome] = []
        for target in targets:
            seq = self._next_seq
            self._next_seq += 1
            reclassified.extend(engine.withdraw(target, seq=seq))
            write.identity.append((project.id, Withdrawal(target, seq)))

        named = dict.fromkeys(i for target in targets for i in target.ids)
        canonical_ids = {i: engine.resolve(i) for i in named}
        logger.info(
            "withdrew %d identity inputs with $insert_id %r in project %d",
            len(targets),
            insert_id,
            project.id,
        )
        return Unmerge(insert_id, targets, tuple(reclassified), canonical_ids)

    def _apply_identity(
        self,
        engine: IdentityEngine,
        project: Project,
        record: EventRecord,
        seq: int,
        submission: Submission,
        write: WriteBatch,
        refusals: Counter[str],
    ) -> EventRecord:
        if not may_carry_identity(project.identity_mode, record.event, record.properties):
            return self._resolve_legacy(engine, project, record)
        properties = {**record.properties, "distinct_id": record.distinct_id}
        try:
            inp = identity_input_from_event(
                project.identity_mode,
                record.event,
                properties,
                time_ms=record.time_ms,
                seq=seq,
                insert_id=record.insert_id,
                via_import=submission.via_import,
            )
        except IdentityEventError as exc:
            logger.warning("identity event %r stored as an ordinary event: %s", record.event, exc)
            return replace(
                record, properties={**record.properties, "$failure_description": str(exc)}
            )

        if inp is not None:
            outcome = engine.apply(inp)
            write.identity.append((project.id, inp))
            _count_refusals(outcome, refusals)
        return self._resolve_legacy(engine, project, record)

    @staticmethod
    def _resolve_legacy(
        engine: IdentityEngine, project: Project, record: EventRecord
    ) -> EventRecord:
        """Legacy resolves at ingestion and stores the resolved id; never retroactively."""
        if project.identity_mode is IdentityMode.LEGACY and record.distinct_id:
            resolved = engine.resolve(record.distinct_id)
            if resolved != record.distinct_id:
                return replace(record, distinct_id=resolved)
        return record


Answer = SubmissionResult | Exception


def _encode_ahead(submission: Submission) -> None:
    """Encode what the store needs of the events now, on the submitting thread: their properties
    as JSON, and the keys of their ids.

    Under load the writer is the stage every event waits on, while the event loop has time to
    spare: this moves about a microsecond per event from the one to the other.
    """
    keys = submission.id_keys
    for record in submission.events:
        if record.distinct_id not in keys:
            keys[record.distinct_id] = id_key(record.distinct_id)
    # Properties that are not JSON are left to the store, which refuses the batch naming the event.
    with contextlib.suppress(TypeError):
        for record in submission.events:
            record.properties_json()


def _answer(batch: list[Submission], answers: Sequence[Answer]) -> None:
    """Release everyone waiting on `batch`: one wake-up per event loop, not one per request."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], Answer]]] = {}
    for submission, answer in zip(batch, answers, strict=True):
        if submission.waiter is not None:
            loop = submission.waiter.get_loop()
            by_loop.setdefault(loop, []).append((submission.waiter, answer))
        elif submission.done is None:
            continue
        elif isinstance(answer, Exception):
            submission.done.set_exception(answer)
        else:
            submission.done.set_result(answer)
    for loop, waiters in by_loop.items():
        loop.call_soon_threadsafe(_settle, waiters)


def _settle(waiters: list[tuple[asyncio.Future[Any], Answer]]) -> None:
    for waiter, answer in waiters:
        if waiter.done():  # the request went away
            continue
        if isinstance(answer, Exception):
            waiter.set_exception(answer)
        else:
            waiter.set_result(answer)


def _count_refusals(outcome: Outcome, refusals: Counter[str]) -> None:
    if outcome.code is not None:
        refusals[outcome.code] += 1
    for other in outcome.reclassified:
        if other.code is not None:
            refusals[other.code] += 1


class _ProfileUpdater:
    """Applies one flush's profile and group updates on top of the stored profiles."""

    def __init__(self, store: EventStore, limits: Limits) -> None:
        self._store = store
        self._limits = limits
        # Profiles read or written in this flush, by (project, raw id); None means no profile.
        self._profiles: dict[tuple[int, str], StoredProfile | None] = {}
        self._changed: set[tuple[int, str]] = set()
        self._groups: dict[tuple[int, str, str], StoredProfile | None] = {}

    def apply_profile(
        self, project: Project, engine: IdentityEngine, update: ProfileUpdate
    ) -> str | None:
        """Apply one update; return why it failed, or None."""
        candidates = {update.distinct_id, engine.resolve(update.distinct_id)}
        if not update.ignore_alias and project.identity_mode is not IdentityMode.SIMPLIFIED:
            candidates |= engine.members(update.distinct_id)
        times = self._profile_times(project.id, candidates)
        target = profile_target(
            engine, update.distinct_id, ignore_alias=update.ignore_alias, profiles=times
        )

        current = self._profiles[(project.id, target)]
        try:
            properties = apply_profile_update(
                None if current is None else current.properties, update, limits=self._limits
            )
        except ValueError as exc:
            return str(exc)
        stored = None if properties is None else StoredProfile(target, properties, update.time_ms)
        self._profiles[(project.id, target)] = stored
        self._changed.add((project.id, target))
        return None

    def apply_group(self, project: Project, update: GroupUpdate) -> str | None:
        key = (project.id, update.group_key, update.group_id)
        if key not in self._groups:
            found = self._store.groups(project.id, update.group_key, [update.group_id])
            self._groups[key] = found.get(update.group_id)
        current = self._groups[key]
        try:
            properties = apply_group_update(
                None if current is None else current.properties, update, limits=self._limits
            )
        except ValueError as exc:
            return str(exc)
        stored = (
            None
            if properties is None
            else StoredProfile(update.group_id, properties, update.time_ms)
        )
        self._groups[key] = stored
        return None

    def finish(self, write: WriteBatch) -> None:
        """Add every profile this flush changed to the write, in its final state."""
        for project_id, distinct_id in self._changed:
            profile = self._profiles[(project_id, distinct_id)]
            properties = None if profile is None else profile.properties
            updated = 0 if profile is None else profile.updated_ms
            write.profiles.append((project_id, distinct_id, properties, updated))
        for (project_id, key, group_id), group in self._groups.items():
            properties = None if group is None else group.properties
            updated = 0 if group is None else group.updated_ms
            write.groups.append((project_id, key, group_id, properties, updated))

    def _profile_times(self, project_id: int, distinct_ids: set[str]) -> dict[str, int]:
        missing = [i for i in distinct_ids if (project_id, i) not in self._profiles]
        if missing:
            found = self._store.profiles(project_id, missing)
            for distinct_id in missing:
                self._profiles[(project_id, distinct_id)] = found.get(distinct_id)
        times = {}
        for distinct_id in distinct_ids:
            profile = self._profiles[(project_id, distinct_id)]
            if profile is not None:
                times[distinct_id] = profile.updated_ms
        return times
