"""`kindred identity show|explain|unmerge` and `kindred export`, run against a live server."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from click.testing import CliRunner, Result

from kindred.cli import main
from kindred.identity import IdentityMode
from kindred.storage.base import Project
from tests.conftest import LiveServer, free_port


@dataclass(frozen=True)
class Merged:
    """A project where one $identify merged a device's events into user U1."""

    server: LiveServer
    project: Project
    device: str
    insert_id: str

    def run(self, *args: str, secret: str | None = None) -> Result:
        """`kindred ARGS` pointed at this server and project through the environment."""
        env = {
            "KINDRED_URL": self.server.url,
            "KINDRED_PROJECT_SECRET": secret or self.project.secret,
        }
        return CliRunner().invoke(main, list(args), env=env)


def _track(server: LiveServer, project: Project, name: str, **properties: Any) -> None:
    payload = {"event": name, "properties": {"token": project.token, **properties}}
    response = httpx.post(f"{server.url}/track", data={"data": orjson.dumps(payload).decode()})
    assert response.text == "1", payload


@pytest.fixture
def merged(server: LiveServer) -> Merged:
    project = server.new_project(IdentityMode.ORIGINAL)
    device, insert_id = str(uuid.uuid4()), f"m-{uuid.uuid4().hex}"
    _track(server, project, "Browsed", distinct_id=device)
    identify = {"$identified_id": "U1", "$anon_id": device, "$insert_id": insert_id}
    _track(server, project, "$identify", **identify)
    _track(server, project, "Bought", distinct_id="U1")
    return Merged(server, project, device, insert_id)


def _ok(result: Result) -> str:
    assert result.exit_code == 0, result.output
    return result.stdout


# --- identity show ------------------------------------------------------------------------------


def test_show_prints_the_person_and_a_table_of_its_inputs(merged: Merged) -> None:
    output = _ok(merged.run("identity", "show", merged.device))

    lines = output.splitlines()
    assert "canonical id: U1" in lines
    assert f"members (2): {', '.join(sorted(['U1', merged.device]))}" in lines
    assert lines[2].startswith(f"anchors: U1 (by identify {merged.device} -> U1 at ")
    header, row = lines[-2:]
    assert header.split() == ["STATUS", "KIND", "IDS", "TIME", "(UTC)", "INSERT", "ID"]
    assert row.split()[:5] == ["applied", "identify", merged.device, "->", "U1"]
    assert row.split()[-1] == merged.insert_id


def test_show_prints_the_reason_under_a_refused_input(merged: Merged) -> None:
    _track(merged.server, merged.project, "$identify", **{"$identified_id": "U1", "$anon_id": "x"})

    output = _ok(merged.run("identity", "show", "x"))

    assert "  refused" in output
    assert "      errAnonDistinctIdNonGUIDForm: $anon_id 'x' is not a UUID" in output


def test_show_of_an_id_no_input_names_says_it_is_a_person_of_its_own(merged: Merged) -> None:
    output = _ok(merged.run("identity", "show", "stranger"))

    assert "no identity input names 'stranger', so it is a person of its own" in output


def test_show_json_prints_the_api_answer(merged: Merged) -> None:
    output = _ok(merged.run("identity", "show", "U1", "--json"))

    answer = orjson.loads(output)
    assert answer["canonical_id"] == "U1"
    assert [i["insert_id"] for i in answer["inputs"]] == [merged.insert_id]


# --- identity explain ---------------------------------------------------------------------------


def test_explain_prints_the_sentence_and_the_path(merged: Merged) -> None:
    output = _ok(merged.run("identity", "explain", merged.device, "U1"))

    first, path, step = output.splitlines()
    assert first.startswith(f"'{merged.device}' and 'U1' are one person: linked by $identify")
    assert path == "path:"
    assert step.startswith(f"  1. identify {merged.device} -> U1 at ")
    assert step.endswith(f"$insert_id {merged.insert_id}")


def test_explain_of_ids_kept_apart_names_the_refusal(merged: Merged) -> None:
    _track(merged.server, merged.project, "$identify", **{"$identified_id": "U1", "$anon_id": "x"})

    output = _ok(merged.run("identity", "explain", "x", "U1"))

    assert output.startswith("'x' and 'U1' are apart: apart because $identify")
    assert "refused inputs that would have joined them:" in output
    assert output.rstrip().endswith("errAnonDistinctIdNonGUIDForm")


# --- identity unmerge ---------------------------------------------------------------------------


def test_unmerge_withdraws_the_input_and_show_then_marks_it_withdrawn(merged: Merged) -> None:
    output = _ok(merged.run("identity", "unmerge", merged.insert_id))

    assert output.startswith(f"withdrew identify {merged.device} -> U1 at ")
    assert f"  {merged.device} is now its own person" in output.splitlines()
    shown = _ok(merged.run("identity", "show", merged.device))
    assert "canonical id: " + merged.device in shown
    assert shown.splitlines()[-1].split()[0] == "withdrawn"


def test_unmerge_of_an_unknown_insert_id_fails_with_the_servers_reason(merged: Merged) -> None:
    result = merged.run("identity", "unmerge", "no-such-event")

    assert result.exit_code == 1
    assert "the server answered 404: no identity input with $insert_id 'no-such-event'" in (
        result.stderr
    )


# --- Reaching the server ------------------------------------------------------------------------


def test_a_wrong_secret_fails_and_says_where_the_secret_comes_from(merged: Merged) -> None:
    result = merged.run("identity", "show", "U1", secret="wrong")

    assert result.exit_code == 1
    assert "the server answered 401" in result.stderr
    assert "--project-secret" in result.stderr


def test_a_server_that_is_not_running_is_named_with_the_fix() -> None:
    url = f"http://127.0.0.1:{free_port()}"

    result = CliRunner().invoke(
        main, ["identity", "show", "U1", "--url", url, "--project-secret", "s"]
    )

    assert result.exit_code == 1
    assert f"cannot reach kindred at {url}" in result.stderr
    assert "connection refused" in result.stderr
    assert "`kindred serve`" in result.stderr and "--url" in result.stderr


def test_the_project_secret_is_required() -> None:
    result = CliRunner().invoke(main, ["identity", "show", "U1"], env={})

    assert result.exit_code == 2
    assert "--project-secret" in result.stderr


# --- export -------------------------------------------------------------------------------------


def test_export_writes_every_event_to_the_file_as_ndjson(merged: Merged, tmp_path: Path) -> None:
    path = tmp_path / "events.ndjson"

    result = merged.run(
        "export", "--from-date", "2000-01-01", "--to-date", "2100-01-01", "--output", str(path)
    )

    _ok(result)
    exported = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    assert [e["event"] for e in exported] == ["Browsed", "$identify", "Bought"]
    assert {e["properties"]["distinct_id"] for e in exported} == {"U1"}
    assert f"exported 3 events to {path}" in result.stderr


def test_export_keeps_only_the_named_events_and_writes_to_stdout_by_default(
    merged: Merged,
) -> None:
    output = _ok(
        merged.run(
            "export",
            "--from-date",
            "2000-01-01",
            "--to-date",
            "2100-01-01",
            "--event",
            "Browsed",
            "--event",
            "Bought",
        )
    )

    assert [orjson.loads(line)["event"] for line in output.splitlines()] == ["Browsed", "Bought"]


def test_export_sees_an_unmerge_at_once(merged: Merged) -> None:
    dates = ("--from-date", "2000-01-01", "--to-date", "2100-01-01")
    _ok(merged.run("identity", "unmerge", merged.insert_id))

    output = _ok(merged.run("export", *dates, "--event", "Browsed"))

    assert orjson.loads(output)["properties"]["distinct_id"] == merged.device


@pytest.mark.parametrize(
    ("dates", "complaint"),
    [
        pytest.param(("2024-13-01", "2024-12-31"), "--from-date", id="not-a-date"),
        pytest.param(("2024-02-01", "2024-01-01"), "must not be before --from-date", id="reversed"),
    ],
)
def test_export_refuses_bad_dates_as_a_usage_error(
    merged: Merged, dates: tuple[str, str], complaint: str
) -> None:
    result = merged.run("export", "--from-date", dates[0], "--to-date", dates[1])

    assert result.exit_code == 2
    assert complaint in result.stderr
