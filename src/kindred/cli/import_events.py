"""`kindred import FILE...`: load Mixpanel-format events through the ingestion pipeline.

Files hold NDJSON (one event a line, as Mixpanel's raw export writes them) or one JSON array.
Every line is validated like an /import event; a rejected line is reported with its reason and the
rest go on. The server must not be running on the same data dir: DuckDB lets one process write.

Most events take a bulk path: DuckDB reads the file and stores the plainly valid ordinary events
itself, exactly as the pipeline would (`kindred.storage.bulk_import` says how it knows), and this
module sends every other event (identity events, events to truncate or refuse, files DuckDB cannot
read, Legacy-mode projects) through validation and the pipeline, line by line as before. Each
event gets the seq of its place in the file, so the two kinds keep the file's order.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import orjson

from kindred.api.services import Services
from kindred.cli.interpreter import collect_garbage_less_often
from kindred.errors import ConfigError
from kindred.identity import IdentityEngine, IdentityMode
from kindred.ingest.events import validate_event
from kindred.ingest.model import Endpoint, EventRecord, RecordError
from kindred.pipeline import Submission, SubmissionResult
from kindred.server import build_services
from kindred.settings import Settings
from kindred.storage.base import Project
from kindred.storage.bulk_import import BulkRules, StagedFile, stage_file
from kindred.storage.duckdb_store import DuckDBEventStore
from kindred.storage.errors import StorageError
from kindred.storage.keys import id_key

CHUNK_EVENTS = 2000
# Rows of a staged file read back at a time when sending its other rows to the pipeline: more
# than CHUNK_EVENTS, so that a fetch always holds a whole chunk.
FETCH_ROWS = 100_000
# Events per pipeline transaction for those rows: few transactions, in memory a few MB each.
WRITE_EVENTS = 50_000
UTF8_BOM = b"\xef\xbb\xbf"
SCAN_BYTES = 1 << 20


@click.command("import")
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "--project", "project_name", default="default", show_default=True, help="Project name or id."
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The data dir [env KINDRED_DATA_DIR; default ./kindred-data].",
)
# Hidden: for tests that compare the bulk path with the line-by-line path it must equal.
@click.option("--bulk/--no-bulk", "is_bulk", default=True, hidden=True)
def import_events(
    files: tuple[Path, ...], project_name: str, data_dir: Path | None, is_bulk: bool
) -> None:
    """Import events from NDJSON or JSON-array files, reporting each rejected line."""
    try:
        settings = Settings.from_env(data_dir=data_dir)
        services = build_services(settings)
    except (ConfigError, StorageError) as exc:
        raise click.ClickException(
            f"{exc}\nIf `kindred serve` is running on this data dir, stop it first, or send the "
            "events to its /import endpoint instead."
        ) from None

    project = services.meta.project_by_name(project_name)
    if project is None and project_name.isdigit():
        project = services.meta.project(int(project_name))
    if project is None:
        services.store.close()
        raise click.ClickException(f"no project named {project_name!r}; see `kindred project list`")

    collect_garbage_less_often()
    started = time.perf_counter()
    try:
        imported, rejected = import_files(files, project, services, is_bulk=is_bulk)
    finally:
        services.pipeline.stop()
        services.store.close()
        services.meta.close()
    seconds = time.perf_counter() - started
    rate = imported / seconds if seconds else 0.0
    click.echo(
        f"imported {imported} events, rejected {rejected}, in {seconds:.1f} s ({rate:,.0f}/s)"
    )


def import_files(
    files: Sequence[Path], project: Project, services: Services, *, is_bulk: bool = True
) -> tuple[int, int]:
    """Import `files` in order; return (events imported, lines rejected). The pipeline's writer
    is stopped again afterwards; the caller closes the stores."""
    imported = rejected = 0
    for path in files:
        done = _bulk_import_file(path, project, services) if is_bulk else None
        if done is None:
            done = _import_line_by_line(path, project, services)
        imported += done[0]
        rejected += done[1]
    return imported, rejected


def _import_line_by_line(path: Path, project: Project, services: Services) -> tuple[int, int]:
    # The pipeline's writer runs for this file only: the bulk path writes with it stopped.
    services.pipeline.start()
    try:
        return _import_file(path, project, services)
    finally:
        services.pipeline.stop()


# -- Line by line -------------------------------------------------------------------------------


def _import_file(path: Path, project: Project, services: Any) -> tuple[int, int]:
    imported = rejected = 0
    now_ms = services.clock_ms()
    pending: list[Any] = []
    with click.progressbar(length=path.stat().st_size, label=str(path)) as progress:
        for chunk, size in _chunks(path):
            submission = Submission(project, via_import=True)
            for line_number, item in chunk:
                result = validate_event(
                    item,
                    line_number,
                    endpoint=Endpoint.IMPORT,
                    mode=project.identity_mode,
                    now_ms=now_ms,
                    limits=services.limits,
                    is_strict=False,
                    may_reuse=True,
                )
                if isinstance(result, RecordError):
                    rejected += 1
                    click.echo(f"{path}:{line_number}: {result.field}: {result.message}", err=True)
                elif result is not None:
                    submission.events.append(result)
            # Keep a few chunks in flight, so that validating the next overlaps writing this one.
            pending.append(services.pipeline.submit_nowait(submission))
            if len(pending) > 2:
                imported += pending.pop(0).result().events_stored
            progress.update(size)
        for future in pending:
            imported += future.result().events_stored
    return imported, rejected


def _chunks(path: Path) -> Iterator[tuple[list[tuple[int, Any]], int]]:
    """(line number, decoded event) in chunks, with the bytes each chunk covered."""
    with path.open("rb") as file:
        head = file.read(64).lstrip()
        file.seek(0)
        if head.startswith(b"["):
            items = orjson.loads(file.read())
            for start in range(0, len(items), CHUNK_EVENTS):
                part = items[start : start + CHUNK_EVENTS]
                yield [(start + i + 1, item) for i, item in enumerate(part)], 0
            return

        lines: list[tuple[int, bytes]] = []
        size = 0
        for line_number, line in enumerate(file, start=1):
            size += len(line)
            if line.strip():
                lines.append((line_number, line))
            if len(lines) >= CHUNK_EVENTS:
                yield _parse_lines(path, lines), size
                lines, size = [], 0
        if lines or size:
            yield _parse_lines(path, lines), size


def _parse_lines(path: Path, lines: list[tuple[int, bytes]]) -> list[tuple[int, Any]]:
    """Decode a chunk of NDJSON lines with one parse; line by line only to report a bad one."""
    try:
        items = orjson.loads(b"[" + b",".join(line for _, line in lines) + b"]")
        return [(number, item) for (number, _), item in zip(lines, items, strict=True)]
    except (orjson.JSONDecodeError, ValueError):
        pass
    parsed = []
    for number, line in lines:
        try:
            parsed.append((number, orjson.loads(line)))
        except orjson.JSONDecodeError as exc:
            click.echo(f"{path}:{number}: not JSON ({exc}); skipped", err=True)
    return parsed


# -- In bulk --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _BulkFile:
    """A file on the bulk path: where, how laid out, for which project, by which rules."""

    path: Path
    is_array: bool
    project: Project
    services: Services
    rules: BulkRules


def _bulk_import_file(path: Path, project: Project, services: Services) -> tuple[int, int] | None:
    """Import `path` through the bulk path; None when that path cannot take this file."""
    store = services.store
    if project.identity_mode is IdentityMode.LEGACY or not isinstance(store, DuckDBEventStore):
        return None  # Legacy resolves ids as events arrive; only DuckDB reads files
    is_array = _bulk_format(path)
    if is_array is None:
        return None
    rules = BulkRules(project.identity_mode, services.clock_ms(), services.limits)
    job = _BulkFile(path, is_array, project, services, rules)
    with (
        store.bulk_cursor(f"import {path}") as cursor,
        click.progressbar(length=3, label=str(path)) as progress,
        ThreadPoolExecutor(max_workers=1) as executor,
    ):
        # Read the file once more meanwhile, on a core DuckDB leaves now and then.
        has_odd_spaces = executor.submit(_has_odd_spaces, path)
        staged = stage_file(cursor, path, is_array=is_array, rules=rules)
        if staged is None:
            return None
        try:
            if has_odd_spaces.result():
                return None
            progress.update(1)
            return _load_staged(staged, job, progress)
        finally:
            staged.drop()


def _bulk_format(path: Path) -> bool | None:
    """Whether `path` is a JSON array (as `_chunks` decides), or None when it starts with a
    byte-order mark: DuckDB skips it, orjson refuses it."""
    with path.open("rb") as file:
        head = file.read(64)
    if head.startswith(UTF8_BOM):
        return None
    return head.lstrip().startswith(b"[")


def _has_odd_spaces(path: Path) -> bool:
    """Whether `path` holds a vertical tab or form feed: DuckDB takes them for spaces around a
    line and reads it, orjson refuses it. Read in blocks, so that the thread running this lets
    the one running DuckDB have the GIL between two."""
    with path.open("rb") as file:
        while block := file.read(SCAN_BYTES):
            if b"\x0b" in block or b"\x0c" in block:
                return True
    return False


def _load_staged(staged: StagedFile, job: _BulkFile, progress: Any) -> tuple[int, int] | None:
    """Store the plain rows while the other rows go through validation and the pipeline;
    return (imported, rejected)."""
    services, project = job.services, job.project
    first_seq = services.store.max_seq() + 1
    others = _OtherRows(staged, job, first_seq)
    if job.is_array and not others.all_parse():
        return None  # orjson refuses the whole file: the line-by-line path reports it
    head = others.fetch_head()
    if staged.plain:
        services.meta.mark_has_data(project.id)  # before the write, as the pipeline does
    # Persons as they stand before this file's identity inputs: the pipeline re-points the ids
    # those inputs move, with overrides that cover these rows too.
    person_keys = _person_keys(staged.plain_ids(), services.pipeline.engines.get(project))

    # DuckDB inserts the plain rows on a thread of its own (it lets go of the GIL) while the other
    # rows are validated, their identity inputs applied and written beside the insert: waiting
    # for it first made the whole import 0.2 s slower (bench/README.md). Folding the overrides
    # into the events (`Pipeline.compact`) does wait: these rows need the overrides until then.
    with ThreadPoolExecutor(max_workers=1) as executor:
        plain = executor.submit(staged.store_plain, project.id, first_seq, person_keys)
        imported, rejected = others.import_rows(head)
        imported += others.write() + plain.result()
    progress.update(1)

    others.may_compact = True
    done, refused = others.import_rest()
    # The pipeline numbers the next events after these.
    services.pipeline.write_at([], next_seq=services.store.max_seq() + 1)
    progress.update(1)
    return imported + done, rejected + refused


def _person_keys(distinct_ids: list[str], engine: IdentityEngine) -> list[tuple[str, int, int]]:
    """(id, its key, the key of its person), as the pipeline and the store compute them."""
    keys = []
    for distinct_id in distinct_ids:
        key = id_key(distinct_id)
        person = engine.resolve(distinct_id)
        keys.append((distinct_id, key, key if person == distinct_id else id_key(person)))
    return keys


class _OtherRows:
    """The rows of a staged file that are not plain, sent through validation and the pipeline.

    Messages come out as the line-by-line path prints them: per chunk of `CHUNK_EVENTS` rows,
    first the lines that are not JSON, then the rejected events, each in file order.
    """

    def __init__(self, staged: StagedFile, job: _BulkFile, first_seq: int) -> None:
        self.staged = staged
        self.job = job
        self.path = job.path
        self.first_seq = first_seq
        self.lines = _LineIndex(job.path)
        self.placed: list[tuple[int, Submission]] = []
        self.placed_events = 0
        self.last_row = -2
        self.next_row = 0
        # False while the plain rows are being inserted.
        self.may_compact = False

    def all_parse(self) -> bool:
        """Whether orjson decodes every other row (a JSON array is decoded whole, line by line)."""
        for rows in self._fetch(0):
            for _, text in rows:
                try:
                    orjson.loads(text)
                except orjson.JSONDecodeError:
                    return False
        return True

    def fetch_head(self) -> list[tuple[int, str]]:
        """The first other rows, for `import_rows()` while the cursor is busy elsewhere."""
        rows, self.next_row = _whole_chunks(self.staged.other_rows(0, FETCH_ROWS), self.staged)
        return rows

    def import_rows(self, rows: list[tuple[int, str]]) -> tuple[int, int]:
        """Validate `rows`, writing through the pipeline every `WRITE_EVENTS` events."""
        imported = rejected = 0
        for chunk in _by_chunk(rows):
            imported_now, rejected_now = self._import_chunk(chunk)
            imported += imported_now
            rejected += rejected_now
        return imported, rejected

    def import_rest(self) -> tuple[int, int]:
        """The other rows after the head, then the last write; (imported, rejected)."""
        imported = rejected = 0
        for rows in self._fetch(self.next_row):
            done, refused = self.import_rows(rows)
            imported += done
            rejected += refused
        return imported + self.write(), rejected

    def _fetch(self, start: int) -> Iterator[list[tuple[int, str]]]:
        while start < self.staged.rows:
            rows, start = _whole_chunks(self.staged.other_rows(start, FETCH_ROWS), self.staged)
            yield rows

    def _import_chunk(self, rows: list[tuple[int, str]]) -> tuple[int, int]:
        imported = rejected = 0
        items = self._parse(rows)
        for row, item in items:
            result = validate_event(
                item,
                row + 1,
                endpoint=Endpoint.IMPORT,
                mode=self.job.project.identity_mode,
                now_ms=self.job.rules.now_ms,
                limits=self.job.rules.limits,
                is_strict=False,
                may_reuse=True,
            )
            if isinstance(result, RecordError):
                rejected += 1
                line = self._line_number(row)
                click.echo(f"{self.path}:{line}: {result.field}: {result.message}", err=True)
            elif result is not None:
                self._place(row, result)
        if self.placed_events >= WRITE_EVENTS:
            imported += self.write()
        return imported, rejected

    def _parse(self, rows: list[tuple[int, str]]) -> list[tuple[int, Any]]:
        """Decode each row; a line that is not JSON is reported and skipped, not rejected."""
        parsed = []
        for row, text in rows:
            try:
                parsed.append((row, orjson.loads(text)))
            except orjson.JSONDecodeError:
                # DuckDB dropped the spaces around the line: decode the line itself, for the
                # message line by line would print.
                number, line = self.lines.line(row)
                try:
                    orjson.loads(line)
                except orjson.JSONDecodeError as exc:
                    click.echo(f"{self.path}:{number}: not JSON ({exc}); skipped", err=True)
        return parsed

    def _place(self, row: int, record: EventRecord) -> None:
        """Add the event of `row` to the submission of the run of rows it continues."""
        if row != self.last_row + 1 or not self.placed:
            submission = Submission(self.job.project, via_import=True)
            self.placed.append((self.first_seq + row, submission))
        self.placed[-1][1].events.append(record)
        self.placed_events += 1
        self.last_row = row

    def write(self) -> int:
        """Write the events placed so far through the pipeline; return how many it stored."""
        answers = self.job.services.pipeline.write_at(self.placed, may_compact=self.may_compact)
        self.placed, self.placed_events = [], 0
        stored = 0
        for answer in answers:
            assert isinstance(answer, SubmissionResult), answer
            stored += answer.events_stored
        return stored

    def _line_number(self, row: int) -> int:
        return row + 1 if self.job.is_array else self.lines.line(row)[0]


def _whole_chunks(
    rows: list[tuple[int, str]], staged: StagedFile
) -> tuple[list[tuple[int, str]], int]:
    """`rows` (a fetch of at most `FETCH_ROWS`) less a last chunk that may go on in the next fetch,
    and the row the next fetch starts at: a chunk's messages are printed together."""
    if len(rows) < FETCH_ROWS:
        return rows, staged.rows
    last_chunk = rows[-1][0] // CHUNK_EVENTS
    return [r for r in rows if r[0] // CHUNK_EVENTS < last_chunk], last_chunk * CHUNK_EVENTS


def _by_chunk(rows: list[tuple[int, str]]) -> Iterator[list[tuple[int, str]]]:
    """`rows` grouped by the chunk of `CHUNK_EVENTS` rows the line-by-line path reads them in."""
    chunk: list[tuple[int, str]] = []
    for row, text in rows:
        if chunk and row // CHUNK_EVENTS != chunk[0][0] // CHUNK_EVENTS:
            yield chunk
            chunk = []
        chunk.append((row, text))
    if chunk:
        yield chunk


class _LineIndex:
    """Where each row of an NDJSON file sits: its line number and bytes. Built on first use, by
    reading the file as `_chunks` does: a row is a line that is not blank."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._numbers: list[int] | None = None
        self._offsets: list[int] = []

    def line(self, row: int) -> tuple[int, bytes]:
        if self._numbers is None:
            self._numbers = self._index()
        with self._path.open("rb") as file:
            file.seek(self._offsets[row])
            return self._numbers[row], file.readline()

    def _index(self) -> list[int]:
        numbers = []
        offset = 0
        with self._path.open("rb") as file:
            for number, line in enumerate(file, start=1):
                if line.strip():
                    numbers.append(number)
                    self._offsets.append(offset)
                offset += len(line)
        return numbers
