"""Value rules shared by events and profiles: placeholder ids, timestamps, and how errors travel."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

__all__ = [
    "PLACEHOLDER_IDS",
    "RecordInvalid",
    "describe",
    "format_ms",
    "is_placeholder",
    "number_or_none",
    "stringify_id",
    "to_epoch_ms",
]

# Values Mixpanel refuses as distinct_id or $insert_id (SPEC.md §2.1), compared case-insensitively.
PLACEHOLDER_IDS = frozenset(
    (
        "00000000-0000-0000-0000-000000000000",
        "anon",
        "anonymous",
        "nil",
        "none",
        "null",
        "n/a",
        "na",
        "undefined",
        "unknown",
        "<nil>",
        "0",
        "-1",
        "true",
        "false",
        "[]",
        "{}",
    )
)

# Timestamps at or above this are milliseconds, below it seconds (SPEC.md §2.1): 1e11 seconds is
# the year 5138, 1e11 milliseconds is March 1973.
_MS_THRESHOLD = 1e11


class RecordInvalid(Exception):
    """Raised inside validation when a record is refused; becomes a `RecordError` at the boundary."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def is_placeholder(value: str) -> bool:
    """True when `value` is one of Mixpanel's placeholder ids, in any case."""
    return value.lower() in PLACEHOLDER_IDS


def number_or_none(value: Any) -> int | float | None:
    """`value` when it is a JSON number (booleans are not), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value


def to_epoch_ms(value: int | float) -> int:
    """Epoch seconds or milliseconds (floats allowed) as integer milliseconds."""
    if value >= _MS_THRESHOLD:
        return int(value) if isinstance(value, int) else round(value)
    return value * 1000 if isinstance(value, int) else round(value * 1000)


def stringify_id(value: Any) -> str | None:
    """An id as text: strings as they are, numbers as Python prints them; None for other types.

    This matches `kindred.identity.events`, so both layers read a numeric id the same way.
    """
    if isinstance(value, str):
        return value
    if number_or_none(value) is None:
        return None
    return str(value)


def format_ms(ms: int) -> str:
    """`ms` as an ISO-8601 UTC time for messages, or the bare number when it is out of range."""
    try:
        return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, OSError, ValueError):
        return f"{ms} ms"


def describe(value: Any, limit: int = 60) -> str:
    """A short repr of a client value for an error message, with its JSON type when not obvious."""
    text = repr(value)
    if len(text) > limit:
        text = text[:limit] + "…"
    if isinstance(value, str):
        return text
    return f"{text} ({_json_type(value)})"


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__
