"""The records ingestion produces, and the errors it reports for the ones it refuses."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import orjson


class Endpoint(StrEnum):
    """Where a record arrived; the rules differ (SPEC.md §1-2)."""

    TRACK = "track"
    IMPORT = "import"
    ENGAGE = "engage"
    GROUPS = "groups"


@dataclass(frozen=True, slots=True)
class Limits:
    """The limits of SPEC.md §2 and §6; every one is configurable per server."""

    max_records_per_request: int = 2000
    max_request_bytes: int = 10 * 1024 * 1024
    max_record_bytes: int = 1024 * 1024
    max_properties: int = 255
    max_nesting_depth: int = 3
    max_string_chars: int = 255
    max_collection_items: int = 255
    max_insert_id_bytes: int = 36
    track_lookback_ms: int = 5 * 24 * 3600 * 1000
    import_max_future_ms: int = 3600 * 1000
    # 1971-01-01T00:00:00Z: /import refuses anything older.
    import_min_time_ms: int = 31_536_000_000
    max_profile_properties: int = 2000


@dataclass(frozen=True, slots=True)
class RecordError:
    """Why one record of a request was refused, in the shape of `/import?strict=1`'s failed_records.

    `message` is Mixpanel's wording where Mixpanel has one; otherwise it names the field, the value
    and the fix.
    """

    index: int
    insert_id: str | None
    field: str
    message: str


# Not frozen, though nothing changes one (`dataclasses.replace` makes another): a frozen
# dataclass sets each field through object.__setattr__, which made building one, once per event
# on the ingest path, four times slower (0.89 against 0.22 µs).
@dataclass(slots=True)
class EventRecord:
    """A validated event, ready to store.

    `distinct_id` is the raw id as stored (after Simplified derivation; "" means no user).
    `insert_id` is "" when the event carried none: such an event is never deduplicated.
    `properties` holds everything else the event carried, normalised (strings truncated, `token`,
    `distinct_id`, `time` and `$insert_id` moved to the fields above, `ip` removed), plus the
    properties the server adds.
    """

    event: str
    distinct_id: str
    time_ms: int
    insert_id: str
    properties: dict[str, Any] = field(default_factory=dict)
    # `properties_json()` once computed. A record made by `dataclasses.replace` starts without it.
    _properties_json: str | None = field(default=None, init=False, repr=False, compare=False)

    def properties_json(self) -> str:
        """`properties` as JSON text, encoded on the first call; TypeError if they are not JSON.

        The pipeline calls it on the thread that submits the record, so that its writer, the
        one thread every event passes through, finds the text ready.
        """
        text = self._properties_json
        if text is None:
            text = self._properties_json = orjson.dumps(self.properties).decode()
        return text


PROFILE_OPERATIONS = (
    "$set",
    "$set_once",
    "$add",
    "$union",
    "$append",
    "$remove",
    "$unset",
    "$delete",
)
GROUP_OPERATIONS = ("$set", "$set_once", "$union", "$remove", "$unset", "$delete")


@dataclass(frozen=True, slots=True)
class ProfileUpdate:
    """One validated `/engage` record: one operation on one user profile."""

    distinct_id: str
    operation: str
    value: Any
    time_ms: int
    ignore_alias: bool = False
    ignore_time: bool = False


@dataclass(frozen=True, slots=True)
class GroupUpdate:
    """One validated `/groups` record: one operation on the profile of (group_key, group_id)."""

    group_key: str
    group_id: str
    operation: str
    value: Any
    time_ms: int
