"""`kindred funnel` and `kindred retention`: the Query API's answers, printed as tables."""

from __future__ import annotations

import datetime as dt
import uuid

import httpx
import orjson
from click.testing import CliRunner, Result

from kindred.cli import main
from kindred.identity import IdentityMode
from kindred.storage.base import Project
from tests.conftest import LiveServer

MONDAY = dt.datetime(2026, 11, 2, tzinfo=dt.UTC)


def send(server: LiveServer, project: Project, *events: tuple[str, str, float]) -> None:
    """Import (name, distinct_id, hours after MONDAY) events."""
    body = [
        {
            "event": name,
            "properties": {
                "distinct_id": distinct_id,
                "time": int(MONDAY.timestamp() + hours * 3600),
                "$insert_id": uuid.uuid4().hex,
            },
        }
        for name, distinct_id, hours in events
    ]
    response = httpx.post(
        f"{server.url}/import", params={"strict": 1}, content=orjson.dumps(body),
        auth=(project.secret, ""), headers={"content-type": "application/json"},
    )  # fmt: skip
    assert response.status_code == 200, response.text


def run(server: LiveServer, project: Project, *args: str) -> Result:
    env = {"KINDRED_URL": server.url, "KINDRED_PROJECT_SECRET": project.secret}
    return CliRunner().invoke(main, list(args), env=env)


def test_funnel_prints_people_and_conversion_per_step(server: LiveServer) -> None:
    project = server.new_project(IdentityMode.ORIGINAL)
    send(server, project, ("Viewed", "U1", 1), ("Bought", "U1", 1.5), ("Viewed", "U2", 2))

    result = run(
        server, project, "funnel", "--from-date", "2026-11-02", "--to-date", "2026-11-08",
        "--step", "Viewed", "--step", "Bought",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == [
        "Step",
        "Event",
        "People",
        "From",
        "previous",
        "Overall",
        "Avg",
        "time",
    ]
    assert lines[1].split() == ["1", "Viewed", "2", "100.0%", "100.0%", "-"]
    assert lines[2].split() == ["2", "Bought", "1", "50.0%", "50.0%", "30m", "0s"]


def test_funnel_needs_two_steps(server: LiveServer) -> None:
    project = server.new_project(IdentityMode.ORIGINAL)

    result = run(
        server,
        project,
        "funnel",
        "--from-date",
        "2026-11-02",
        "--to-date",
        "2026-11-02",
        "--step",
        "A",
    )

    assert result.exit_code == 2
    assert "two or more --step" in result.output


def test_retention_prints_each_cohorts_share_per_period(server: LiveServer) -> None:
    project = server.new_project(IdentityMode.ORIGINAL)
    send(server, project, ("Signed up", "U1", 1), ("Signed up", "U2", 2), ("Opened", "U1", 25))

    result = run(
        server, project, "retention", "--from-date", "2026-11-02", "--to-date", "2026-11-02",
        "--born-event", "Signed up", "--periods", "1",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    header, row = result.stdout.splitlines()
    assert header.split() == ["Cohort", "People", "day", "0", "day", "1"]
    assert row.split() == ["2026-11-02", "2", "100.0%", "50.0%"]
