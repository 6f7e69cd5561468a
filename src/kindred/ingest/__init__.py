"""Pure ingestion: wire payloads in, validated and normalised records (or per-record errors) out.

Nothing here does I/O or reads the clock: the caller passes `now_ms`. The steps, in order:

    decompress ─► decode_data / decode_json_body / decode_ndjson ─► validate_event,
    validate_profile_update or validate_group_update per record ─► apply_*_update on storage's side
"""

from __future__ import annotations

from kindred.ingest.decode import (
    MISSING_DATA,
    PayloadError,
    PayloadTooLargeError,
    decode_data,
    decode_json_body,
    decode_ndjson,
    decompress,
)
from kindred.ingest.events import event_token, validate_event
from kindred.ingest.model import (
    GROUP_OPERATIONS,
    PROFILE_OPERATIONS,
    Endpoint,
    EventRecord,
    GroupUpdate,
    Limits,
    ProfileUpdate,
    RecordError,
)
from kindred.ingest.profiles import (
    ProfileLimitError,
    ProfileUpdateError,
    apply_group_update,
    apply_profile_update,
    profile_token,
    validate_group_update,
    validate_profile_update,
)

__all__ = [
    "GROUP_OPERATIONS",
    "MISSING_DATA",
    "PROFILE_OPERATIONS",
    "Endpoint",
    "EventRecord",
    "GroupUpdate",
    "Limits",
    "PayloadError",
    "PayloadTooLargeError",
    "ProfileLimitError",
    "ProfileUpdate",
    "ProfileUpdateError",
    "RecordError",
    "apply_group_update",
    "apply_profile_update",
    "decode_data",
    "decode_json_body",
    "decode_ndjson",
    "decompress",
    "event_token",
    "profile_token",
    "validate_event",
    "validate_group_update",
    "validate_profile_update",
]
