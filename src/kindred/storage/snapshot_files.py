"""Identity snapshots as files beside the embedded database, written and read a chunk at a time.

A snapshot is a cache of the identity log (kindred.identity.persistence): it saves replaying the log
at start-up, and a missing or unusable one only costs that replay. Its bytes are not kept in
DuckDB: DuckDB holds a transaction's rows in memory until it ends and keeps the blocks it wrote
cached, so saving a million identities' snapshot (about 225 MB) as one row took the server from
0.7 GB to 2.9 GB. A file is written a chunk at a time, read back a chunk at a time, and stays in the
page cache rather than in the server.

`<project id>-<last seq>.snapshot` is written as `.partial`, synced and renamed into place. The
database then records which file is the snapshot (`DuckDBEventStore.save_identity_snapshot`), so a
crash at any point leaves it naming a whole file, and a database restored from a backup never
picks up a snapshot newer than its own identity log.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from kindred.storage.errors import TransientStorageError

logger = logging.getLogger(__name__)

READ_BYTES = 8 << 20
SUFFIX = ".snapshot"


class SnapshotFiles:
    """The snapshots of every project, one file each, in `directory` (created on first save)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def save(self, project_id: int, chunks: Iterable[bytes], *, last_seq: int) -> None:
        """Write `chunks` in order as the file of the project's snapshot up to `last_seq`."""
        final = self._path(project_id, last_seq)
        partial = final.with_suffix(".partial")
        try:
            self.directory.mkdir(exist_ok=True)
            with partial.open("wb") as file:
                for chunk in chunks:
                    file.write(chunk)
                file.flush()
                os.fsync(file.fileno())
            os.replace(partial, final)
            _sync_directory(self.directory)
        except OSError as exc:
            _discard(partial)
            raise TransientStorageError(
                f"could not save the identity snapshot of project {project_id} in "
                f"{self.directory}: {exc}; check free disk space and permissions"
            ) from exc
        except BaseException:
            _discard(partial)
            raise

    def read(self, project_id: int, last_seq: int) -> Iterator[bytes] | None:
        """The chunks of the snapshot file up to `last_seq`, read as they are taken; None if it
        is gone."""
        path = self._path(project_id, last_seq)
        try:
            file = path.open("rb")
        except FileNotFoundError:
            logger.warning(
                "identity snapshot %s is missing; rebuilding from the identity log", path
            )
            return None
        return _read_chunks(file)

    def remove_others(self, project_id: int, last_seq: int) -> None:
        """Delete the project's snapshot files other than the one up to `last_seq`."""
        if not self.directory.is_dir():
            return
        keep = self._path(project_id, last_seq)
        for path in self.directory.glob(f"{project_id}-*"):
            if path != keep and path.name.removeprefix(f"{project_id}-")[:1].isdigit():
                path.unlink(missing_ok=True)

    def _path(self, project_id: int, last_seq: int) -> Path:
        return self.directory / f"{project_id}-{last_seq}{SUFFIX}"


def _read_chunks(file: BinaryIO) -> Iterator[bytes]:
    with file:
        while chunk := file.read(READ_BYTES):
            yield chunk


def _discard(partial: Path) -> None:
    with contextlib.suppress(OSError):  # the error that stopped the save is the one to report
        partial.unlink(missing_ok=True)


def _sync_directory(directory: Path) -> None:
    """Make the rename durable: the directory entry is what a crash could lose."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
