"""Time buckets: the SQL and the Python side must agree on every boundary, in UTC."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest
from hypothesis import given, settings, strategies as st

from kindred.query.buckets import Unit, bucket_sql, bucket_start, buckets, label


def select(expression: str) -> int:
    ((value,),) = duckdb.connect().execute(f"SELECT {expression}").fetchall()
    return int(value)


def ms(text: str) -> int:
    return int(dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC).timestamp() * 1000)


@pytest.mark.parametrize(
    ("unit", "when", "start", "text"),
    [
        (Unit.MINUTE, "2026-11-04T13:45:59.999", "2026-11-04T13:45", "2026-11-04 13:45:00"),
        (Unit.HOUR, "2026-11-04T13:45", "2026-11-04T13:00", "2026-11-04 13:00:00"),
        (Unit.DAY, "2026-11-04T23:59:59", "2026-11-04", "2026-11-04"),
        (Unit.WEEK, "2026-11-08T23:00", "2026-11-02", "2026-11-02"),  # Sunday → Monday
        (Unit.WEEK, "2026-11-09T00:00", "2026-11-09", "2026-11-09"),
        (Unit.MONTH, "2026-12-31T23:00", "2026-12-01", "2026-12-01"),
        (Unit.WEEK, "1969-12-31T12:00", "1969-12-29", "1969-12-29"),  # before the epoch
    ],
)
def test_a_time_falls_in_the_bucket_mixpanel_labels(
    unit: Unit, when: str, start: str, text: str
) -> None:
    found = select(bucket_sql(unit, str(ms(when))))

    assert found == ms(start)
    assert label(unit, found) == text


@settings(max_examples=200, deadline=None)
@given(
    unit=st.sampled_from(list(Unit)),
    when=st.integers(ms("1971-01-01T00:00"), ms("2100-01-01T00:00")),
)
def test_sql_and_python_buckets_agree(unit: Unit, when: int) -> None:
    in_sql = select(bucket_sql(unit, str(when)))
    in_python = bucket_start(unit, dt.datetime.fromtimestamp(when / 1000, dt.UTC))

    assert in_sql == int(in_python.timestamp() * 1000)


def test_buckets_cover_a_range_including_its_partial_first_bucket() -> None:
    starts = buckets(Unit.MONTH, ms("2026-01-15T00:00"), ms("2026-03-01T00:00"))

    assert [label(Unit.MONTH, s) for s in starts] == ["2026-01-01", "2026-02-01"]
