"""Per-project volume limits: the rate limit (edge case 20), and no hot shard (edge case 49).

Each runs on a server of its own, so that its volume and its settings touch no other test.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from kindred.api.ratelimit import RATE_LIMITED
from tests.api.helpers import encode_json, event, import_events, importable, now_s, track
from tests.conftest import LiveServer, free_port

HOT_SHARD_EVENTS = 200_000
BATCH = 2000


def _own_server(tmp_path_factory: pytest.TempPathFactory, **env: str) -> Iterator[LiveServer]:
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        live = LiveServer(tmp_path_factory.mktemp("own-server") / "data", free_port())
        live.start()
    try:
        yield live
    finally:
        live.stop()


@pytest.fixture(scope="module")
def limited_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    # One event per second, with a burst of ten seconds' worth (kindred.api.ratelimit).
    yield from _own_server(tmp_path_factory, KINDRED_RATE_LIMIT_EVENTS_PER_SECOND="1")


@pytest.fixture(scope="module")
def hot_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    yield from _own_server(tmp_path_factory)


def test_edge_20_import_over_the_rate_limit_answers_429_and_stores_nothing(
    limited_server: LiveServer,
) -> None:
    project = limited_server.new_project()
    with httpx.Client(base_url=limited_server.url, timeout=30) as http:
        within = import_events(http, project, [importable("Within", distinct_id="u1")], strict=1)
        over = import_events(
            http, project, [importable("Over", distinct_id="u1") for _ in range(20)], strict=1
        )

    assert within.status_code == 200
    assert over.status_code == 429
    assert over.json() == {"code": 429, "error": RATE_LIMITED, "status": "Too Many Requests"}
    assert [e["event"] for e in limited_server.export(project)] == ["Within"]


def test_edge_20_track_over_the_rate_limit_answers_429_so_the_browser_retries(
    limited_server: LiveServer,
) -> None:
    project = limited_server.new_project()
    burst = [event(project.token, "Burst", distinct_id="u1") for _ in range(20)]
    with httpx.Client(base_url=limited_server.url, timeout=30) as http:
        response = track(http, burst, verbose=1)

    assert response.status_code == 429
    assert response.json() == {"status": 0, "error": RATE_LIMITED}
    assert limited_server.export(project) == []


def test_rate_limit_is_per_project(limited_server: LiveServer) -> None:
    busy, quiet = limited_server.new_project(), limited_server.new_project()
    with httpx.Client(base_url=limited_server.url, timeout=30) as http:
        import_events(http, busy, [importable("E") for _ in range(10)], strict=1)
        response = import_events(http, quiet, [importable("Quiet", distinct_id="u1")], strict=1)

    assert response.status_code == 200
    assert [e["event"] for e in limited_server.export(quiet)] == ["Quiet"]


def test_edge_49_events_past_200000_for_one_id_on_one_day_are_kept_as_sent(
    hot_server: LiveServer,
) -> None:
    # Mixpanel renames them $hotshard_events with an empty distinct_id to protect its shards.
    # kindred has no such shards, and a user expects every event under the id it was sent with.
    project = hot_server.new_project()
    day_time = now_s() - 60
    with httpx.Client(base_url=hot_server.url, timeout=60) as http:
        for start in range(0, HOT_SHARD_EVENTS, BATCH):
            batch = [
                importable("E", distinct_id="0user", time=day_time, **{"$insert_id": f"e{i}"})
                for i in range(start, start + BATCH)
            ]
            response = http.post(
                "/import",
                params={"strict": 1},
                content=encode_json(batch).encode(),
                headers={"content-type": "application/json"},
                auth=(project.secret, ""),
            )
            assert response.status_code == 200, response.text
        last = importable("Last", distinct_id="0user", time=day_time, **{"$insert_id": "last"})
        assert import_events(http, project, [last], strict=1).status_code == 200

    [kept] = hot_server.export(project, event='["Last"]')
    assert kept["properties"]["distinct_id"] == "0user"
    assert hot_server.export(project, event='["$hotshard_events"]') == []
