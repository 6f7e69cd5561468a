"""The interpreter settings of the ingesting commands (kindred.cli.interpreter)."""

from __future__ import annotations

import gc
import subprocess
import sys
from pathlib import Path

import orjson

from kindred.cli.interpreter import YOUNG_COLLECTION_THRESHOLD, collect_garbage_less_often


def test_only_the_youngest_generation_waits_longer() -> None:
    before = gc.get_threshold()
    try:
        gc.set_threshold(700, 11, 12)

        collect_garbage_less_often()

        assert gc.get_threshold() == (YOUNG_COLLECTION_THRESHOLD, 11, 12)
    finally:
        gc.set_threshold(*before)


def test_kindred_import_runs_with_the_raised_threshold(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    events = tmp_path / "events.ndjson"
    event = {"event": "Signed Up", "properties": {"time": 1_700_000_000, "$insert_id": "e1"}}
    events.write_bytes(orjson.dumps(event) + b"\n")
    # The command runs in this child's own interpreter, which then reports its threshold.
    script = (
        "import gc, sys\n"
        "from kindred.cli import main\n"
        "main(sys.argv[1:], standalone_mode=False)\n"
        "print('threshold', gc.get_threshold()[0])\n"
    )
    python = [sys.executable, "-c", script]
    subprocess.run(
        [*python, "project", "create", "shop", "--data-dir", data], capture_output=True, check=True
    )

    done = subprocess.run(
        [*python, "import", str(events), "--project", "shop", "--data-dir", data],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )

    assert "imported 1 events, rejected 0" in done.stdout
    assert f"threshold {YOUNG_COLLECTION_THRESHOLD}" in done.stdout
