"""The official Python SDK (`mixpanel` 5.4.1 from PyPI), unchanged, against a live kindred.

Every call goes through the SDK's own consumers over HTTP; the SDK raises `MixpanelException`
unless the answer is `{"status": 1}`, so a call that returns was accepted. What was stored, and
under which id, is then read back through the raw export and the engage query.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import Any

import mixpanel  # type: ignore[import-untyped]
import pytest

from kindred.identity import IdentityMode
from kindred.storage.base import Project
from kindred.storage.sqlite_meta import SQLiteMetadataStore
from tests.clients.conftest import MODES, named, one, profiles
from tests.conftest import LiveServer

BACKFILL_TIME_S = 1_600_000_000
SDK_VERSION = "5.4.1"

SdkFactory = Callable[..., Any]


@pytest.fixture
def urls(server: LiveServer) -> dict[str, str]:
    """The Consumer arguments that point every endpoint at the live server (plain http)."""
    return {
        "events_url": f"{server.url}/track",
        "people_url": f"{server.url}/engage",
        "groups_url": f"{server.url}/groups",
        "import_url": f"{server.url}/import",
    }


@pytest.fixture
def sdk(urls: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> SdkFactory:
    """`sdk(project, **kwargs)`: a `mixpanel.Mixpanel` for the project, talking to kindred.

    `alias()` and `Mixpanel(credentials=...)` build a `Consumer()` of their own, aimed at
    api.mixpanel.com (CLIENTS.md §2.1 and §7.2), so `mixpanel.Consumer` is redirected to the live
    server for the test; monkeypatch puts the original back afterwards.
    """
    original = mixpanel.Consumer

    def local_consumer(*args: Any, **kwargs: Any) -> Any:
        if not args:
            kwargs = {**urls, **kwargs}
        return original(*args, **kwargs)

    monkeypatch.setattr(mixpanel, "Consumer", local_consumer)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")

    def make(project: Project, **kwargs: Any) -> Any:
        if "consumer" not in kwargs and "credentials" not in kwargs:
            kwargs["consumer"] = mixpanel.Consumer(**urls)
        return mixpanel.Mixpanel(project.token, **kwargs)

    return make


def test_track_stores_every_property_under_the_given_distinct_id(
    server: LiveServer, sdk: SdkFactory
) -> None:
    project = server.new_project()
    mp = sdk(project)
    before_ms = int(time.time() * 1000)

    mp.track(
        "user-1",
        "Signed Up",
        {
            "plan": "pro",
            "note": "a b+c&d=e%",
            "text": "ü € 漢字",
            "nested": {"list": [1, 2.5, None, True]},
            "when": dt.datetime(2024, 1, 2, 3, 4, 5),
        },
    )

    after_ms = int(time.time() * 1000)
    [stored] = server.export(project, time_in_ms="true")
    properties = stored["properties"]
    assert stored["event"] == "Signed Up"
    assert properties["distinct_id"] == "user-1"
    assert before_ms - 1 <= properties["time"] <= after_ms
    assert len(properties["$insert_id"]) == 32
    assert (properties["mp_lib"], properties["$lib_version"]) == ("python", SDK_VERSION)
    assert properties["plan"] == "pro"
    assert properties["note"] == "a b+c&d=e%"
    assert properties["text"] == "ü € 漢字"
    assert properties["nested"] == {"list": [1, 2.5, None, True]}
    # The SDK's DatetimeSerializer sends datetimes as naive ISO strings.
    assert properties["when"] == "2024-01-02T03:04:05"
    assert "token" not in properties


@pytest.mark.parametrize(
    ("mode", "after_alias_id", "alias_profile_id"),
    [
        # Original: the alias joins user-1's cluster, whose canonical id stays the old one.
        pytest.param(IdentityMode.ORIGINAL, "user-1", "user-1", id="original"),
        # Legacy: alias -> user-1 is applied at ingestion to every later event and update.
        pytest.param(IdentityMode.LEGACY, "user-1", "user-1", id="legacy"),
        # Simplified: $create_alias has no identity effect; the alias is a user of its own.
        pytest.param(IdentityMode.SIMPLIFIED, "new-alias", "new-alias", id="simplified"),
    ],
)
def test_alias_maps_the_new_id_as_the_identity_mode_says(
    server: LiveServer,
    sdk: SdkFactory,
    mode: IdentityMode,
    after_alias_id: str,
    alias_profile_id: str,
) -> None:
    project = server.new_project(mode)
    mp = sdk(project)

    mp.track("user-1", "Before Alias")
    mp.people_set("user-1", {"plan": "pro"})
    mp.alias("new-alias", "user-1")
    mp.track("new-alias", "After Alias")
    mp.people_set("new-alias", {"via": "alias"})

    events = server.export(project)
    alias = one(events, "$create_alias")
    assert (alias["distinct_id"], alias["alias"]) == ("user-1", "new-alias")
    assert "$failure_reason" not in alias
    assert one(events, "Before Alias")["distinct_id"] == "user-1"
    assert one(events, "After Alias")["distinct_id"] == after_alias_id
    people = profiles(server, project)
    assert people[alias_profile_id]["via"] == "alias"
    assert people["user-1"]["plan"] == "pro"


def test_people_operations_build_the_profile_mixpanel_would(
    server: LiveServer, sdk: SdkFactory
) -> None:
    project = server.new_project()
    mp = sdk(project)

    mp.people_set("u", {"$email": "u@example.com", "plan": "free", "name": "U"})
    mp.people_set("u", {"plan": "pro"})
    mp.people_set_once("u", {"plan": "never", "first_seen": "2024-01-01"})
    mp.people_increment("u", {"logins": 1, "credits": 2.5})
    mp.people_increment("u", {"logins": 1})
    mp.people_append("u", {"items": "sword"})
    mp.people_append("u", {"items": "shield"})
    mp.people_union("u", {"tags": ["a", "b"]})
    mp.people_union("u", {"tags": ["b", "c"]})
    mp.people_remove("u", {"tags": "a"})
    mp.people_unset("u", ["name"])
    mp.people_track_charge("u", 9.99, {"sku": "x-1"})
    mp.people_update({"$distinct_id": "u", "$set": {"raw": True}})

    [(distinct_id, properties)] = profiles(server, project, distinct_id="u").items()
    assert distinct_id == "u"
    assert properties == {
        "$email": "u@example.com",
        "plan": "pro",
        "first_seen": "2024-01-01",
        "logins": 2,
        "credits": 2.5,
        "items": ["sword", "shield"],
        "tags": ["b", "c"],
        "$transactions": [{"sku": "x-1", "$amount": 9.99}],
        "raw": True,
    }

    mp.people_clear_charges("u")
    assert "$transactions" not in profiles(server, project)["u"]


def test_people_delete_removes_only_that_profile(server: LiveServer, sdk: SdkFactory) -> None:
    project = server.new_project()
    mp = sdk(project)
    mp.people_set("keep", {"a": 1})
    mp.people_set("gone", {"a": 2})

    mp.people_delete("gone")

    assert profiles(server, project) == {"keep": {"a": 1}}


def test_group_operations_build_the_group_profile(server: LiveServer, sdk: SdkFactory) -> None:
    project = server.new_project()
    mp = sdk(project)

    mp.group_set("company", "acme", {"size": 10, "plan": "pro", "name": "Acme"})
    mp.group_set_once("company", "acme", {"size": 99, "founded": 1999})
    mp.group_union("company", "acme", {"tags": ["a", "b"]})
    mp.group_remove("company", "acme", {"tags": "a"})
    mp.group_unset("company", "acme", ["name"])
    mp.group_update({"$group_key": "company", "$group_id": "acme", "$set": {"raw": True}})
    mp.group_set("company", "gone", {"size": 1})
    mp.group_delete("company", "gone")
    mp.group_set("team", "red", {"size": 3})

    assert profiles(server, project, data_group_id="company") == {
        "acme": {"size": 10, "plan": "pro", "founded": 1999, "tags": ["b"], "raw": True}
    }
    assert profiles(server, project, data_group_id="team") == {"red": {"size": 3}}
    assert profiles(server, project) == {}


def test_import_data_with_the_api_secret_keeps_the_historical_time(
    server: LiveServer, sdk: SdkFactory
) -> None:
    project = server.new_project()
    mp = sdk(project)

    mp.import_data(
        None, "user-1", "Backfill", BACKFILL_TIME_S, {"src": "csv"}, api_secret=project.secret
    )

    [stored] = server.export(project)
    assert stored["event"] == "Backfill"
    assert stored["properties"]["time"] == BACKFILL_TIME_S
    assert stored["properties"]["distinct_id"] == "user-1"
    assert stored["properties"]["src"] == "csv"


def test_import_data_and_merge_with_a_service_account(server: LiveServer, sdk: SdkFactory) -> None:
    project = server.new_project()
    meta = SQLiteMetadataStore(server.data_dir / "meta.sqlite")
    try:
        meta.create_service_account(project.id, f"sa-{project.token[:8]}", "sa-secret")
    finally:
        meta.close()
    credentials = mixpanel.ServiceAccountCredentials(
        f"sa-{project.token[:8]}", "sa-secret", str(project.id)
    )
    # The documented way: Mixpanel(token, credentials=...) builds its own Consumer.
    mp = sdk(project, credentials=credentials)

    mp.import_data(None, "user-1", "Backfill", BACKFILL_TIME_S, {"via": "service account"})
    mp.track("anon-2", "Tracked")
    mp.merge(None, "user-1", "anon-2")

    events = server.export(project)
    assert one(events, "Backfill")["time"] == BACKFILL_TIME_S
    assert one(events, "Backfill")["via"] == "service account"
    assert one(events, "$merge")["$distinct_ids"] == ["user-1", "anon-2"]
    assert one(events, "Tracked")["distinct_id"] == "user-1"


def test_import_with_a_wrong_secret_raises_in_the_sdk(server: LiveServer, sdk: SdkFactory) -> None:
    # The other tests rely on the SDK raising on a refusal; make sure a refusal is one.
    project = server.new_project()
    mp = sdk(project)

    with pytest.raises(mixpanel.MixpanelException, match="Invalid credentials"):
        mp.import_data(None, "user-1", "Backfill", BACKFILL_TIME_S, api_secret="wrong")

    assert server.export(project) == []


@pytest.mark.parametrize(
    ("mode", "is_merged"),
    [
        pytest.param(IdentityMode.ORIGINAL, True, id="original"),
        # $merge is an Original-mode input; elsewhere it is stored as an ordinary event.
        pytest.param(IdentityMode.SIMPLIFIED, False, id="simplified"),
        pytest.param(IdentityMode.LEGACY, False, id="legacy"),
    ],
)
def test_merge_joins_two_ids_only_in_original_mode(
    server: LiveServer, sdk: SdkFactory, mode: IdentityMode, is_merged: bool
) -> None:
    project = server.new_project(mode)
    mp = sdk(project)
    mp.track("user-1", "First")
    mp.track("cookie-2", "Second")

    mp.merge(None, "user-1", "cookie-2", api_secret=project.secret)

    events = server.export(project)
    assert one(events, "$merge")["$distinct_ids"] == ["user-1", "cookie-2"]
    assert one(events, "First")["distinct_id"] == "user-1"
    second = one(events, "Second")
    if is_merged:
        assert second["distinct_id"] == "user-1"
        assert second["$distinct_id_before_identity"] == "cookie-2"
    else:
        assert second["distinct_id"] == "cookie-2"


@pytest.mark.parametrize("mode", MODES)
def test_buffered_consumer_sends_everything_on_flush(
    server: LiveServer, sdk: SdkFactory, urls: dict[str, str], mode: IdentityMode
) -> None:
    project = server.new_project(mode)
    consumer = mixpanel.BufferedConsumer(max_size=50, **urls)
    mp = sdk(project, consumer=consumer)

    for i in range(120):
        mp.track("user-1", "Batched", {"i": i})
    for i in range(3):
        mp.people_set(f"user-{i}", {"n": i})
    mp.group_set("company", "acme", {"size": 10})
    mp.import_data(None, "user-1", "Backfill", BACKFILL_TIME_S, api_secret=project.secret)

    # 50 and 100 were sent as the buffer filled; the rest waits for flush().
    assert len(server.export(project)) == 100
    consumer.flush()

    events = server.export(project)
    batched = named(events, "Batched")
    assert sorted(e["properties"]["i"] for e in batched) == list(range(120))
    assert {e["properties"]["distinct_id"] for e in batched} == {"user-1"}
    assert one(events, "Backfill")["time"] == BACKFILL_TIME_S
    assert profiles(server, project) == {f"user-{i}": {"n": i} for i in range(3)}
    assert profiles(server, project, data_group_id="company") == {"acme": {"size": 10}}


def test_consumer_redirect_is_undone_after_the_tests_that_used_it() -> None:
    # Runs after the tests above: the `sdk` fixture's redirect must not leak into other tests.
    assert mixpanel.Consumer.__module__ == "mixpanel"
    assert mixpanel.Consumer.__name__ == "Consumer"
