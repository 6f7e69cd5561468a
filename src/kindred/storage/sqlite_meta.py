"""`MetadataStore` on a SQLite file, which the server and the CLI may open at the same time.

WAL mode lets readers run beside the one writer of each moment, and `busy_timeout` makes a writer
wait for the other process instead of failing at once. Within a process, one connection is shared
by every thread behind a lock. Secrets are stored as given (the CLI shows them to the user) and
never appear in a message or a log line.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import orjson

from kindred.identity.model import IdentityMode
from kindred.storage.base import Project, SavedFunnel, ServiceAccount
from kindred.storage.errors import (
    PermanentStorageError,
    ProjectExistsError,
    ProjectHasDataError,
    ServiceAccountExistsError,
    TransientStorageError,
    UnknownProjectError,
)

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
BUSY_TIMEOUT_MS = 10_000

# AUTOINCREMENT: ids start at 1 and are never reused, even after a project is deleted.
SCHEMA = """
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS projects (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    token TEXT NOT NULL UNIQUE,
    secret TEXT NOT NULL,
    identity_mode TEXT NOT NULL,
    has_data INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS service_accounts (
    username TEXT PRIMARY KEY,
    project_id INTEGER NOT NULL REFERENCES projects (id),
    secret TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS funnels (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id INTEGER NOT NULL REFERENCES projects (id),
    name TEXT NOT NULL,
    definition TEXT NOT NULL
);
"""

PROJECT_COLUMNS = "id, name, token, secret, identity_mode, has_data"


@contextmanager
def map_sqlite_errors(action: str, path: str) -> Iterator[None]:
    """Re-raise sqlite3's exceptions as `TransientStorageError` or `PermanentStorageError`."""
    try:
        yield
    except sqlite3.OperationalError as exc:
        text = str(exc)
        if "locked" in text or "busy" in text:
            raise TransientStorageError(
                f"could not {action} in {path}: another process held the database for more than "
                f"{BUSY_TIMEOUT_MS} ms ({text}); try again"
            ) from exc
        raise PermanentStorageError(
            f"could not {action} in {path}: {text}; check that the file exists, is readable "
            "and writable, and that the disk is not full"
        ) from exc
    except sqlite3.ProgrammingError as exc:
        raise PermanentStorageError(f"could not {action} in {path}: {exc}") from exc
    except sqlite3.Error as exc:
        raise PermanentStorageError(
            f"could not {action} in {path}: {exc}; is this a kindred metadata file?"
        ) from exc


class SQLiteMetadataStore:
    """Projects and service accounts in a SQLite file. Thread-safe; safe across processes."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._path = os.fspath(path)
        self._lock = threading.Lock()
        with map_sqlite_errors("open the metadata database", self._path):
            self._db = sqlite3.connect(
                self._path,
                timeout=BUSY_TIMEOUT_MS / 1000,
                isolation_level=None,
                check_same_thread=False,
            )
            self._db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA foreign_keys = ON")
            self._create_schema()

    def _create_schema(self) -> None:
        with self._transaction():
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    self._db.execute(statement)
            row = self._db.execute("SELECT max(version) FROM schema_version").fetchone()
            if row[0] is None:
                self._db.execute("INSERT INTO schema_version VALUES (?)", (SCHEMA_VERSION,))
            elif row[0] > SCHEMA_VERSION:
                raise PermanentStorageError(
                    f"{self._path} has schema version {row[0]}, newer than this kindred "
                    f"understands ({SCHEMA_VERSION}); upgrade kindred"
                )

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        # IMMEDIATE takes the write lock at once, so a check and the write after it see the same
        # data even when another process writes too.
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def create_project(
        self, name: str, *, token: str, secret: str, identity_mode: IdentityMode
    ) -> Project:
        mode = IdentityMode(identity_mode)
        with (
            self._lock,
            map_sqlite_errors(f"create project {name!r}", self._path),
            self._transaction(),
        ):
            if self._select("WHERE name = ?", name):
                raise ProjectExistsError(name=name)
            if self._select("WHERE token = ?", token):
                raise ProjectExistsError(token=token)
            cursor = self._db.execute(
                "INSERT INTO projects (name, token, secret, identity_mode) VALUES (?, ?, ?, ?)",
                (name, token, secret, mode.value),
            )
            project_id = cursor.lastrowid
        assert project_id is not None
        logger.info("created project %d (%s) in %s mode", project_id, name, mode.value)
        return Project(project_id, name, token, secret, mode)

    def project(self, project_id: int) -> Project | None:
        return self._one("WHERE id = ?", project_id)

    def project_by_name(self, name: str) -> Project | None:
        return self._one("WHERE name = ?", name)

    def project_by_token(self, token: str) -> Project | None:
        return self._one("WHERE token = ?", token)

    def projects(self) -> list[Project]:
        with self._lock, map_sqlite_errors("list projects", self._path):
            return self._select("ORDER BY id")

    def set_identity_mode(self, project_id: int, mode: IdentityMode) -> Project:
        mode = IdentityMode(mode)
        with (
            self._lock,
            map_sqlite_errors("change an identity mode", self._path),
            self._transaction(),
        ):
            found = self._select("WHERE id = ?", project_id)
            if not found:
                raise UnknownProjectError(project_id)
            project = found[0]
            if project.identity_mode == mode:
                return project
            if project.has_data:
                raise ProjectHasDataError(project_id, project.identity_mode, mode)
            self._db.execute(
                "UPDATE projects SET identity_mode = ? WHERE id = ?", (mode.value, project_id)
            )
        logger.info("project %d now uses %s mode", project_id, mode.value)
        return replace(project, identity_mode=mode)

    def mark_has_data(self, project_id: int) -> None:
        with self._lock, map_sqlite_errors("mark a project as holding data", self._path):
            cursor = self._db.execute(
                "UPDATE projects SET has_data = 1 WHERE id = ? AND has_data = 0", (project_id,)
            )
            if cursor.rowcount == 0 and not self._select("WHERE id = ?", project_id):
                raise UnknownProjectError(project_id)

    def create_service_account(self, project_id: int, username: str, secret: str) -> ServiceAccount:
        with (
            self._lock,
            map_sqlite_errors("create a service account", self._path),
            self._transaction(),
        ):
            if not self._select("WHERE id = ?", project_id):
                raise UnknownProjectError(project_id)
            taken = self._db.execute(
                "SELECT 1 FROM service_accounts WHERE username = ?", (username,)
            ).fetchone()
            if taken:
                raise ServiceAccountExistsError(username)
            self._db.execute(
                "INSERT INTO service_accounts (username, project_id, secret) VALUES (?, ?, ?)",
                (username, project_id, secret),
            )
        logger.info("created service account %s for project %d", username, project_id)
        return ServiceAccount(project_id, username, secret)

    def service_account(self, username: str) -> ServiceAccount | None:
        with self._lock, map_sqlite_errors("look up a service account", self._path):
            row = self._db.execute(
                "SELECT project_id, username, secret FROM service_accounts WHERE username = ?",
                (username,),
            ).fetchone()
        return None if row is None else ServiceAccount(row[0], row[1], row[2])

    def save_funnel(self, project_id: int, name: str, definition: dict[str, Any]) -> SavedFunnel:
        text = orjson.dumps(definition).decode()
        with self._lock, map_sqlite_errors("save a funnel", self._path), self._transaction():
            if not self._select("WHERE id = ?", project_id):
                raise UnknownProjectError(project_id)
            cursor = self._db.execute(
                "INSERT INTO funnels (project_id, name, definition) VALUES (?, ?, ?)",
                (project_id, name, text),
            )
            funnel_id = cursor.lastrowid
        assert funnel_id is not None
        return SavedFunnel(funnel_id, project_id, name, definition)

    def funnels(self, project_id: int) -> list[SavedFunnel]:
        sql = "SELECT id, name, definition FROM funnels WHERE project_id = ? ORDER BY id"
        with self._lock, map_sqlite_errors("list funnels", self._path):
            rows = self._db.execute(sql, (project_id,)).fetchall()
        return [SavedFunnel(row[0], project_id, row[1], orjson.loads(row[2])) for row in rows]

    def close(self) -> None:
        with self._lock, map_sqlite_errors("close the metadata database", self._path):
            self._db.close()

    def _one(self, where: str, value: object) -> Project | None:
        with self._lock, map_sqlite_errors("look up a project", self._path):
            found = self._select(where, value)
        return found[0] if found else None

    def _select(self, where: str, *values: object) -> list[Project]:
        rows = self._db.execute(f"SELECT {PROJECT_COLUMNS} FROM projects {where}", values)
        return [
            Project(row[0], row[1], row[2], row[3], IdentityMode(row[4]), bool(row[5]))
            for row in rows
        ]
