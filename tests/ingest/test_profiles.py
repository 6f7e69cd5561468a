"""Profile and group updates: SPEC.md §1.3-1.4, edge cases 35-48, the official clients' records."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from kindred.ingest.model import GroupUpdate, Limits, ProfileUpdate, RecordError
from kindred.ingest.profiles import (
    ProfileLimitError,
    ProfileUpdateError,
    apply_group_update,
    apply_profile_update,
    format_last_seen,
    profile_token,
    validate_group_update,
    validate_profile_update,
)

LIMITS = Limits()
NOW_MS = 1_796_313_011_000  # 2026-12-03T15:50:11Z
NOW_SEEN = "2026-12-03T15:50:11"
OPERATIONS = "$set, $set_once, $add, $union, $append, $remove, $unset or $delete"
GROUP_OPERATIONS = "$set, $set_once, $union, $remove, $unset or $delete"


def engage(**fields: Any) -> dict[str, Any]:
    return {"$token": "T", "$distinct_id": "u1", **fields}


def group(**fields: Any) -> dict[str, Any]:
    return {"$token": "T", "$group_key": "company", "$group_id": "acme", **fields}


def profile_update(item: Any, *, index: int = 0, limits: Limits = LIMITS) -> ProfileUpdate:
    result = validate_profile_update(item, index, now_ms=NOW_MS, limits=limits)
    assert isinstance(result, ProfileUpdate), result
    return result


def profile_error(item: Any, *, index: int = 0, limits: Limits = LIMITS) -> RecordError:
    result = validate_profile_update(item, index, now_ms=NOW_MS, limits=limits)
    assert isinstance(result, RecordError), result
    return result


def group_update(item: Any) -> GroupUpdate:
    result = validate_group_update(item, 0, now_ms=NOW_MS, limits=LIMITS)
    assert isinstance(result, GroupUpdate), result
    return result


def group_error(item: Any, *, index: int = 0) -> RecordError:
    result = validate_group_update(item, index, now_ms=NOW_MS, limits=LIMITS)
    assert isinstance(result, RecordError), result
    return result


def apply_all(
    records: Sequence[dict[str, Any]],
    properties: dict[str, Any] | None = None,
    *,
    limits: Limits = LIMITS,
) -> dict[str, Any] | None:
    for record in records:
        properties = apply_profile_update(properties, profile_update(record), limits=limits)
    return properties


def without_last_seen(properties: dict[str, Any] | None) -> dict[str, Any] | None:
    if properties is None:
        return None
    return {k: v for k, v in properties.items() if k != "$last_seen"}


# --- validation: the official clients' records (CLIENTS.md §7) ----------------------------------


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        pytest.param(
            {
                "$token": "TOKEN123",
                "$time": 1796313010.7193854,
                "$distinct_id": "user-1",
                "$set": {"$email": "u@example.com", "plan": "pro"},
            },
            ProfileUpdate(
                "user-1", "$set", {"$email": "u@example.com", "plan": "pro"}, 1796313010719
            ),
            id="python-people-set-float-seconds",
        ),
        pytest.param(
            engage(
                **{
                    "$set": {"k": "v"},
                    "$ignore_time": True,
                    "$ip": "1.2.3.4",
                    "$time": 1700000000000,
                }
            ),
            ProfileUpdate("u1", "$set", {"k": "v"}, 1700000000000, ignore_time=True),
            id="node-modifiers-ms-time",
        ),
        pytest.param(
            engage(
                **{
                    "$set": {"$os": "Linux", "when": "2023-11-14T22:13:20"},
                    "$device_id": "898c9cbe",
                    "$user_id": "u1",
                    "$had_persisted_distinct_id": True,
                }
            ),
            ProfileUpdate("u1", "$set", {"$os": "Linux", "when": "2023-11-14T22:13:20"}, NOW_MS),
            id="browser-extras-stripped-time-now",
        ),
        pytest.param(
            engage(
                **{"$ignore_time": True, "$ip": 0, "$ignore_alias": False, "$set": {"plan": "pro"}}
            ),
            ProfileUpdate("u1", "$set", {"plan": "pro"}, NOW_MS, ignore_time=True),
            id="mixpanel-utils-import-people",
        ),
        pytest.param(
            engage(**{"$latitude": 1.3, "$longitude": 103.8, "$set": {"a": 1}}),
            ProfileUpdate("u1", "$set", {"a": 1}, NOW_MS),
            id="edge-45-coordinates-dropped",
        ),
        pytest.param(
            engage(**{"$delete": "", "$ignore_alias": True}),
            ProfileUpdate("u1", "$delete", "", NOW_MS, ignore_alias=True),
            id="delete-ignore-alias",
        ),
        pytest.param(
            engage(**{"$distinct_id": 42, "$add": {"logins": 1}}),
            ProfileUpdate("42", "$add", {"logins": 1}, NOW_MS),
            id="numeric-distinct-id",
        ),
        pytest.param(
            engage(**{"$append": {"$transactions": {"$amount": 9.99, "sku": "x"}}}),
            ProfileUpdate(
                "u1", "$append", {"$transactions": {"$amount": 9.99, "sku": "x"}}, NOW_MS
            ),
            id="python-track-charge",
        ),
        pytest.param(
            engage(**{"$unset": ["$transactions"]}),
            ProfileUpdate("u1", "$unset", ["$transactions"], NOW_MS),
            id="python-clear-charges",
        ),
    ],
)
def test_client_profile_records_validate(item: dict[str, Any], expected: ProfileUpdate) -> None:
    assert profile_update(item) == expected


@pytest.mark.parametrize(
    "value",
    [pytest.param("", id="empty"), pytest.param(None, id="null"), pytest.param("u1", id="id")],
)
def test_delete_takes_any_value(value: Any) -> None:
    assert profile_update(engage(**{"$delete": value})).operation == "$delete"


# --- validation: refusals -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "item",
    [
        pytest.param({"$distinct_id": "u1", "$set": {"a": 1}}, id="edge-43-missing"),
        pytest.param(engage(**{"$token": "", "$set": {}}), id="empty"),
        pytest.param(engage(**{"$token": 123, "$set": {}}), id="number"),
    ],
)
def test_missing_token_gets_mixpanels_exact_message(item: dict[str, Any]) -> None:
    assert profile_error(item, index=2) == RecordError(
        2, None, "$token", "$token, missing or empty"
    )


@pytest.mark.parametrize(
    "distinct_id",
    [pytest.param(None, id="missing"), pytest.param("", id="empty")],
)
def test_missing_distinct_id_gets_mixpanels_message(distinct_id: Any) -> None:
    item = engage(**{"$set": {"a": 1}})
    if distinct_id is None:
        del item["$distinct_id"]
    else:
        item["$distinct_id"] = distinct_id

    error = profile_error(item)

    assert (error.field, error.message) == ("$distinct_id", "$distinct_id, missing or empty")


@pytest.mark.parametrize(
    ("distinct_id", "message"),
    [
        pytest.param("undefined", "'undefined' is a placeholder", id="placeholder"),
        pytest.param(0, "'0' is a placeholder", id="numeric-placeholder"),
        pytest.param("NULL", "'NULL' is a placeholder", id="placeholder-any-case"),
        pytest.param(True, "got True (boolean)", id="boolean"),
        pytest.param(["u1"], "got ['u1'] (array)", id="array"),
    ],
)
def test_bad_distinct_ids_are_refused(distinct_id: Any, message: str) -> None:
    error = profile_error(engage(**{"$distinct_id": distinct_id, "$set": {"a": 1}}))

    assert error.field == "$distinct_id"
    assert message in error.message


@pytest.mark.parametrize(
    ("item", "field", "message"),
    [
        pytest.param(
            engage(),
            "operation",
            f"no operation; send exactly one of {OPERATIONS}",
            id="no-operation",
        ),
        pytest.param(
            engage(**{"$sett": {"a": 1}}),
            "operation",
            f"no operation (unrecognised: $sett); send exactly one of {OPERATIONS}",
            id="misspelt-operation",
        ),
        pytest.param(
            engage(**{"$set": {"a": 1}, "$unset": ["b"]}),
            "operation",
            "the record has 2 operations ($set, $unset); send exactly one",
            id="two-operations",
        ),
        pytest.param(engage(**{"$set": ["a"]}), "$set", "must be an object", id="set-array"),
        pytest.param(
            engage(**{"$set_once": "a"}), "$set_once", "must be an object", id="set-once-string"
        ),
        pytest.param(engage(**{"$add": {"n": "5"}}), "$add.n", "takes numbers", id="add-string"),
        pytest.param(
            engage(**{"$add": {"n": True}}), "$add.n", "got True (boolean)", id="add-boolean"
        ),
        pytest.param(
            engage(**{"$union": {"tags": "a"}}),
            "$union.tags",
            "wrap a single value",
            id="union-scalar",
        ),
        pytest.param(engage(**{"$union": ["a"]}), "$union", "must be an object", id="union-array"),
        pytest.param(
            engage(**{"$append": "a"}), "$append", "must be an object", id="append-string"
        ),
        pytest.param(engage(**{"$remove": None}), "$remove", "must be an object", id="remove-null"),
        pytest.param(engage(**{"$unset": []}), "$unset", "non-empty array", id="unset-empty"),
        pytest.param(engage(**{"$unset": "plan"}), "$unset", "non-empty array", id="unset-string"),
        pytest.param(
            engage(**{"$unset": [1]}), "$unset", "property names are strings", id="unset-number"
        ),
        pytest.param(
            engage(**{"$set": {}, "$time": "yesterday"}),
            "$time",
            "got 'yesterday'",
            id="time-string",
        ),
        pytest.param(
            engage(**{"$set": {}, "$time": 1e30}),
            "$time",
            "seconds or milliseconds",
            id="time-out-of-range",
        ),
        pytest.param(["$set"], "record", "must be a JSON object", id="not-an-object"),
    ],
)
def test_malformed_profile_records_are_refused_naming_the_field(
    item: Any, field: str, message: str
) -> None:
    error = profile_error(item)

    assert error.field == field
    assert message in error.message


def test_oversized_profile_update_is_refused() -> None:
    error = profile_error(
        engage(**{"$set": {"blob": "x" * 2000}}), limits=Limits(max_record_bytes=1000)
    )

    assert error.field == "record" and "over the limit of 1000 bytes" in error.message


@pytest.mark.parametrize(
    ("item", "token"),
    [
        pytest.param(engage(), "T", id="present"),
        pytest.param({"$token": ""}, None, id="empty"),
        pytest.param({}, None, id="missing"),
        pytest.param("T", None, id="not-an-object"),
    ],
)
def test_profile_token_reads_dollar_token(item: Any, token: str | None) -> None:
    assert profile_token(item) == token


# --- groups -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        pytest.param(
            group(**{"$set": {"size": 10}}),
            GroupUpdate("company", "acme", "$set", {"size": 10}, NOW_MS),
            id="edge-47-set",
        ),
        pytest.param(
            group(**{"$union": {"tags": ["x"]}, "$time": 1700000000.5}),
            GroupUpdate("company", "acme", "$union", {"tags": ["x"]}, 1700000000500),
            id="python-union-with-time",
        ),
        pytest.param(
            group(**{"$group_id": 1234, "$delete": ""}),
            GroupUpdate("company", "1234", "$delete", "", NOW_MS),
            id="numeric-group-id",
        ),
    ],
)
def test_client_group_records_validate(item: dict[str, Any], expected: GroupUpdate) -> None:
    assert group_update(item) == expected


def test_edge_47_group_record_with_distinct_id_is_refused() -> None:
    error = group_error(group(**{"$distinct_id": "u1", "$set": {"a": 1}}), index=5)

    assert (error.index, error.insert_id, error.field) == (5, None, "$distinct_id")
    assert "must not carry $distinct_id" in error.message


@pytest.mark.parametrize("operation", ["$add", "$append"])
def test_edge_48_groups_refuse_add_and_append(operation: str) -> None:
    error = group_error(group(**{operation: {"n": 1}}))

    assert error.field == operation
    assert error.message.startswith(f"groups do not support {operation}")
    assert GROUP_OPERATIONS in error.message


@pytest.mark.parametrize(
    ("item", "field", "message"),
    [
        pytest.param(
            {"$group_key": "company", "$group_id": "acme", "$set": {}},
            "$token",
            "$token, missing or empty",
            id="no-token",
        ),
        pytest.param(
            group(**{"$group_key": None, "$set": {}}),
            "$group_key",
            "$group_key, missing or empty",
            id="no-group-key",
        ),
        pytest.param(
            group(**{"$group_key": 5, "$set": {}}),
            "$group_key",
            "must be a non-empty string, got 5",
            id="numeric-group-key",
        ),
        pytest.param(
            group(**{"$group_id": "", "$set": {}}),
            "$group_id",
            "$group_id, missing or empty",
            id="empty-group-id",
        ),
        pytest.param(
            group(), "operation", f"send exactly one of {GROUP_OPERATIONS}", id="no-operation"
        ),
        pytest.param(
            group(**{"$set": {}, "$unset": ["a"]}), "operation", "2 operations", id="two-operations"
        ),
    ],
)
def test_malformed_group_records_are_refused(item: Any, field: str, message: str) -> None:
    error = group_error(item)

    assert error.field == field
    assert message in error.message


# --- applying profile updates (edge cases 35-46) ------------------------------------------------


def test_edge_35_set_creates_the_profile_with_last_seen() -> None:
    assert apply_all([engage(**{"$set": {"plan": "pro"}})]) == {
        "plan": "pro",
        "$last_seen": NOW_SEEN,
    }


@pytest.mark.parametrize(
    ("records", "expected"),
    [
        pytest.param(
            [engage(**{"$set_once": {"first": "a"}}), engage(**{"$set_once": {"first": "b"}})],
            {"first": "a"},
            id="edge-36-set-once-keeps-first",
        ),
        pytest.param(
            [engage(**{"$set": {"a": 1}}), engage(**{"$set": {"a": 2, "b": 3}})],
            {"a": 2, "b": 3},
            id="set-overwrites",
        ),
        pytest.param(
            [engage(**{"$add": {"n": 5}}), engage(**{"$add": {"n": -2}})],
            {"n": 3},
            id="edge-37-add-from-missing",
        ),
        pytest.param(
            [engage(**{"$set": {"n": None}}), engage(**{"$add": {"n": 2}})],
            {"n": 2},
            id="add-to-null-counts-from-zero",
        ),
        pytest.param(
            [engage(**{"$add": {"n": 1}}), engage(**{"$add": {"n": 0.5}})],
            {"n": 1.5},
            id="add-float",
        ),
        pytest.param(
            [
                engage(**{"$union": {"tags": ["a", "b"]}}),
                engage(**{"$union": {"tags": ["b", "c"]}}),
            ],
            {"tags": ["a", "b", "c"]},
            id="edge-38-union",
        ),
        pytest.param(
            [engage(**{"$union": {"tags": ["a", "a", 1, 1.0, True, None, None]}})],
            {"tags": ["a", 1, True, None]},
            id="union-dedups-as-json",
        ),
        pytest.param(
            [
                engage(**{"$union": {"objs": [{"a": 1, "b": 2}]}}),
                engage(**{"$union": {"objs": [{"b": 2, "a": 1}]}}),
            ],
            {"objs": [{"a": 1, "b": 2}]},
            id="union-dedups-objects",
        ),
        pytest.param(
            [engage(**{"$append": {"tags": "b"}}), engage(**{"$append": {"tags": "b"}})],
            {"tags": ["b", "b"]},
            id="edge-39-append-keeps-duplicates",
        ),
        pytest.param(
            [engage(**{"$set": {"tags": ["a"]}}), engage(**{"$remove": {"tags": "zzz"}})],
            {"tags": ["a"]},
            id="edge-40-remove-absent-value",
        ),
        pytest.param(
            [engage(**{"$set": {"a": 1}}), engage(**{"$remove": {"tags": "zzz"}})],
            {"a": 1},
            id="remove-from-absent-property",
        ),
        pytest.param(
            [
                engage(**{"$set": {"tags": ["a", "b", "a", 1]}}),
                engage(**{"$remove": {"tags": "a"}}),
            ],
            {"tags": ["b", 1]},
            id="remove-takes-every-copy",
        ),
        pytest.param(
            [engage(**{"$set": {"tags": "a"}}), engage(**{"$remove": {"tags": "a"}})],
            {"tags": "a"},
            id="remove-leaves-non-list-alone",
        ),
        pytest.param(
            [engage(**{"$set": {"plan": "pro", "a": 1}}), engage(**{"$unset": ["plan", "never"]})],
            {"a": 1},
            id="edge-41-unset",
        ),
    ],
)
def test_operations_combine_as_mixpanel_documents(
    records: list[dict[str, Any]], expected: dict[str, Any]
) -> None:
    assert without_last_seen(apply_all(records)) == expected


def test_edge_42_delete_removes_the_profile() -> None:
    assert apply_all([engage(**{"$set": {"a": 1}}), engage(**{"$delete": ""})]) is None


@pytest.mark.parametrize(
    ("operation", "value", "created"),
    [
        pytest.param("$set", {"a": 1}, True, id="set"),
        pytest.param("$set_once", {"a": 1}, True, id="set-once"),
        pytest.param("$add", {"a": 1}, True, id="add"),
        pytest.param("$union", {"a": [1]}, True, id="union"),
        pytest.param("$append", {"a": 1}, True, id="append"),
        pytest.param("$remove", {"a": 1}, False, id="remove"),
        pytest.param("$unset", ["a"], False, id="unset"),
        pytest.param("$delete", "", False, id="delete"),
    ],
)
def test_which_operations_create_a_missing_profile(
    operation: str, value: Any, created: bool
) -> None:
    result = apply_all([engage(**{operation: value})])

    assert (result is not None) is created


def test_edge_44_ignore_time_leaves_last_seen_unchanged() -> None:
    earlier = engage(**{"$set": {"a": 1}, "$time": 1_700_000_000})
    later = engage(**{"$set": {"b": 2}, "$ignore_time": True})

    result = apply_all([earlier, later])

    assert result == {"a": 1, "b": 2, "$last_seen": "2023-11-14T22:13:20"}


def test_ignore_time_on_a_new_profile_sets_no_last_seen() -> None:
    assert apply_all([engage(**{"$set": {"a": 1}, "$ignore_time": True})]) == {"a": 1}


def test_last_seen_follows_time_of_any_update_to_an_existing_profile() -> None:
    result = apply_all(
        [engage(**{"$set": {"a": 1}, "$time": 1_700_000_000}), engage(**{"$unset": ["zz"]})]
    )

    assert result is not None and result["$last_seen"] == NOW_SEEN


@pytest.mark.parametrize(
    ("ms", "shown"),
    [
        pytest.param(NOW_MS, NOW_SEEN, id="now"),
        pytest.param(1_700_000_000_999, "2023-11-14T22:13:20", id="ms-dropped"),
        pytest.param(0, "1970-01-01T00:00:00", id="epoch"),
    ],
)
def test_last_seen_format_is_mixpanels_utc_date(ms: int, shown: str) -> None:
    assert format_last_seen(ms) == shown


@pytest.mark.parametrize(
    ("stored", "operation", "value"),
    [
        pytest.param({"n": "five"}, "$add", {"n": 1}, id="add-to-string"),
        pytest.param({"n": True}, "$add", {"n": 1}, id="add-to-boolean"),
        pytest.param({"tags": "a"}, "$union", {"tags": ["b"]}, id="union-into-string"),
        pytest.param({"tags": {"a": 1}}, "$append", {"tags": "b"}, id="append-to-object"),
    ],
)
def test_updates_that_cannot_apply_fail_and_leave_the_profile_as_it_was(
    stored: dict[str, Any], operation: str, value: Any
) -> None:
    before = dict(stored)
    update = profile_update(engage(**{operation: value}))

    with pytest.raises(ProfileUpdateError) as caught:
        apply_profile_update(stored, update, limits=LIMITS)

    assert stored == before
    message = str(caught.value)
    assert operation in message and repr(next(iter(value))) in message
    assert "$unset it" in message


def test_edge_46_update_past_the_property_limit_fails() -> None:
    limits = Limits(max_profile_properties=2000)
    stored = {f"p{i}": i for i in range(1999)} | {"$last_seen": "2026-01-01T00:00:00"}
    update = profile_update(engage(**{"$set": {"one_more": 1}}))

    with pytest.raises(ProfileLimitError) as caught:
        apply_profile_update(stored, update, limits=limits)

    assert len(stored) == 2000
    assert "2001 properties, over the limit of 2000" in str(caught.value)
    assert "'u1'" in str(caught.value)


def test_updates_within_the_limit_or_shrinking_succeed() -> None:
    limits = Limits(max_profile_properties=3)
    stored = {"a": 1, "b": 2, "$last_seen": "2026-01-01T00:00:00"}

    overwritten = apply_profile_update(
        stored, profile_update(engage(**{"$set": {"a": 9}})), limits=limits
    )
    over_cap = {"a": 1, "b": 2, "c": 3, "$last_seen": "x"}
    shrunk = apply_profile_update(
        over_cap, profile_update(engage(**{"$unset": ["c"]})), limits=limits
    )

    assert overwritten == {"a": 9, "b": 2, "$last_seen": NOW_SEEN}
    assert shrunk == {"a": 1, "b": 2, "$last_seen": NOW_SEEN}


def test_profile_limit_error_is_a_profile_update_error() -> None:
    assert issubclass(ProfileLimitError, ProfileUpdateError)
    assert issubclass(ProfileUpdateError, ValueError)


def test_apply_does_not_modify_its_inputs() -> None:
    stored = {"tags": ["a"], "n": 1}
    update = profile_update(engage(**{"$union": {"tags": ["b"]}}))

    result = apply_profile_update(stored, update, limits=LIMITS)

    assert stored == {"tags": ["a"], "n": 1}
    assert update.value == {"tags": ["b"]}
    assert result is not None and result["tags"] == ["a", "b"]


# --- applying group updates ---------------------------------------------------------------------


def apply_groups(
    records: Sequence[dict[str, Any]], *, limits: Limits = LIMITS
) -> dict[str, Any] | None:
    properties: dict[str, Any] | None = None
    for record in records:
        properties = apply_group_update(properties, group_update(record), limits=limits)
    return properties


@pytest.mark.parametrize(
    ("records", "expected"),
    [
        pytest.param([group(**{"$set": {"size": 10}})], {"size": 10}, id="edge-47-set-creates"),
        pytest.param(
            [group(**{"$union": {"tags": ["x"]}}), group(**{"$union": {"tags": ["x", "y"]}})],
            {"tags": ["x", "y"]},
            id="union",
        ),
        pytest.param(
            [
                group(**{"$set_once": {"a": 1}}),
                group(**{"$set_once": {"a": 2}}),
                group(**{"$unset": ["b"]}),
            ],
            {"a": 1},
            id="set-once-then-unset",
        ),
        pytest.param([group(**{"$unset": ["a"]})], None, id="unset-creates-nothing"),
        pytest.param([group(**{"$remove": {"a": 1}})], None, id="remove-creates-nothing"),
        pytest.param([group(**{"$set": {"a": 1}}), group(**{"$delete": ""})], None, id="delete"),
    ],
)
def test_group_updates_apply_without_last_seen(
    records: list[dict[str, Any]], expected: dict[str, Any] | None
) -> None:
    assert apply_groups(records) == expected


def test_group_update_past_the_property_limit_fails() -> None:
    with pytest.raises(ProfileLimitError, match="group company='acme'"):
        apply_groups([group(**{"$set": {"a": 1, "b": 2}})], limits=Limits(max_profile_properties=1))
