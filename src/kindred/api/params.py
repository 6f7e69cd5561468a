"""Parameters of the read APIs, typed and checked: every refusal names the parameter and the fix."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.requests import Request
from starlette.responses import Response

from kindred.api.wire import json_response
from kindred.errors import ClientError
from kindred.query.buckets import Unit
from kindred.query.expr import Expr, ExpressionError, parse
from kindred.query.source import date_range_ms, parse_date


async def read_params(request: Request) -> QueryParams:
    """Query parameters, and those of a form body (Mixpanel's docs POST some queries)."""
    params = dict(request.query_params)
    if request.method == "POST":
        body = (await request.body()).decode("utf-8", "replace")
        params.update(parse_qsl(body, keep_blank_values=True))
    return QueryParams(params)


def error_response(exc: ClientError) -> Response:
    """Mixpanel's error body for the query APIs."""
    return json_response({"error": str(exc), "status": "error"}, exc.status)


class QueryParams:
    def __init__(self, values: Mapping[str, str]) -> None:
        self.values = values

    def get(self, name: str, default: str | None = None) -> str | None:
        value = self.values.get(name)
        return default if value is None or value == "" else value

    def required(self, name: str, what: str) -> str:
        value = self.get(name)
        if value is None:
            raise ClientError(f"{name} is required: {what}")
        return value

    def date_ms(self, name: str) -> int:
        """The start, in epoch ms (UTC), of the day a required yyyy-mm-dd parameter names."""
        day = parse_date(self.required(name, "a date written yyyy-mm-dd"), name)
        return int(dt.datetime.combine(day, dt.time(), dt.UTC).timestamp() * 1000)

    def date_range_ms(self) -> tuple[int, int]:
        """`from_date` to `to_date`, both inclusive, as [from_ms, to_ms) in UTC."""
        from_date = parse_date(self.required("from_date", "a date written yyyy-mm-dd"), "from_date")
        to_date = parse_date(self.required("to_date", "a date written yyyy-mm-dd"), "to_date")
        return date_range_ms(from_date, to_date)

    def last_days_ms(self, today: dt.date, *, default_days: int) -> tuple[int, int]:
        """`from_date`/`to_date` when given, else `interval` days up to and including today."""
        if self.get("from_date") or self.get("to_date"):
            return self.date_range_ms()
        days = self.integer("interval", default=default_days, minimum=1, maximum=3660)
        return date_range_ms(today - dt.timedelta(days=days - 1), today)

    def integer(self, name: str, *, default: int, minimum: int = 0, maximum: int) -> int:
        value = self.get(name)
        if value is None:
            return default
        try:
            number = int(value)
        except ValueError:
            raise ClientError(f"{name} must be a whole number, got {value!r}") from None
        if not minimum <= number <= maximum:
            raise ClientError(f"{name} must be between {minimum} and {maximum}, got {number}")
        return number

    def optional_integer(self, name: str, *, maximum: int) -> int | None:
        """A whole number from 0 to `maximum`, or None when the parameter is absent."""
        if self.get(name) is None:
            return None
        return self.integer(name, default=0, maximum=maximum)

    def flag(self, name: str) -> bool:
        return (self.get(name) or "").lower() in ("1", "true", "yes")

    def choice(self, name: str, choices: tuple[str, ...], *, default: str) -> str:
        value = self.get(name, default)
        if value not in choices:
            raise ClientError(f"{name} must be one of {', '.join(choices)}; got {value!r}")
        return value

    def unit(self, name: str, allowed: tuple[Unit, ...], *, default: Unit) -> Unit:
        value = self.get(name)
        return default if value is None else Unit.parse(value, name, allowed)

    def expression(self, name: str) -> Expr | None:
        value = self.get(name)
        if value is None:
            return None
        try:
            return parse(value)
        except ExpressionError as exc:
            raise ClientError(f"{name}: {exc}") from None

    def json(self, name: str, what: str) -> Any:
        value = self.get(name)
        if value is None:
            return None
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            raise ClientError(f"{name} must be {what}, got {value!r}") from None

    def json_strings(self, name: str) -> list[str]:
        what = 'a JSON array of strings, like ["a", "b"]'
        parsed = self.json(name, what)
        if parsed is None:
            return []
        if isinstance(parsed, str):
            return [parsed]
        if not isinstance(parsed, list) or not all(isinstance(v, str) for v in parsed):
            raise ClientError(f"{name} must be {what}")
        return parsed
