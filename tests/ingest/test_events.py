"""Event validation: SPEC.md §1.1-1.2 and §2, edge cases 1-34 and 79-80, the official clients' shapes."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kindred.identity.model import IdentityMode
from kindred.ingest.events import event_token, validate_event
from kindred.ingest.model import Endpoint, EventRecord, Limits, RecordError
from kindred.ingest.values import to_epoch_ms

TRACK = Endpoint.TRACK
IMPORT = Endpoint.IMPORT
ORIGINAL = IdentityMode.ORIGINAL
SIMPLIFIED = IdentityMode.SIMPLIFIED
LIMITS = Limits()

NOW_MS = 1_796_313_011_000  # 2026-12-03T15:50:11Z
NOW_S = NOW_MS // 1000
MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS
INSERT_ID = "8e31d097022742f8944a40501fc12926"
TIME_MESSAGE = "'properties.time' is invalid: must be specified as seconds since epoch"
INSERT_ID_MESSAGE = (
    "'$insert_id' is invalid: must only contain alphanumeric or hyphen '-' characters"
)


def event(name: Any = "A", **properties: Any) -> dict[str, Any]:
    return {"event": name, "properties": {"token": "T", **properties}}


def importable(**properties: Any) -> dict[str, Any]:
    """An event /import accepts: it has a time and an $insert_id."""
    return event(**{"time": NOW_S - 3600, "$insert_id": INSERT_ID, **properties})


def validate(
    item: Any,
    endpoint: Endpoint = TRACK,
    *,
    mode: IdentityMode = ORIGINAL,
    limits: Limits = LIMITS,
    index: int = 0,
) -> EventRecord | RecordError | None:
    """`validate_event`, checked to give the same answer when it may reuse the item's dict."""
    sent = copy.deepcopy(item)
    result = validate_event(item, index, endpoint=endpoint, mode=mode, now_ms=NOW_MS, limits=limits)
    assert item == sent, "without may_reuse, validation must leave the item as it was"

    reused = validate_event(
        sent, index, endpoint=endpoint, mode=mode, now_ms=NOW_MS, limits=limits, may_reuse=True
    )
    assert reused == result
    if isinstance(result, EventRecord) and isinstance(reused, EventRecord):
        assert list(reused.properties.items()) == list(result.properties.items())  # key order too
    return result


def accepted(item: Any, endpoint: Endpoint = TRACK, **kwargs: Any) -> EventRecord:
    result = validate(item, endpoint, **kwargs)
    assert isinstance(result, EventRecord), result
    return result


def refused(item: Any, endpoint: Endpoint = TRACK, **kwargs: Any) -> RecordError:
    result = validate(item, endpoint, **kwargs)
    assert isinstance(result, RecordError), result
    return result


# --- the official clients' payloads (CLIENTS.md §7) ----------------------------------------------


def test_python_track_event_keeps_its_ids_and_float_seconds_as_ms() -> None:
    item = {
        "event": "Signed Up",
        "properties": {
            "token": "TOKEN123",
            "distinct_id": "user-1",
            "time": 1796313010.7120678,
            "$insert_id": INSERT_ID,
            "mp_lib": "python",
            "$lib_version": "5.4.1",
            "plan": "pro",
            "note": "a b+c",
        },
    }

    record = accepted(item)

    assert record == EventRecord(
        event="Signed Up",
        distinct_id="user-1",
        time_ms=1796313010712,
        insert_id=INSERT_ID,
        properties={
            "mp_lib": "python",
            "$lib_version": "5.4.1",
            "plan": "pro",
            "note": "a b+c",
            "mp_processing_time_ms": NOW_MS,
        },
    )


def test_node_track_event_without_time_or_insert_id_gets_arrival_time() -> None:
    item = event(
        "Signed Up", distinct_id="user-1", plan="pro", mp_lib="node", **{"$lib_version": "0.24.0"}
    )

    record = accepted(item)

    assert (record.distinct_id, record.time_ms, record.insert_id) == ("user-1", NOW_MS, "")


def test_browser_event_keeps_device_properties_and_ms_of_float_seconds() -> None:
    item = event(
        "Page Loaded",
        time=1796313008.333,
        distinct_id="$device:898c9cbe-5d0f-4c1e-9d8e-0a1b2c3d4e5f",
        **{
            "$insert_id": "myt3r0nwurk900sw",
            "$device_id": "898c9cbe-5d0f-4c1e-9d8e-0a1b2c3d4e5f",
            "$browser_version": 156,
            "company": ["acme"],
            "s": ">>>??~~~ ü",
        },
    )

    record = accepted(item)

    assert record.time_ms == 1796313008333
    assert record.insert_id == "myt3r0nwurk900sw"
    assert record.distinct_id == "$device:898c9cbe-5d0f-4c1e-9d8e-0a1b2c3d4e5f"
    assert record.properties["company"] == ["acme"]
    assert record.properties["$browser_version"] == 156


def test_node_import_with_ms_time_is_stored_at_that_ms() -> None:
    record = accepted(importable(time=1_700_000_000_123), IMPORT)

    assert record.time_ms == 1_700_000_000_123
    assert record.properties["$import"] is True


@pytest.mark.parametrize(
    "item",
    [
        pytest.param(
            {
                "event": "$merge",
                "properties": {"$distinct_ids": ["user-1", "anon-9"], "token": "T"},
            },
            id="python-merge",
        ),
        pytest.param(
            {"event": "$identify", "properties": {"$identified_id": "u", "$anon_id": "a"}},
            id="http-api-identify",
        ),
        pytest.param(
            {"event": "$create_alias", "properties": {"distinct_id": "u", "alias": "a"}},
            id="create-alias",
        ),
    ],
)
def test_identity_events_reach_import_without_time_or_insert_id(item: dict[str, Any]) -> None:
    """Python's merge() posts $merge to /import with neither; Mixpanel accepts it (SPEC §9 gap)."""
    record = accepted(item, IMPORT)

    assert (record.time_ms, record.insert_id) == (NOW_MS, "")


def test_identity_events_keep_their_identity_properties() -> None:
    item = event(
        "$identify",
        distinct_id="user-42",
        **{"$anon_distinct_id": "$device:898c9cbe", "$user_id": "user-42"},
    )

    record = accepted(item)

    assert record.distinct_id == "user-42"
    assert record.properties["$anon_distinct_id"] == "$device:898c9cbe"


def test_http_api_identify_without_distinct_id_is_stored_under_the_identified_id() -> None:
    item = event("$identify", **{"$identified_id": "U1", "$anon_id": "D1"})

    assert accepted(item).distinct_id == "U1"


# --- server-side normalisation -------------------------------------------------------------------


def test_edge_1_track_event_is_stored_under_its_distinct_id_at_server_time() -> None:
    record = accepted(event(distinct_id="u1"))

    assert (record.event, record.distinct_id, record.time_ms) == ("A", "u1", NOW_MS)


def test_lifted_fields_leave_properties_and_server_properties_arrive() -> None:
    item = importable(distinct_id="u1", ip="136.24.0.114", kept=1)

    record = accepted(item, IMPORT)

    assert record.properties == {"kept": 1, "$import": True, "mp_processing_time_ms": NOW_MS}


def test_may_reuse_keeps_the_items_dict_only_when_no_property_changes() -> None:
    plain = importable(distinct_id="u1", plan="pro", n=3)
    long_value = importable(distinct_id="u1", plan="p" * 300)

    kept = validate_event(
        plain, 0, endpoint=IMPORT, mode=ORIGINAL, now_ms=NOW_MS, limits=LIMITS, may_reuse=True
    )
    copied = validate_event(
        long_value, 0, endpoint=IMPORT, mode=ORIGINAL, now_ms=NOW_MS, limits=LIMITS, may_reuse=True
    )

    assert isinstance(kept, EventRecord) and isinstance(copied, EventRecord)
    assert kept.properties is plain["properties"]
    assert list(kept.properties) == ["plan", "n", "$import", "mp_processing_time_ms"]
    assert copied.properties is not long_value["properties"]
    assert long_value["properties"]["plan"] == "p" * 300  # the item is left as it was sent
    assert copied.properties["plan"] == "p" * 255


def test_a_refusal_with_may_reuse_still_echoes_the_insert_id() -> None:
    item = importable(distinct_id="u\udcff")  # a byte that was not UTF-8, as decode.py leaves it

    result = validate_event(
        item, 4, endpoint=IMPORT, mode=ORIGINAL, now_ms=NOW_MS, limits=LIMITS, may_reuse=True
    )

    assert isinstance(result, RecordError)
    assert (result.index, result.insert_id, result.field) == (
        4,
        INSERT_ID,
        "properties.distinct_id",
    )


@pytest.mark.parametrize(
    "ip", [pytest.param("136.24.0.114", id="edge-29-address"), pytest.param("0", id="edge-30-zero")]
)
def test_ip_is_removed_and_nothing_is_geolocated(ip: str) -> None:
    """No geolocation database is configured in ingest: the address goes, and no $city appears."""
    record = accepted(event(ip=ip, mp_country_code="US"))

    assert "ip" not in record.properties
    assert "$city" not in record.properties
    assert record.properties["mp_country_code"] == "US"  # edge 31: explicit values stay


def test_import_flag_is_only_added_on_import() -> None:
    assert "$import" not in accepted(event()).properties
    assert accepted(importable(), IMPORT).properties["$import"] is True


def test_event_name_is_case_sensitive_and_kept() -> None:
    assert accepted(event("Sign Up")).event == "Sign Up"
    assert accepted(event("sign up")).event == "sign up"


# --- $ignore (edge case 28) ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "dropped"),
    [
        pytest.param(True, True, id="edge-28-true"),
        pytest.param("yes", True, id="edge-28-non-empty-string"),
        pytest.param("false", True, id="string-false-is-non-empty"),
        pytest.param("", False, id="edge-28-empty-string"),
        pytest.param(False, False, id="edge-28-false"),
        pytest.param(1, False, id="number-one"),
        pytest.param(None, False, id="null"),
    ],
)
def test_ignore_drops_only_true_and_non_empty_strings(value: Any, dropped: bool) -> None:
    result = validate(event(**{"$ignore": value}))

    assert (result is None) is dropped
    if not dropped:
        assert isinstance(result, EventRecord)
        assert result.properties["$ignore"] == value


def test_ignored_event_is_dropped_even_when_otherwise_invalid() -> None:
    assert validate(event(None, **{"$ignore": True}), IMPORT) is None


# --- time -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected_ms"),
    [
        pytest.param(1_700_000_000, 1_700_000_000_000, id="int-seconds"),
        pytest.param(1_700_000_000.5, 1_700_000_000_500, id="float-seconds"),
        pytest.param(1796313010.7120678, 1796313010712, id="python-float-seconds-rounded"),
        pytest.param(1_700_000_000_123, 1_700_000_000_123, id="int-ms"),
        pytest.param(1_700_000_000_123.7, 1_700_000_000_124, id="float-ms-rounded"),
        pytest.param(100_000_000_000, 100_000_000_000, id="1e11-is-ms"),
        pytest.param(99_999_999_999, 99_999_999_999_000, id="below-1e11-is-seconds"),
        pytest.param(0, 0, id="zero"),
    ],
)
def test_to_epoch_ms_reads_seconds_below_1e11_and_ms_above(
    value: int | float, expected_ms: int
) -> None:
    assert to_epoch_ms(value) == expected_ms


@pytest.mark.parametrize(
    ("time", "expected_ms"),
    [
        pytest.param(None, NOW_MS, id="missing-is-now"),
        pytest.param(NOW_S - 3600, NOW_MS - HOUR_MS, id="seconds"),
        pytest.param(NOW_MS - HOUR_MS, NOW_MS - HOUR_MS, id="ms"),
        pytest.param((NOW_MS - 5 * DAY_MS) // 1000, NOW_MS - 5 * DAY_MS, id="exactly-5-days-old"),
        pytest.param((NOW_MS + 10 * MINUTE_MS) / 1000, NOW_MS, id="edge-10-future-becomes-now"),
        pytest.param(NOW_MS + 365 * DAY_MS, NOW_MS, id="far-future-becomes-now"),
    ],
)
def test_track_time(time: Any, expected_ms: int) -> None:
    item = event() if time is None else event(time=time)

    assert accepted(item).time_ms == expected_ms


@pytest.mark.parametrize(
    "time",
    [
        pytest.param((NOW_MS - 6 * DAY_MS) // 1000, id="edge-9-six-days-old"),
        pytest.param(NOW_MS - 5 * DAY_MS - 1, id="one-ms-past-the-lookback"),
        pytest.param(-1, id="negative"),
    ],
)
def test_track_drops_events_older_than_the_lookback(time: int) -> None:
    assert validate(event(time=time)) is None


def test_track_lookback_is_configurable() -> None:
    limits = Limits(track_lookback_ms=HOUR_MS)

    assert validate(event(time=NOW_S - 7200), limits=limits) is None
    assert isinstance(validate(event(time=NOW_S - 1800), limits=limits), EventRecord)


@pytest.mark.parametrize(
    ("time", "expected_ms"),
    [
        pytest.param(31_536_000, 31_536_000_000, id="1971-01-01-exactly"),
        pytest.param(1_600_000_000, 1_600_000_000_000, id="python-import-seconds"),
        pytest.param(
            NOW_MS + 30 * MINUTE_MS, NOW_MS + 30 * MINUTE_MS, id="future-within-hour-kept"
        ),
        pytest.param(NOW_MS + HOUR_MS, NOW_MS + HOUR_MS, id="exactly-one-hour-ahead"),
    ],
)
def test_import_accepts_1971_to_one_hour_ahead(time: int, expected_ms: int) -> None:
    assert accepted(importable(time=time), IMPORT).time_ms == expected_ms


@pytest.mark.parametrize(
    ("time", "shown"),
    [
        pytest.param(
            (NOW_MS + 2 * HOUR_MS) // 1000, "2026-12-03T17:50:11Z", id="edge-11-two-hours-ahead"
        ),
        pytest.param(15_638_400, "1970-07-01T00:00:00Z", id="edge-12-1970"),
        pytest.param(31_535_999, "1970-12-31T23:59:59Z", id="one-second-before-1971"),
    ],
)
def test_import_refuses_times_outside_the_range_naming_value_and_range(
    time: int, shown: str
) -> None:
    error = refused(importable(time=time), IMPORT, index=4)

    assert (error.index, error.insert_id, error.field) == (4, INSERT_ID, "properties.time")
    assert error.message.startswith(f"'properties.time' is invalid: {time} is {shown}")
    assert "1971-01-01T00:00:00Z to 2026-12-03T16:50:11Z" in error.message


def test_import_refuses_a_missing_time_with_mixpanels_message() -> None:
    item = event(**{"$insert_id": INSERT_ID})

    error = refused(item, IMPORT)

    assert error == RecordError(0, INSERT_ID, "properties.time", TIME_MESSAGE)


@pytest.mark.parametrize("endpoint", [TRACK, IMPORT])
@pytest.mark.parametrize(
    "time",
    [
        pytest.param("2024-01-01", id="date-string"),
        pytest.param("1700000000", id="numeric-string"),
        pytest.param(True, id="boolean"),
        pytest.param([1700000000], id="array"),
    ],
)
def test_non_numeric_time_is_refused_on_both_endpoints(time: Any, endpoint: Endpoint) -> None:
    error = refused(importable(time=time), endpoint)

    assert error.field == "properties.time"
    assert error.message.startswith(TIME_MESSAGE + ", got ")


# --- $insert_id (edge cases 13, 14, 27) --------------------------------------------------------


def test_edge_13_insert_id_with_a_colon_gets_mixpanels_exact_error() -> None:
    batch = [importable(n=i) for i in range(3)] + [importable(**{"$insert_id": "ab:cd"})]

    results = [validate(item, IMPORT, index=i) for i, item in enumerate(batch)]

    assert all(isinstance(r, EventRecord) for r in results[:3])
    assert results[3] == RecordError(3, "ab:cd", "$insert_id", INSERT_ID_MESSAGE)


@pytest.mark.parametrize(
    ("insert_id", "message"),
    [
        pytest.param("a" * 37, "must be at most 36 bytes, got 37", id="edge-14-37-chars"),
        pytest.param("ajs-next-d4506e5f:8nDH", INSERT_ID_MESSAGE, id="segment-style-id"),
        pytest.param("a b", INSERT_ID_MESSAGE, id="space"),
        pytest.param("ü", INSERT_ID_MESSAGE, id="non-ascii"),
        pytest.param("abc\n", INSERT_ID_MESSAGE, id="trailing-newline"),
        pytest.param("null", "'null' is a placeholder", id="placeholder-null"),
        pytest.param("UNDEFINED", "'UNDEFINED' is a placeholder", id="placeholder-any-case"),
        pytest.param("-1", "'-1' is a placeholder", id="placeholder-minus-one"),
        pytest.param("0", "'0' is a placeholder", id="placeholder-zero"),
        pytest.param("n/a", INSERT_ID_MESSAGE, id="placeholder-with-slash"),
        pytest.param(
            "00000000-0000-0000-0000-000000000000", "is a placeholder", id="placeholder-nil-uuid"
        ),
    ],
)
def test_bad_insert_ids_are_refused_on_track_and_import(insert_id: str, message: str) -> None:
    for endpoint in (TRACK, IMPORT):
        error = refused(importable(**{"$insert_id": insert_id}), endpoint)

        assert (error.field, error.insert_id) == ("$insert_id", insert_id)
        assert message in error.message


@pytest.mark.parametrize(
    "insert_id",
    [
        pytest.param("a" * 36, id="36-chars"),
        pytest.param("3f0e4c9a-1b2d-4e5f-8a9b-0c1d2e3f4a5b", id="uuid"),
        pytest.param("myt3r0nwurk900sw", id="browser-base36"),
        pytest.param("ABC-def-123", id="mixed-case-and-hyphens"),
        pytest.param("nullable", id="contains-a-placeholder-word"),
    ],
)
def test_good_insert_ids_are_kept(insert_id: str) -> None:
    assert accepted(importable(**{"$insert_id": insert_id}), IMPORT).insert_id == insert_id


@pytest.mark.parametrize(
    "properties",
    [
        pytest.param({}, id="absent"),
        pytest.param({"$insert_id": ""}, id="empty"),
        pytest.param({"$insert_id": None}, id="null"),
    ],
)
def test_import_requires_an_insert_id(properties: dict[str, Any]) -> None:
    item = event(time=NOW_S, **properties)

    error = refused(item, IMPORT)

    assert error.field == "$insert_id"
    assert error.message.startswith("'$insert_id' is invalid: must be specified on /import")


def test_edge_27_track_event_without_insert_id_is_stored_with_none() -> None:
    assert accepted(event()).insert_id == ""


def test_non_string_insert_id_is_refused_and_not_echoed() -> None:
    error = refused(importable(**{"$insert_id": 12345}), IMPORT)

    assert (error.field, error.insert_id) == ("$insert_id", None)
    assert "must be a string" in error.message and "12345 (number)" in error.message


def test_insert_id_limit_is_configurable() -> None:
    error = refused(
        importable(**{"$insert_id": "abcdefghijk"}), IMPORT, limits=Limits(max_insert_id_bytes=10)
    )

    assert "at most 10 bytes" in error.message


# --- distinct_id (edge cases 15, 16) -----------------------------------------------------------


@pytest.mark.parametrize(
    "distinct_id",
    [
        pytest.param("undefined", id="edge-15-undefined"),
        pytest.param("null", id="edge-15-null"),
        pytest.param("0", id="edge-15-zero"),
        pytest.param("[]", id="edge-15-empty-array-text"),
        pytest.param("{}", id="empty-object-text"),
        pytest.param("NULL", id="upper-case"),
        pytest.param("Anonymous", id="mixed-case"),
        pytest.param("<nil>", id="go-nil"),
        pytest.param("n/a", id="n-slash-a"),
        pytest.param("00000000-0000-0000-0000-000000000000", id="nil-uuid"),
        pytest.param(0, id="number-zero"),
        pytest.param(-1, id="number-minus-one"),
        pytest.param("$device:undefined", id="device-prefixed-placeholder"),
    ],
)
def test_placeholder_distinct_ids_are_refused(distinct_id: Any) -> None:
    for endpoint in (TRACK, IMPORT):
        error = refused(importable(distinct_id=distinct_id), endpoint)

        assert error.field == "properties.distinct_id"
        assert "is a placeholder" in error.message


@pytest.mark.parametrize(
    ("properties", "expected"),
    [
        pytest.param({"distinct_id": ""}, "", id="edge-16-empty-means-no-user"),
        pytest.param({}, "", id="missing-means-no-user"),
        pytest.param({"distinct_id": None}, "", id="null-means-no-user"),
        pytest.param({"distinct_id": 42}, "42", id="number-stringified"),
        pytest.param({"distinct_id": 4.5}, "4.5", id="float-stringified"),
        pytest.param({"distinct_id": "0user"}, "0user", id="starts-with-zero"),
        pytest.param({"distinct_id": "x" * 300}, "x" * 300, id="long-id-not-truncated"),
    ],
)
def test_distinct_id_is_stringified(properties: dict[str, Any], expected: str) -> None:
    assert accepted(importable(**properties), IMPORT).distinct_id == expected


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(True, id="boolean"),
        pytest.param(["u1"], id="array"),
        pytest.param({}, id="object"),
    ],
)
def test_distinct_id_of_another_type_is_refused(value: Any) -> None:
    error = refused(event(distinct_id=value))

    assert error.field == "properties.distinct_id"
    assert "must be a string or number" in error.message


# --- Simplified derivation (edge cases 65-69, as ingestion sees them) ---------------------------


@pytest.mark.parametrize(
    ("properties", "distinct_id", "added"),
    [
        pytest.param({"$device_id": "D1"}, "$device:D1", {}, id="edge-65-device-only"),
        pytest.param(
            {"$device_id": "D1", "$user_id": "U1", "distinct_id": "whatever"},
            "U1",
            {},
            id="edge-66-user-wins",
        ),
        pytest.param({"distinct_id": "charlie"}, "charlie", {"$user_id": "charlie"}, id="edge-68"),
        pytest.param({"distinct_id": "$device:x"}, "$device:x", {"$device_id": "x"}, id="edge-69"),
        pytest.param({}, "", {}, id="no-ids-at-all"),
    ],
)
def test_simplified_mode_derives_the_distinct_id(
    properties: dict[str, Any], distinct_id: str, added: dict[str, str]
) -> None:
    record = accepted(event(**properties), mode=SIMPLIFIED)

    assert record.distinct_id == distinct_id
    for name, value in added.items():
        assert record.properties[name] == value
    assert "distinct_id" not in record.properties


def test_simplified_refuses_a_device_prefixed_user_id_naming_the_property() -> None:
    error = refused(event(**{"$user_id": "$device:abc"}), mode=SIMPLIFIED)

    assert error.field == "properties.$user_id"
    assert "$device:" in error.message and "$device_id" in error.message


def test_simplified_refuses_a_placeholder_user_id() -> None:
    error = refused(event(**{"$user_id": "undefined", "$device_id": "D1"}), mode=SIMPLIFIED)

    assert error.field == "properties.$user_id"
    assert "'undefined' is a placeholder" in error.message


def test_original_mode_does_not_derive_from_device_and_user_ids() -> None:
    record = accepted(event(distinct_id="d", **{"$device_id": "D1", "$user_id": "U1"}))

    assert record.distinct_id == "d"
    assert record.properties["$user_id"] == "U1"


# --- properties: count, nesting, sizes, truncation (edge cases 32-34) ---------------------------


def many(count: int) -> dict[str, int]:
    return {f"p{i}": i for i in range(count)}


@pytest.mark.parametrize("endpoint", [TRACK, IMPORT])
@pytest.mark.parametrize(
    ("extra", "ok"),
    [
        pytest.param(251, True, id="254-properties"),
        pytest.param(252, False, id="255-properties"),
        pytest.param(297, False, id="edge-33-300-properties"),
    ],
)
def test_events_with_255_or_more_properties_are_refused(
    extra: int, ok: bool, endpoint: Endpoint
) -> None:
    item = importable(**many(extra))  # plus token, time and $insert_id

    result = validate(item, endpoint)

    if ok:
        assert isinstance(result, EventRecord)
    else:
        assert isinstance(result, RecordError)
        assert result.field == "properties"
        assert f"event has {extra + 3} properties" in result.message


@pytest.mark.parametrize(
    ("value", "path"),
    [
        pytest.param(
            {"a": {"b": {"c": {"d": 1}}}}, "properties.p.a.b.c", id="edge-34-object-4-deep"
        ),
        pytest.param([[[[1]]]], "properties.p[0][0][0]", id="array-4-deep"),
        pytest.param([{"a": [{"b": 1}]}], "properties.p[0].a[0]", id="mixed-4-deep"),
    ],
)
def test_nesting_deeper_than_3_is_refused_naming_the_path(value: Any, path: str) -> None:
    error = refused(importable(p=value), IMPORT)

    assert error.field == path
    assert "nest 4 levels deep" in error.message and "the limit is 3" in error.message


@pytest.mark.parametrize(
    "value",
    [
        pytest.param({"a": {"b": {"c": 1}}}, id="object-3-deep"),
        pytest.param([[["x"]]], id="array-3-deep"),
        pytest.param([{"$amount": 9.99}], id="list-of-objects"),
        pytest.param({}, id="empty-object"),
        pytest.param([], id="empty-array"),
    ],
)
def test_nesting_up_to_3_is_kept(value: Any) -> None:
    assert accepted(importable(p=value), IMPORT).properties["p"] == value


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        pytest.param(list(range(254)), True, id="array-254"),
        pytest.param(list(range(255)), False, id="array-255"),
        pytest.param(many(254), True, id="object-254-keys"),
        pytest.param(many(255), False, id="object-255-keys"),
        pytest.param({"inner": list(range(255))}, False, id="nested-array-255"),
    ],
)
def test_collections_of_255_or_more_items_are_refused(value: Any, ok: bool) -> None:
    result = validate(event(p=value))

    if ok:
        assert isinstance(result, EventRecord)
    else:
        assert isinstance(result, RecordError)
        assert result.field.startswith("properties.p")
        assert "holds 255 items" in result.message


def test_edge_32_long_strings_are_truncated_to_255_characters() -> None:
    long = "é" * 300
    item = event(
        "E" * 300,
        s=long,
        nested={"k" * 300: long, "list": [long]},
        **{"n" * 300: 1},
    )

    record = accepted(item)

    assert record.event == "E" * 255
    assert record.properties["s"] == "é" * 255
    assert record.properties["nested"] == {"k" * 255: "é" * 255, "list": ["é" * 255]}
    assert record.properties["n" * 255] == 1


def test_id_properties_are_never_truncated() -> None:
    long_id = "d" * 300
    item = event(**{"$device_id": long_id, "alias": long_id, "$distinct_ids": [long_id, "x"]})

    record = accepted(item)

    assert record.properties["$device_id"] == long_id
    assert record.properties["alias"] == long_id
    assert record.properties["$distinct_ids"] == [long_id, "x"]


def test_limits_are_configurable() -> None:
    limits = Limits(max_string_chars=3, max_nesting_depth=1, max_collection_items=3)

    assert accepted(event(s="abcdef"), limits=limits).properties["s"] == "abc"
    assert refused(event(p=[[1]]), limits=limits).field == "properties.p[0]"
    assert refused(event(p=[1, 2, 3]), limits=limits).field == "properties.p"


def test_oversized_event_is_refused() -> None:
    error = refused(event(blob="x" * 2000), limits=Limits(max_record_bytes=1000))

    assert error.field == "properties"
    assert "over the limit of 1000 bytes" in error.message


# --- shape of the record ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("item", "field", "message"),
    [
        pytest.param(
            ["A"], "event", "an event must be a JSON object, got ['A'] (array)", id="array"
        ),
        pytest.param("A", "event", "an event must be a JSON object, got 'A'", id="string"),
        pytest.param(None, "event", "got None (null)", id="null"),
        pytest.param({"properties": {"token": "T"}}, "event", "'event' is invalid", id="no-event"),
        pytest.param(event(""), "event", "non-empty string", id="empty-event-name"),
        pytest.param(event(7), "event", "got 7 (number)", id="numeric-event-name"),
        pytest.param(
            {"event": "A", "properties": []}, "properties", "got [] (array)", id="array-properties"
        ),
    ],
)
def test_malformed_records_are_refused_naming_the_field(
    item: Any, field: str, message: str
) -> None:
    error = refused(item, index=7)

    assert (error.index, error.field) == (7, field)
    assert message in error.message


def test_event_without_properties_is_accepted_on_track() -> None:
    record = accepted({"event": "A"})

    assert (record.distinct_id, record.time_ms) == ("", NOW_MS)


def test_edge_80_one_invalid_event_does_not_affect_the_other() -> None:
    batch = [event(distinct_id="u1"), event(distinct_id="null")]

    results = [validate(item, index=i) for i, item in enumerate(batch)]

    assert isinstance(results[0], EventRecord)
    assert isinstance(results[1], RecordError) and results[1].index == 1


def test_validation_does_not_modify_the_input() -> None:
    item = importable(distinct_id="u1", ip="1.2.3.4", s="x" * 300)
    snapshot = repr(item)

    accepted(item, IMPORT, mode=SIMPLIFIED)

    assert repr(item) == snapshot


# --- event_token --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("item", "token"),
    [
        pytest.param(event(), "T", id="present"),
        pytest.param({"event": "A", "properties": {"token": ""}}, None, id="empty"),
        pytest.param({"event": "A", "properties": {"token": 123}}, None, id="number"),
        pytest.param({"event": "A", "properties": {}}, None, id="edge-3-missing"),
        pytest.param({"event": "A"}, None, id="no-properties"),
        pytest.param({"event": "A", "properties": "x"}, None, id="properties-not-object"),
        pytest.param([], None, id="not-an-object"),
    ],
)
def test_event_token_reads_properties_token(item: Any, token: str | None) -> None:
    assert event_token(item) == token
