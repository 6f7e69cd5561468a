"""User and group profile updates: validating `/engage` and `/groups` records, and applying them.

A record carries exactly one operation (SPEC.md §1.3-1.4). Validation checks the record's shape;
`apply_profile_update` / `apply_group_update` compute the profile that results from it, as a pure
function of the stored properties (None when there is no profile) and the update.

Where SPEC.md is silent, these are the choices:
- `$set`, `$set_once`, `$add`, `$union` and `$append` create a missing profile; `$remove` and
  `$unset` on a missing profile leave it missing (there is nothing to take away from).
- `$add` counts a missing or null property as 0; `$union` and `$append` treat a missing or null
  property as an empty list. On any other non-number (`$add`) or non-list (`$union`, `$append`)
  the update fails with `ProfileUpdateError`; `$remove` leaves a non-list property alone.
- `$remove` takes out every copy of the value; `$union` also collapses duplicates within the
  values it is given. Values are compared as JSON (`1` equals `1.0`, but not `true`).
- The property cap counts every key, `$last_seen` included, and only refuses updates that grow a
  profile past it, so a profile already over a lowered cap can still shrink.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from kindred.ingest.model import (
    GROUP_OPERATIONS,
    PROFILE_OPERATIONS,
    GroupUpdate,
    Limits,
    ProfileUpdate,
    RecordError,
)
from kindred.ingest.values import (
    RecordInvalid,
    describe,
    is_placeholder,
    number_or_none,
    stringify_id,
    to_epoch_ms,
)

__all__ = [
    "ProfileLimitError",
    "ProfileUpdateError",
    "apply_group_update",
    "apply_profile_update",
    "format_last_seen",
    "profile_token",
    "validate_group_update",
    "validate_profile_update",
]

# Mixpanel's answers for a record without these (SPEC.md §1.0 and edge case 43; the second is
# what Segment's Mixpanel integration tests expect). The group ones follow the same pattern.
TOKEN_MISSING = "$token, missing or empty"
DISTINCT_ID_MISSING = "$distinct_id, missing or empty"

# Operations that create a profile which does not exist yet.
_CREATING_OPERATIONS = frozenset(("$set", "$set_once", "$add", "$union", "$append"))
_GROUP_UNSUPPORTED = ("$add", "$append")
_ALL_OPERATIONS = frozenset(PROFILE_OPERATIONS)
_LAST_SEEN_FORMAT = "%Y-%m-%dT%H:%M:%S"


class ProfileUpdateError(ValueError):
    """Raised when an update cannot apply to the stored profile; the profile stays as it was."""


class ProfileLimitError(ProfileUpdateError):
    """Raised when an update would give a profile more properties than the limit allows."""


def profile_token(item: Any) -> str | None:
    """The project token a profile or group record carries in `$token`, when non-empty."""
    if not isinstance(item, dict):
        return None
    token = item.get("$token")
    return token if isinstance(token, str) and token else None


def validate_profile_update(
    item: Any, index: int, *, now_ms: int, limits: Limits
) -> ProfileUpdate | RecordError:
    """Validate the `/engage` record at `index` of a payload.

    `$ip`, `$latitude`/`$longitude` and the browser's `$device_id`, `$user_id` and
    `$had_persisted_distinct_id` are accepted and dropped: kindred keeps no addresses and
    geolocates nothing without a configured database.
    """
    try:
        record = _record(item, limits)
        distinct_id = _distinct_id(record)
        operation, value = _operation(record, PROFILE_OPERATIONS)
        time_ms = _update_time(record.get("$time"), now_ms)
    except RecordInvalid as exc:
        return RecordError(index, None, exc.field, exc.message)
    return ProfileUpdate(
        distinct_id,
        operation,
        value,
        time_ms,
        ignore_alias=record.get("$ignore_alias") is True,
        ignore_time=record.get("$ignore_time") is True,
    )


def validate_group_update(
    item: Any, index: int, *, now_ms: int, limits: Limits
) -> GroupUpdate | RecordError:
    """Validate the `/groups` record at `index` of a payload."""
    try:
        record = _record(item, limits)
        if "$distinct_id" in record:
            # Mixpanel refuses these outright (SPEC.md §1.4, GH-SW539).
            raise RecordInvalid(
                "$distinct_id",
                "a /groups record must not carry $distinct_id: group profiles are keyed by "
                "$group_key and $group_id; remove it, and send user profile updates to /engage",
            )
        group_key = _required_text(record, "$group_key", numbers=False)
        group_id = _required_text(record, "$group_id", numbers=True)
        for unsupported in _GROUP_UNSUPPORTED:
            if unsupported in record:
                raise RecordInvalid(
                    unsupported,
                    f"groups do not support {unsupported}; a group profile takes "
                    f"{_spell(GROUP_OPERATIONS)} (to count, $set the new total)",
                )
        operation, value = _operation(record, GROUP_OPERATIONS)
        time_ms = _update_time(record.get("$time"), now_ms)
    except RecordInvalid as exc:
        return RecordError(index, None, exc.field, exc.message)
    return GroupUpdate(group_key, group_id, operation, value, time_ms)


def apply_profile_update(
    properties: dict[str, Any] | None, update: ProfileUpdate, *, limits: Limits
) -> dict[str, Any] | None:
    """The user profile after `update`, or None when there is none (never created, or deleted).

    `$last_seen` becomes the update's time, "YYYY-MM-DDTHH:MM:SS" in UTC, unless the update says
    `$ignore_time`. `properties` is not modified.
    """
    result = _apply(properties, update.operation, update.value)
    if result is not None and not update.ignore_time:
        result["$last_seen"] = format_last_seen(update.time_ms)
    _check_limit(properties, result, limits, f"profile {update.distinct_id!r}")
    return result


def apply_group_update(
    properties: dict[str, Any] | None, update: GroupUpdate, *, limits: Limits
) -> dict[str, Any] | None:
    """The group profile after `update`, or None when there is none; like `apply_profile_update`
    but without `$last_seen`, which Mixpanel keeps only on user profiles."""
    result = _apply(properties, update.operation, update.value)
    _check_limit(properties, result, limits, f"group {update.group_key}={update.group_id!r}")
    return result


def format_last_seen(time_ms: int) -> str:
    """`time_ms` in the form Mixpanel gives profile dates: "YYYY-MM-DDTHH:MM:SS", UTC."""
    return datetime.fromtimestamp(time_ms / 1000, tz=UTC).strftime(_LAST_SEEN_FORMAT)


# --- validation ---------------------------------------------------------------------------------


def _record(item: Any, limits: Limits) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise RecordInvalid(
            "record",
            f"a profile update must be a JSON object, got {describe(item)}; "
            'send {"$token": ..., "$distinct_id": ..., "$set": {...}}',
        )
    if profile_token(item) is None:
        raise RecordInvalid("$token", TOKEN_MISSING)
    try:
        size = len(orjson.dumps(item))
    except orjson.JSONEncodeError:
        size = 0  # Not from JSON (a caller's own dict); nothing sensible to measure.
    if size > limits.max_record_bytes:
        raise RecordInvalid(
            "record",
            f"the update is {size} bytes as JSON, over the limit of {limits.max_record_bytes} "
            "bytes; split it into several updates",
        )
    return item


def _distinct_id(record: dict[str, Any]) -> str:
    distinct_id = _required_text(record, "$distinct_id", numbers=True)
    if is_placeholder(distinct_id):
        raise RecordInvalid(
            "$distinct_id",
            f"'$distinct_id' is invalid: {distinct_id!r} is a placeholder, not an id; "
            "send the id of the user whose profile this is",
        )
    return distinct_id


def _required_text(record: dict[str, Any], name: str, *, numbers: bool) -> str:
    value = record.get(name)
    text = stringify_id(value) if numbers else value
    if not isinstance(text, str) or not text:
        if value is None or value == "":
            raise RecordInvalid(name, f"{name}, missing or empty")
        kinds = "a non-empty string or a number" if numbers else "a non-empty string"
        raise RecordInvalid(name, f"'{name}' is invalid: must be {kinds}, got {describe(value)}")
    return text


def _operation(record: dict[str, Any], allowed: tuple[str, ...]) -> tuple[str, Any]:
    present = [name for name in allowed if name in record]
    if not present:
        unknown = sorted(k for k in record if k.startswith("$") and k not in _KNOWN_KEYS)
        hint = f" (unrecognised: {', '.join(unknown)})" if unknown else ""
        raise RecordInvalid(
            "operation",
            f"the record has no operation{hint}; send exactly one of {_spell(allowed)}",
        )
    if len(present) > 1:
        raise RecordInvalid(
            "operation",
            f"the record has {len(present)} operations ({', '.join(present)}); send exactly one "
            "per record, as separate records in the same batch",
        )
    operation = present[0]
    value = record[operation]
    _check_operation_value(operation, value)
    return operation, value


def _check_operation_value(operation: str, value: Any) -> None:
    if operation == "$delete":
        return  # Any value: the SDKs send "", null or the distinct_id.
    if operation == "$unset":
        if not isinstance(value, list) or not value:
            raise RecordInvalid(
                operation,
                f"'$unset' is invalid: must be a non-empty array of property names, "
                f"got {describe(value)}",
            )
        for name in value:
            if not isinstance(name, str):
                raise RecordInvalid(
                    operation,
                    f"'$unset' is invalid: property names are strings, got {describe(name)}",
                )
        return
    if not isinstance(value, dict):
        raise RecordInvalid(
            operation,
            f"'{operation}' is invalid: must be an object of property names to values, "
            f"got {describe(value)}",
        )
    for name, item in value.items():
        if operation == "$add" and number_or_none(item) is None:
            raise RecordInvalid(
                f"$add.{name}",
                f"'$add.{name}' is invalid: $add takes numbers to add (negative to subtract), "
                f"got {describe(item)}",
            )
        if operation == "$union" and not isinstance(item, list):
            raise RecordInvalid(
                f"$union.{name}",
                f"'$union.{name}' is invalid: $union takes an array of values to add to the "
                f"list, got {describe(item)}; wrap a single value in [ ]",
            )


def _update_time(value: Any, now_ms: int) -> int:
    if value is None:
        return now_ms
    number = number_or_none(value)
    if number is not None:
        time_ms = to_epoch_ms(number)
        try:
            format_last_seen(time_ms)
        except (OverflowError, OSError, ValueError):
            pass
        else:
            return time_ms
    raise RecordInvalid(
        "$time",
        f"'$time' is invalid: must be seconds or milliseconds since epoch, got {describe(value)}",
    )


def _spell(operations: tuple[str, ...]) -> str:
    return ", ".join(operations[:-1]) + " or " + operations[-1]


_KNOWN_KEYS = _ALL_OPERATIONS | {
    "$token",
    "$distinct_id",
    "$group_key",
    "$group_id",
    "$time",
    "$ip",
    "$latitude",
    "$longitude",
    "$ignore_time",
    "$ignore_alias",
    "$device_id",
    "$user_id",
    "$had_persisted_distinct_id",
}


# --- application --------------------------------------------------------------------------------


def _apply(properties: dict[str, Any] | None, operation: str, value: Any) -> dict[str, Any] | None:
    if operation == "$delete":
        return None
    if properties is None and operation not in _CREATING_OPERATIONS:
        return None
    result = dict(properties or {})

    if operation == "$set":
        result.update(value)
    elif operation == "$set_once":
        for name, item in value.items():
            result.setdefault(name, item)
    elif operation == "$add":
        for name, amount in value.items():
            result[name] = _added(result.get(name), amount, name)
    elif operation == "$union":
        for name, items in value.items():
            result[name] = _union(_list_for(result.get(name), name, operation), items)
    elif operation == "$append":
        for name, item in value.items():
            result[name] = [*_list_for(result.get(name), name, operation), item]
    elif operation == "$remove":
        for name, item in value.items():
            current = result.get(name)
            if isinstance(current, list):
                key = _json_key(item)
                result[name] = [kept for kept in current if _json_key(kept) != key]
    elif operation == "$unset":
        for name in value:
            result.pop(name, None)
    else:
        raise AssertionError(f"unknown operation {operation!r}; validation lets none through")
    return result


def _added(current: Any, amount: int | float, name: str) -> int | float:
    if current is None:
        return amount
    number = number_or_none(current)
    if number is None:
        raise ProfileUpdateError(
            f"$add cannot add to property {name!r}: it holds {describe(current)}, not a number; "
            f"$set it to a number first, or $unset it"
        )
    return number + amount


def _list_for(current: Any, name: str, operation: str) -> list[Any]:
    if current is None:
        return []
    if not isinstance(current, list):
        raise ProfileUpdateError(
            f"{operation} cannot extend property {name!r}: it holds {describe(current)}, not a "
            "list; $set it to a list first, or $unset it"
        )
    return current


def _union(current: list[Any], items: list[Any]) -> list[Any]:
    seen = {_json_key(item) for item in current}
    result = list(current)
    for item in items:
        key = _json_key(item)
        if key not in seen:
            seen.add(key)
            result.append(item)
    return result


def _json_key(value: Any) -> tuple[str, Any]:
    """A hashable key under which two values are equal exactly when they are equal as JSON."""
    if isinstance(value, bool) or value is None:
        return ("literal", value)
    if isinstance(value, int | float):
        return ("number", value)  # 1 == 1.0 and hash alike, as JSON numbers should.
    if isinstance(value, str):
        return ("string", value)
    return ("json", orjson.dumps(value, option=orjson.OPT_SORT_KEYS))


def _check_limit(
    before: dict[str, Any] | None, after: dict[str, Any] | None, limits: Limits, whose: str
) -> None:
    if after is None:
        return
    count = len(after)
    if count > limits.max_profile_properties and count > len(before or ()):
        raise ProfileLimitError(
            f"the update would give {whose} {count} properties, over the limit of "
            f"{limits.max_profile_properties}; the update was not applied — $unset unused "
            "properties first, or keep related values together in one object property"
        )
