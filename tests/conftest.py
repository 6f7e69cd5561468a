"""Fixtures shared by the test suites: a real kindred server, run as its own process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import httpx
import orjson
import pytest

from kindred.identity import IdentityMode
from kindred.server import create_project
from kindred.storage.base import Project
from kindred.storage.sqlite_meta import SQLiteMetadataStore

STARTUP_SECONDS = 30


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class LiveServer:
    """`kindred serve` in a child process, on a data dir of its own, reached over HTTP."""

    data_dir: Path
    port: int
    process: subprocess.Popen[bytes] | None = None
    log: BinaryIO | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        env = {**os.environ, "KINDRED_FLUSH_INTERVAL_MS": "1"}
        command = [sys.executable, "-m", "kindred", "serve", "--data-dir", str(self.data_dir)]
        command += ["--port", str(self.port)]
        self.log = open(self.data_dir.parent / f"server-{self.port}.log", "ab")  # noqa: SIM115
        self.process = subprocess.Popen(command, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"kindred serve exited with {self.process.returncode}")
            try:
                httpx.get(f"{self.url}/track", timeout=1)
                return
            except httpx.TransportError:
                time.sleep(0.05)
        raise RuntimeError("kindred serve did not start in time")

    def stop(self, *, kill: bool = False) -> None:
        if self.process is None:
            return
        if kill:
            self.process.kill()
        else:
            self.process.terminate()
        self.process.wait(timeout=30)
        self.process = None
        if self.log is not None:
            self.log.close()
            self.log = None

    def new_project(self, mode: IdentityMode | str = IdentityMode.ORIGINAL) -> Project:
        """A fresh project, made through the metadata store as `kindred project create` does."""
        meta = SQLiteMetadataStore(self.data_dir / "meta.sqlite")
        try:
            return create_project(
                meta, f"p-{uuid.uuid4().hex[:12]}", identity_mode=IdentityMode(mode)
            )
        finally:
            meta.close()

    def export(self, project: Project, **params: Any) -> list[dict[str, Any]]:
        query = {"from_date": "1971-01-01", "to_date": "2100-01-01", **params}
        response = httpx.get(
            f"{self.url}/api/2.0/export", params=query, auth=(project.secret, ""), timeout=30
        )
        assert response.status_code == 200, response.text
        return [orjson.loads(line) for line in response.content.splitlines() if line.strip()]

    def engage(self, project: Project, **params: Any) -> dict[str, Any]:
        response = httpx.post(
            f"{self.url}/api/query/engage", data=params, auth=(project.secret, ""), timeout=30
        )
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = LiveServer(tmp_path_factory.mktemp("server") / "data", free_port())
    live.start()
    yield live
    live.stop()
