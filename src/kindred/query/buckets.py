"""Time buckets of reports: minutes to months, in UTC, labelled the way Mixpanel labels them."""

from __future__ import annotations

import datetime as dt
from enum import Enum

from kindred.errors import ClientError


class Unit(Enum):
    MINUTE = "minute"
    HOUR = "hour"
    DAY = "day"
    WEEK = "week"
    MONTH = "month"

    @classmethod
    def parse(cls, value: str, name: str, allowed: tuple[Unit, ...]) -> Unit:
        for unit in allowed:
            if unit.value == value:
                return unit
        choices = ", ".join(unit.value for unit in allowed)
        raise ClientError(f"{name} must be one of {choices}; got {value!r}")


def bucket_sql(unit: Unit, time_ms: str) -> str:
    """A BIGINT SQL expression: the start, in epoch ms, of the bucket that `time_ms` falls in.

    Weeks start on Monday, as ISO weeks do (1970-01-01, day 0, was a Thursday).
    """
    if unit is Unit.MINUTE:
        return f"({time_ms} // 60000 * 60000)"
    if unit is Unit.HOUR:
        return f"({time_ms} // 3600000 * 3600000)"
    if unit is Unit.DAY:
        return f"({time_ms} // 86400000 * 86400000)"
    if unit is Unit.WEEK:
        return f"((({time_ms} // 86400000 + 3) // 7 * 7 - 3) * 86400000)"
    return f"epoch_ms(date_trunc('month', make_timestamp({time_ms} * 1000)))"


def bucket_start(unit: Unit, when: dt.datetime) -> dt.datetime:
    """The start of the bucket holding `when` (an aware UTC datetime); mirrors `bucket_sql`."""
    if unit is Unit.MINUTE:
        return when.replace(second=0, microsecond=0)
    if unit is Unit.HOUR:
        return when.replace(minute=0, second=0, microsecond=0)
    day = when.replace(hour=0, minute=0, second=0, microsecond=0)
    if unit is Unit.DAY:
        return day
    if unit is Unit.WEEK:
        return day - dt.timedelta(days=day.weekday())
    return day.replace(day=1)


def next_bucket(unit: Unit, start: dt.datetime) -> dt.datetime:
    if unit is Unit.MINUTE:
        return start + dt.timedelta(minutes=1)
    if unit is Unit.HOUR:
        return start + dt.timedelta(hours=1)
    if unit is Unit.DAY:
        return start + dt.timedelta(days=1)
    if unit is Unit.WEEK:
        return start + dt.timedelta(days=7)
    return (start + dt.timedelta(days=32)).replace(day=1)


def buckets(unit: Unit, from_ms: int, to_ms: int) -> list[int]:
    """The starts (epoch ms) of every bucket that overlaps [from_ms, to_ms)."""
    start = bucket_start(unit, dt.datetime.fromtimestamp(from_ms / 1000, dt.UTC))
    end = dt.datetime.fromtimestamp(to_ms / 1000, dt.UTC)
    starts = []
    while start < end:
        starts.append(int(start.timestamp() * 1000))
        start = next_bucket(unit, start)
    return starts


def label(unit: Unit, start_ms: int) -> str:
    """Mixpanel's key for a bucket: `2024-01-31` by day and longer, `2024-01-31 13:00:00` below."""
    start = dt.datetime.fromtimestamp(start_ms / 1000, dt.UTC)
    if unit in (Unit.MINUTE, Unit.HOUR):
        return start.strftime("%Y-%m-%d %H:%M:%S")
    return start.strftime("%Y-%m-%d")
