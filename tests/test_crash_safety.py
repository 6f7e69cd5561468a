"""An acknowledged write survives `kill -9` (SPEC-DECISIONS.md, "Durability").

Several clients stream /import and /track batches at a real server; it is killed with SIGKILL
mid-stream and started again on the same data dir. Every event whose request was answered must
be in the export exactly once; an unanswered one may be there at most once.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import orjson

from kindred.storage.base import Project
from tests.conftest import LiveServer, free_port

CLIENTS = 4
EVENTS_PER_BATCH = 200
STREAM_SECONDS = 1.5
ACKNOWLEDGED = ("1", f'{{"code":200,"num_records_imported":{EVENTS_PER_BATCH},"status":"OK"}}')


def _stream(
    server: LiveServer, project: Project, client: int, acked: list[str], stop: threading.Event
) -> None:
    batch = 0
    with httpx.Client(timeout=10) as http:
        while not stop.is_set():
            ids = [f"c{client}-b{batch}-e{i}" for i in range(EVENTS_PER_BATCH)]
            now = int(time.time())
            events: list[dict[str, Any]] = [
                {
                    "event": "Streamed",
                    "properties": {
                        "distinct_id": f"u{i}",
                        "time": now,
                        "$insert_id": insert_id,
                        "token": project.token,
                    },
                }
                for i, insert_id in enumerate(ids)
            ]
            try:
                if client % 2:
                    response = http.post(
                        f"{server.url}/track", data={"data": orjson.dumps(events).decode()}
                    )
                else:
                    response = http.post(
                        f"{server.url}/import?strict=1",
                        content=orjson.dumps(events),
                        headers={"content-type": "application/json"},
                        auth=(project.secret, ""),
                    )
            except httpx.TransportError:
                return
            if response.status_code == 200 and response.text.strip() in ACKNOWLEDGED:
                acked.extend(ids)
            batch += 1


def test_every_acknowledged_event_survives_sigkill_exactly_once(tmp_path: Path) -> None:
    server = LiveServer(tmp_path / "data", free_port())
    server.start()
    project = server.new_project()
    acked: list[str] = []
    stop = threading.Event()
    threads = [
        threading.Thread(target=_stream, args=(server, project, c, acked, stop))
        for c in range(CLIENTS)
    ]
    for thread in threads:
        thread.start()

    time.sleep(STREAM_SECONDS)
    server.stop(kill=True)
    stop.set()
    for thread in threads:
        thread.join()
    server.start()
    try:
        stored = Counter(e["properties"]["$insert_id"] for e in server.export(project))
    finally:
        server.stop()

    assert len(acked) > 0
    missing = [insert_id for insert_id in acked if stored[insert_id] != 1]
    assert missing == []
    assert max(stored.values()) == 1
