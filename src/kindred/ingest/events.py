"""One raw event in, one `EventRecord`, `RecordError` or silent drop out (SPEC.md §1.1-1.2, §2).

The checks run in a fixed order and the first failure is the record's error: the record's shape,
`$ignore`, `event`, `time`, `$insert_id`, `distinct_id`, then the properties (count, nesting,
collection sizes). Strings are truncated rather than refused. Identity events are ordinary events
here; what they mean for identity is the pipeline's business.
"""

from __future__ import annotations

import re
import sys
from typing import Any

import orjson

from kindred.identity.events import IDENTITY_EVENT_NAMES, IdentityEventError, derive_simplified_ids
from kindred.identity.model import DEVICE_PREFIX, IdentityMode
from kindred.ingest.model import Endpoint, EventRecord, Limits, RecordError
from kindred.ingest.values import (
    RecordInvalid,
    describe,
    format_ms,
    is_placeholder,
    number_or_none,
    stringify_id,
    to_epoch_ms,
)

__all__ = ["ID_PROPERTIES", "event_token", "validate_event"]

# Mixpanel's wording for these two is protocol (SPEC.md §1.2, GH-U40): keep them byte for byte.
TIME_NOT_SECONDS = "'properties.time' is invalid: must be specified as seconds since epoch"
INSERT_ID_BAD_CHARS = (
    "'$insert_id' is invalid: must only contain alphanumeric or hyphen '-' characters"
)

# Moved out of `properties` into EventRecord fields, or (`ip`) dropped: kindred stores no address.
_LIFTED = frozenset(("token", "distinct_id", "time", "$insert_id", "ip"))
# Ids are never truncated: a cut id would silently become another user or break an identity link.
ID_PROPERTIES = frozenset(
    (
        "$user_id",
        "$device_id",
        "$identified_id",
        "$anon_id",
        "$anon_distinct_id",
        "alias",
        "$distinct_ids",
    )
)
_UNLIMITED = sys.maxsize
_INSERT_ID_CHARS = re.compile(r"[A-Za-z0-9-]+")


def event_token(item: Any) -> str | None:
    """The project token an event carries in `properties.token`, when it is a non-empty string."""
    if not isinstance(item, dict):
        return None
    properties = item.get("properties")
    if not isinstance(properties, dict):
        return None
    token = properties.get("token")
    return token if isinstance(token, str) and token else None


def validate_event(
    item: Any,
    index: int,
    *,
    endpoint: Endpoint,
    mode: IdentityMode,
    now_ms: int,
    limits: Limits,
    is_strict: bool = True,
    may_reuse: bool = False,
) -> EventRecord | RecordError | None:
    """Validate and normalise the event at `index` of a /track or /import payload.

    Returns None for an event dropped silently: `$ignore` set, or a /track event older than the
    lookback. A RecordError carries the `failed_records` entry of `/import?strict=1`.
    `is_strict=False` lets a non-strict /import event without `$insert_id` in, undeduplicated:
    the official Node SDK's import() sends none (CLIENTS.md §3.2), and its data must not be lost.

    `may_reuse=True` lets an accepted record take `item`'s properties dict, changed in place,
    when validation would copy every property unchanged. For callers that decoded `item`
    themselves and drop it afterwards: it spares building and freeing a dict per event, about
    0.4 µs of the 7 that decoding and validating a browser SDK's event take.
    """
    assert endpoint in (Endpoint.TRACK, Endpoint.IMPORT), (
        f"events arrive on /track or /import, not {endpoint}"
    )
    try:
        return _validate(
            item,
            endpoint=endpoint,
            mode=mode,
            now_ms=now_ms,
            limits=limits,
            is_strict=is_strict,
            may_reuse=may_reuse,
        )
    except RecordInvalid as exc:
        properties = item.get("properties") if isinstance(item, dict) else None
        raw_insert_id = properties.get("$insert_id") if isinstance(properties, dict) else None
        insert_id = raw_insert_id if isinstance(raw_insert_id, str) else None
        return RecordError(index, insert_id, exc.field, exc.message)


def _validate(
    item: Any,
    *,
    endpoint: Endpoint,
    mode: IdentityMode,
    now_ms: int,
    limits: Limits,
    is_strict: bool,
    may_reuse: bool,
) -> EventRecord | None:
    if not isinstance(item, dict):
        raise RecordInvalid(
            "event",
            f"an event must be a JSON object, got {describe(item)}; "
            'send {"event": "<name>", "properties": {...}}',
        )
    properties = item.get("properties")
    if properties is None:
        properties = {}
    elif not isinstance(properties, dict):
        raise RecordInvalid(
            "properties",
            f"'properties' is invalid: must be a JSON object, got {describe(properties)}",
        )
    if _is_ignored(properties.get("$ignore")):
        return None

    event = item.get("event")
    if not isinstance(event, str) or not event:
        raise RecordInvalid(
            "event",
            f"'event' is invalid: must be a non-empty string naming the event, got {describe(event)}",
        )
    _check_size(item, limits)
    is_identity_event = event in IDENTITY_EVENT_NAMES

    time_ms = _event_time(properties.get("time"), endpoint, is_identity_event, now_ms, limits)
    if time_ms is None:
        return None
    is_insert_id_required = endpoint is Endpoint.IMPORT and is_strict and not is_identity_event
    insert_id = _insert_id(properties.get("$insert_id"), is_insert_id_required, limits)
    distinct_id, derived = _distinct_id(event, properties, mode)
    for text, path in ((event, "event"), (distinct_id, "properties.distinct_id")):
        if not text.isascii():
            _check_utf8(text, path)

    # The last check: a refusal must find `properties` as sent, to echo its `$insert_id`.
    cleaned = _clean_properties(properties, limits, may_reuse=may_reuse)
    cleaned.update(derived)
    if endpoint is Endpoint.IMPORT:
        cleaned["$import"] = True
    cleaned["mp_processing_time_ms"] = now_ms
    return EventRecord(event[: limits.max_string_chars], distinct_id, time_ms, insert_id, cleaned)


def _is_ignored(value: Any) -> bool:
    # Only `true` and non-empty strings drop the event; `false` and "" keep it (SPEC.md §2.1).
    return value is True or (isinstance(value, str) and value != "")


def _check_size(item: dict[str, Any], limits: Limits) -> None:
    try:
        size = len(orjson.dumps(item))
    except orjson.JSONEncodeError:
        return  # Not from JSON (a caller's own dict); nothing sensible to measure.
    if size > limits.max_record_bytes:
        raise RecordInvalid(
            "properties",
            f"event is {size} bytes as JSON, over the limit of {limits.max_record_bytes} bytes; "
            "send large values elsewhere and keep a reference in the event",
        )


def _event_time(
    value: Any, endpoint: Endpoint, is_identity_event: bool, now_ms: int, limits: Limits
) -> int | None:
    """The event time in ms, or None when a /track event is older than the lookback."""
    if value is None:
        # Official clients send identity events to /import without a time (Python's merge()).
        if endpoint is Endpoint.TRACK or is_identity_event:
            return now_ms
        raise RecordInvalid("properties.time", TIME_NOT_SECONDS)
    number = number_or_none(value)
    if number is None:
        raise RecordInvalid("properties.time", f"{TIME_NOT_SECONDS}, got {describe(value)}")
    time_ms = to_epoch_ms(number)

    if endpoint is Endpoint.TRACK:
        if time_ms < now_ms - limits.track_lookback_ms:
            return None
        # A future time becomes the arrival time (SPEC-DECISIONS.md, "Events, time, dedup").
        return min(time_ms, now_ms)

    latest_ms = now_ms + limits.import_max_future_ms
    if not limits.import_min_time_ms <= time_ms <= latest_ms:
        raise RecordInvalid(
            "properties.time",
            f"'properties.time' is invalid: {number!r} is {format_ms(time_ms)}, outside the range "
            f"/import accepts, {format_ms(limits.import_min_time_ms)} to {format_ms(latest_ms)}; "
            "send seconds (or milliseconds) since epoch within that range",
        )
    # Kept as sent, even up to an hour ahead: the time is part of the dedup key, so a retried
    # import must keep it.
    return time_ms


def _insert_id(value: Any, is_required: bool, limits: Limits) -> str:
    if value is None or value == "":
        if is_required:
            raise RecordInvalid(
                "$insert_id",
                "'$insert_id' is invalid: must be specified on /import; send a unique id of up "
                f"to {limits.max_insert_id_bytes} letters, digits or '-' with every event, so "
                "that retries are deduplicated",
            )
        return ""
    if not isinstance(value, str):
        raise RecordInvalid(
            "$insert_id",
            f"'$insert_id' is invalid: must be a string of letters, digits or '-', "
            f"got {describe(value)}",
        )
    if not _INSERT_ID_CHARS.fullmatch(value):
        raise RecordInvalid("$insert_id", INSERT_ID_BAD_CHARS)
    if len(value) > limits.max_insert_id_bytes:
        raise RecordInvalid(
            "$insert_id",
            f"'$insert_id' is invalid: must be at most {limits.max_insert_id_bytes} bytes, "
            f"got {len(value)} ({describe(value)}); a UUID without braces fits",
        )
    if is_placeholder(value):
        raise RecordInvalid(
            "$insert_id",
            f"'$insert_id' is invalid: {value!r} is a placeholder, not an id; "
            "send a unique id per event",
        )
    return value


def _distinct_id(
    event: str, properties: dict[str, Any], mode: IdentityMode
) -> tuple[str, dict[str, str]]:
    """The event's raw distinct_id and the properties its derivation adds (Simplified only)."""
    value = properties.get("distinct_id")
    if value is not None and stringify_id(value) is None:
        raise RecordInvalid(
            "properties.distinct_id",
            f"'properties.distinct_id' is invalid: must be a string or number, "
            f"got {describe(value)}",
        )

    field = "properties.distinct_id"
    derived: dict[str, str] = {}
    if mode is IdentityMode.SIMPLIFIED:
        if stringify_id(properties.get("$user_id")):
            field = "properties.$user_id"
        elif stringify_id(properties.get("$device_id")):
            field = "properties.$device_id"
        try:
            distinct_id, derived = derive_simplified_ids(properties)
        except IdentityEventError as exc:
            raise RecordInvalid(field, str(exc)) from exc
    else:
        if value is None and event == "$identify":
            # The HTTP API's $identify may leave distinct_id out: it is the identified id (SPEC §1.5).
            value = properties.get("$identified_id")
        distinct_id = stringify_id(value) or ""

    if is_placeholder(distinct_id.removeprefix(DEVICE_PREFIX)):
        raise RecordInvalid(
            field,
            f"'{field}' is invalid: {distinct_id!r} is a placeholder, not an id; send the "
            'real id, or leave distinct_id out (or "") for an event that belongs to no user',
        )
    return distinct_id, derived


def _clean_properties(
    properties: dict[str, Any], limits: Limits, *, may_reuse: bool
) -> dict[str, Any]:
    """The properties to store: without the lifted ones, strings cut, nesting checked.

    With `may_reuse`, `properties` itself when nothing else changes, less the lifted ones.
    """
    if len(properties) >= limits.max_properties:
        raise RecordInvalid(
            "properties",
            f"event has {len(properties)} properties; the limit is fewer than "
            f"{limits.max_properties}: drop some, or combine related ones into an object",
        )
    max_chars = limits.max_string_chars
    if may_reuse and _is_kept_whole(properties, max_chars):
        for name in _LIFTED:
            properties.pop(name, None)
        return properties

    cleaned: dict[str, Any] = {}
    for name, value in properties.items():
        if name in _LIFTED:
            continue
        if not name.isascii():
            _check_utf8(name, "properties")
        # Most values are short ASCII strings and plain scalars: keep them without a call.
        if (
            type(value) is str
            and value.isascii()
            and len(value) <= max_chars
            or value is None
            or type(value) in _PLAIN_SCALARS
        ):
            cleaned[name[:max_chars]] = value
        else:
            value_chars = _UNLIMITED if name in ID_PROPERTIES else max_chars
            path = f"properties.{name}"
            cleaned[name[:max_chars]] = _clean_value(value, path, 0, limits, value_chars)
    return cleaned


_PLAIN_SCALARS = (int, float, bool)


def _is_kept_whole(properties: dict[str, Any], max_chars: int) -> bool:
    """Whether cleaning keeps every property as it is: short ASCII names, and values that are
    short ASCII strings or plain scalars (the fast path of `_clean_properties`'s loop)."""
    for name, value in properties.items():
        if not (
            len(name) <= max_chars
            and name.isascii()
            and (
                type(value) is str
                and value.isascii()
                and len(value) <= max_chars
                or value is None
                or type(value) in _PLAIN_SCALARS
            )
        ):
            return False
    return True


def _check_utf8(text: str, path: str) -> None:
    """Refuse a string that held invalid UTF-8 (decode.py turns such bytes into surrogates)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise RecordInvalid(path, f"{path} is invalid: string should be valid utf8") from None


def _clean_value(value: Any, path: str, depth: int, limits: Limits, max_chars: int) -> Any:
    """`value` with its strings cut to `max_chars`; refuses nesting and collections over the limits."""
    if isinstance(value, str):
        if not value.isascii():
            _check_utf8(value, path)
        return value[:max_chars]
    if not isinstance(value, dict | list):
        return value

    depth += 1
    if depth > limits.max_nesting_depth:
        raise RecordInvalid(
            path,
            f"'{path}' is invalid: objects and arrays nest {depth} levels deep here; "
            f"the limit is {limits.max_nesting_depth}: flatten the property",
        )
    if len(value) >= limits.max_collection_items:
        kind = "object" if isinstance(value, dict) else "array"
        raise RecordInvalid(
            path,
            f"'{path}' is invalid: the {kind} holds {len(value)} items; the limit is fewer than "
            f"{limits.max_collection_items}: split it or keep a summary",
        )
    if isinstance(value, list):
        return [
            _clean_value(v, f"{path}[{i}]", depth, limits, max_chars) for i, v in enumerate(value)
        ]
    return {
        k[: limits.max_string_chars]: _clean_value(v, f"{path}.{k}", depth, limits, max_chars)
        for k, v in value.items()
    }
