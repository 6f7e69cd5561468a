"""`kindred import FILE...`: load Mixpanel-format events through the ingestion pipeline.

Files hold NDJSON (one event a line, as Mixpanel's raw export writes them) or one JSON array.
Every line is validated like an /import event; a rejected line is reported with its reason and the
rest go on. The server must not be running on the same data dir: DuckDB lets one process write.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import orjson

from kindred.errors import ConfigError
from kindred.ingest.events import validate_event
from kindred.ingest.model import Endpoint, RecordError
from kindred.pipeline import Submission
from kindred.server import build_services
from kindred.settings import Settings
from kindred.storage.base import Project
from kindred.storage.errors import StorageError

CHUNK_EVENTS = 2000


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
def import_events(files: tuple[Path, ...], project_name: str, data_dir: Path | None) -> None:
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

    started = time.perf_counter()
    services.pipeline.start()
    imported = rejected = 0
    try:
        for path in files:
            done, refused = _import_file(path, project, services)
            imported += done
            rejected += refused
    finally:
        services.pipeline.stop()
        services.store.close()
        services.meta.close()
    seconds = time.perf_counter() - started
    rate = imported / seconds if seconds else 0.0
    click.echo(
        f"imported {imported} events, rejected {rejected}, in {seconds:.1f} s ({rate:,.0f}/s)"
    )


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
