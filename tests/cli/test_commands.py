"""`kindred project ...`, `kindred service-account create` and `kindred import`, as a user runs them."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from kindred.storage.base import Project
from kindred.storage.sqlite_meta import SQLiteMetadataStore
from tests.conftest import LiveServer, free_port


def kindred(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kindred", *args],
        capture_output=True,
        text=True,
        check=check,
        timeout=120,
    )


def test_project_create_prints_the_project_and_list_and_show_find_it(tmp_path: Path) -> None:
    data = str(tmp_path / "data")

    created = orjson.loads(
        kindred(
            "project", "create", "shop", "--identity-mode", "simplified", "--data-dir", data
        ).stdout
    )
    listed = orjson.loads(kindred("project", "list", "--data-dir", data).stdout)
    shown = orjson.loads(kindred("project", "show", "shop", "--data-dir", data).stdout)

    assert created["name"] == "shop"
    assert created["identity_mode"] == "simplified"
    assert len(created["token"]) == 32 and len(created["secret"]) == 32
    assert listed == [created]
    assert shown == created


def test_project_create_refuses_a_taken_name_with_a_clear_error(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    kindred("project", "create", "shop", "--data-dir", data)

    again = kindred("project", "create", "shop", "--data-dir", data, check=False)

    assert again.returncode == 1
    assert "shop" in again.stderr


def test_set_mode_works_while_empty_and_is_refused_once_the_project_has_data(
    tmp_path: Path,
) -> None:
    server = LiveServer(tmp_path / "data", free_port())
    server.start()
    try:
        data = str(server.data_dir)
        project = server.new_project()
        changed = kindred("project", "set-mode", project.name, "legacy", "--data-dir", data)
        assert orjson.loads(changed.stdout)["identity_mode"] == "legacy"

        _track(server, project.token)
        refused = kindred(
            "project", "set-mode", project.name, "original", "--data-dir", data, check=False
        )
    finally:
        server.stop()

    assert refused.returncode == 1
    assert "data" in refused.stderr


def test_a_project_created_beside_a_running_server_is_served_at_once(tmp_path: Path) -> None:
    server = LiveServer(tmp_path / "data", free_port())
    server.start()
    try:
        created = orjson.loads(
            kindred("project", "create", "late", "--data-dir", str(server.data_dir)).stdout
        )
        answer = _track(server, created["token"])
    finally:
        server.stop()

    assert answer == {"status": 1, "error": None}


def test_service_account_create_prints_credentials_that_import_accepts(tmp_path: Path) -> None:
    server = LiveServer(tmp_path / "data", free_port())
    server.start()
    try:
        project = server.new_project()
        account = orjson.loads(
            kindred(
                "service-account",
                "create",
                project.name,
                "robot",
                "--data-dir",
                str(server.data_dir),
            ).stdout
        )
        response = httpx.post(
            f"{server.url}/import",
            params={"strict": "1", "project_id": str(project.id)},
            json=[_event("Imported", 1)],
            auth=(account["username"], account["secret"]),
        )
    finally:
        server.stop()

    assert response.status_code == 200, response.text
    assert response.json()["num_records_imported"] == 1


@pytest.mark.parametrize("as_array", [False, True], ids=["ndjson", "json-array"])
def test_import_loads_a_file_and_reports_each_rejected_line(tmp_path: Path, as_array: bool) -> None:
    data = tmp_path / "data"
    kindred("project", "create", "shop", "--data-dir", str(data))
    events = [_event("Imported", i) for i in range(5)]
    events.insert(2, {"event": "Ancient", "properties": {"time": 1, "$insert_id": "x1"}})
    path = tmp_path / "events.json"
    if as_array:
        path.write_bytes(orjson.dumps(events))
    else:
        path.write_bytes(b"\n".join(orjson.dumps(e) for e in events) + b"\n")

    result = kindred("import", str(path), "--project", "shop", "--data-dir", str(data))

    assert "imported 5 events, rejected 1" in result.stdout
    assert f"{path}:3: properties.time:" in result.stderr
    server = LiveServer(data, free_port())
    server.start()
    try:
        exported = server.export(_project(server, "shop"))
    finally:
        server.stop()
    assert sorted(e["properties"]["$insert_id"] for e in exported) == [f"i{i}" for i in range(5)]


def _event(name: str, i: int) -> dict[str, Any]:
    return {
        "event": name,
        "properties": {
            "distinct_id": f"u{i}",
            "time": int(time.time()) - 60,
            "$insert_id": f"i{i}",
        },
    }


def _track(server: LiveServer, token: str) -> Any:
    event = {"event": "Seen", "properties": {"token": token, "distinct_id": "u1"}}
    response = httpx.post(
        f"{server.url}/track", data={"data": orjson.dumps(event).decode(), "verbose": "1"}
    )
    return response.json()


def _project(server: LiveServer, name: str) -> Project:
    meta = SQLiteMetadataStore(server.data_dir / "meta.sqlite")
    try:
        project = meta.project_by_name(name)
    finally:
        meta.close()
    assert project is not None
    return project
