"""What only the SQLite metadata store does: WAL mode, and sharing the file with another process."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from kindred.identity.model import IdentityMode
from kindred.storage.errors import PermanentStorageError, ProjectExistsError
from kindred.storage.sqlite_meta import SQLiteMetadataStore

CREATE_IN_CHILD = """
import sys
from kindred.storage.sqlite_meta import SQLiteMetadataStore
meta = SQLiteMetadataStore(sys.argv[1])
project = meta.create_project("cli", token="token-cli", secret="s", identity_mode="legacy")
meta.close()
print(project.id)
"""


def test_the_file_is_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "meta.sqlite"
    SQLiteMetadataStore(path).close()

    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_a_project_created_by_another_process_is_seen_at_once(tmp_path: Path) -> None:
    path = tmp_path / "meta.sqlite"
    server = SQLiteMetadataStore(path)
    server.create_project("web", token="token-web", secret="s", identity_mode=IdentityMode.ORIGINAL)

    command = [sys.executable, "-c", CREATE_IN_CHILD, str(path)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=30, check=True)

    created = server.project_by_token("token-cli")
    assert created is not None
    assert (created.id, created.identity_mode) == (int(result.stdout), IdentityMode.LEGACY)
    with pytest.raises(ProjectExistsError):
        server.create_project("cli", token="t", secret="s", identity_mode=IdentityMode.ORIGINAL)
    server.close()


def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "meta.sqlite"
    path.write_bytes(b"this is not sqlite" * 100)

    with pytest.raises(PermanentStorageError, match="meta.sqlite"):
        SQLiteMetadataStore(path)
