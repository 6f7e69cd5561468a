"""From an event as it arrived to the identity input it carries, if any.

Which events are identity inputs depends on the mode (SPEC.md §1.5 and §3):
- Original: `$identify`, `$create_alias`, and `$merge` when it came through authenticated /import;
- Simplified: any other event carrying both `$user_id` and `$device_id`;
- Legacy: `$create_alias` only.
"""

from __future__ import annotations

from collections.abc import Mapping

from kindred.identity.model import DEVICE_PREFIX, IdentityInput, IdentityMode, InputKind

IDENTITY_EVENT_NAMES = frozenset(("$identify", "$create_alias", "$merge"))


class IdentityEventError(ValueError):
    """Raised when an identity event lacks an id it needs; the message names the property."""


def may_carry_identity(mode: IdentityMode, event: str, properties: Mapping[str, object]) -> bool:
    """Whether an event can be an identity input in `mode`: a cheap test that most events fail."""
    if mode is IdentityMode.SIMPLIFIED:
        return "$user_id" in properties and "$device_id" in properties
    return event in IDENTITY_EVENT_NAMES


def identity_input_from_event(
    mode: IdentityMode | str,
    event: str,
    properties: Mapping[str, object],
    *,
    time_ms: int,
    seq: int,
    insert_id: str = "",
    via_import: bool,
) -> IdentityInput | None:
    """The identity input an event carries in `mode`, or None for an ordinary event.

    `via_import` says the event came through authenticated /import: only there does `$merge` merge.
    """
    mode = IdentityMode(mode)

    def make(kind: InputKind, first: str, second: str) -> IdentityInput:
        return IdentityInput(kind, (first, second), time_ms, seq, insert_id)

    if mode is IdentityMode.SIMPLIFIED:
        # Mixpanel ignores its identity events in Simplified mode, even carrying both ids.
        if event in IDENTITY_EVENT_NAMES:
            return None
        user_id = _optional_id(properties, "$user_id")
        device_id = _optional_id(properties, "$device_id")
        if user_id is None or device_id is None:
            return None
        _check_user_id(user_id)
        return make(InputKind.LINK, user_id, DEVICE_PREFIX + device_id)

    if event == "$create_alias":
        distinct_id = _required_id(event, properties, "distinct_id")
        alias = _required_id(event, properties, "alias")
        return make(InputKind.CREATE_ALIAS, distinct_id, alias)
    if mode is IdentityMode.LEGACY:
        return None

    if event == "$identify":
        # The HTTP API spells them $identified_id/$anon_id; the browser SDK sends
        # distinct_id/$anon_distinct_id instead (SPEC.md §1.5).
        identified = _required_id(event, properties, "$identified_id", "distinct_id")
        anon = _required_id(event, properties, "$anon_id", "$anon_distinct_id")
        return make(InputKind.IDENTIFY, identified, anon)
    if event == "$merge" and via_import:
        first, second = _merge_ids(properties.get("$distinct_ids"))
        return make(InputKind.MERGE, first, second)
    return None


def derive_simplified_ids(properties: Mapping[str, object]) -> tuple[str, dict[str, str]]:
    """The distinct_id of an event in Simplified mode, and the properties the server adds.

    `$user_id` wins, then `$device_id` (as "$device:<id>"); an event with neither keeps its
    distinct_id and gains the property it implies (SPEC.md §3.3, rule 1). An event with no id at
    all gets the empty distinct_id, which reports leave out of per-user counts.
    """
    user_id = _optional_id(properties, "$user_id")
    device_id = _optional_id(properties, "$device_id")
    if user_id is not None:
        _check_user_id(user_id)
        return user_id, {}
    if device_id is not None:
        return DEVICE_PREFIX + device_id, {}

    distinct_id = _optional_id(properties, "distinct_id")
    if distinct_id is None:
        return "", {}
    if distinct_id.startswith(DEVICE_PREFIX):
        return distinct_id, {"$device_id": distinct_id.removeprefix(DEVICE_PREFIX)}
    return distinct_id, {"$user_id": distinct_id}


def _check_user_id(user_id: str) -> None:
    if user_id.startswith(DEVICE_PREFIX):
        raise IdentityEventError(
            f"$user_id {user_id!r} starts with {DEVICE_PREFIX!r}, which marks device ids; "
            "send the device's id as $device_id and a user id without the prefix"
        )


def _optional_id(properties: Mapping[str, object], name: str) -> str | None:
    value = properties.get(name)
    # Mixpanel takes numeric ids and reads them as strings; booleans are no ids at all.
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    text = str(value)
    return text or None


def _required_id(event: str, properties: Mapping[str, object], *names: str) -> str:
    for name in names:
        value = _optional_id(properties, name)
        if value is not None:
            return value
    spelled = " or ".join(names)
    raise IdentityEventError(f"{event} needs a non-empty {spelled} property; none was sent")


def _merge_ids(value: object) -> tuple[str, str]:
    if isinstance(value, list) and len(value) == 2:
        first, second = (_optional_id({"id": item}, "id") for item in value)
        if first is not None and second is not None:
            return first, second
    raise IdentityEventError(
        f"$merge needs $distinct_ids as a list of exactly two non-empty ids, got {value!r:.80}"
    )
