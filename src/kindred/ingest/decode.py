"""From request bytes to a list of raw records: the carriers of SPEC.md §1.1-1.4 and CLIENTS.md §6.

A record list arrives as a `data` form or query field (raw JSON, or base64 of it), as a JSON body
(one object or an array), or as NDJSON, possibly gzipped. Every decoder returns the records as a
list of whatever JSON values they were; judging each record is the job of `events` and `profiles`.

    PayloadError          the payload as a whole is unreadable; str() is the answer to send
     └── PayloadTooLargeError   it inflates past the configured limit (HTTP 413)
"""

from __future__ import annotations

import base64
import binascii
import codecs
import json
import zlib
from typing import Any
from urllib.parse import unquote_to_bytes

import orjson

__all__ = [
    "MISSING_DATA",
    "PayloadError",
    "PayloadTooLargeError",
    "decode_data",
    "decode_json_body",
    "decode_ndjson",
    "decompress",
]

# Mixpanel's answer when `data` is absent, empty or unreadable (SPEC.md §1.1, edge cases 4 and 23).
MISSING_DATA = "data, missing or empty"

_GZIP_WBITS = 16 + zlib.MAX_WBITS
# URL-safe base64 and MIME line breaks are not what the SDKs send, but cost nothing to accept.
_BASE64_REPAIR = str.maketrans({" ": "+", "-": "+", "_": "/", "\n": None, "\r": None, "\t": None})


class PayloadError(ValueError):
    """Raised when a request's payload cannot be read at all, before any record is judged.

    `str(error)` is the error string to answer with: Mixpanel's own where it has one (such as
    `data, missing or empty`), otherwise a sentence naming the problem and the fix. `detail` says
    why, for logs, when the answer itself is a fixed protocol string.
    """

    def __init__(self, message: str, *, detail: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail or message


class PayloadTooLargeError(PayloadError):
    """Raised when a body inflates past `max_bytes`; the API answers 413 with this message."""

    def __init__(self, limit_bytes: int) -> None:
        # Mixpanel's 413 wording (SPEC.md §1.2), with the limit this server is configured for.
        super().__init__(f"request exceeds max limit of {limit_bytes} bytes")
        self.limit_bytes = limit_bytes


def parse_form(body: bytes) -> dict[str, str]:
    """The fields of a form-urlencoded body (or query string); the last of a repeated name wins.

    What `urllib.parse.parse_qsl` gives, faster: see `_unquote_percent`.
    """
    fields = {}
    for pair in body.split(b"&"):
        if not pair:
            continue
        name, _, value = pair.partition(b"=")
        fields[_unquote_plus(name)] = _unquote_plus(value)
    return fields


def _unquote_plus(raw: bytes) -> str:
    raw = raw.replace(b"+", b" ")
    if b"%" in raw:
        raw = _unquote_percent(raw)
    return raw.decode("utf-8", "replace")


def _unquote_percent(raw: bytes) -> bytes:
    """`unquote_to_bytes(raw)`, in C when every `%` starts a valid escape.

    The SDKs send `data` as URL-encoded JSON (a hundred escapes in a small event) or as base64
    with `+`, `/` and `=` escaped, which unquote_to_bytes undoes one by one in Python. Spelt as
    `\\xHH` (backslashes doubled first), they are Python's own byte escapes, which
    `codecs.escape_decode` undoes in one call; it refuses an invalid one, which unquote_to_bytes
    keeps as it is.
    """
    try:
        return codecs.escape_decode(raw.replace(b"\\", b"\\\\").replace(b"%", b"\\x"))[0]
    except ValueError:
        return unquote_to_bytes(raw)


def decode_data(value: str | None) -> list[Any]:
    """The records carried by a `data` field: raw JSON text, or base64 of it.

    Python sends raw JSON; Node and the browser send base64, and Node's raw `+` reaches us as a
    space after form decoding, so spaces are turned back into `+` (CLIENTS.md §6, rule 2). Missing
    padding is tolerated. A single object becomes a one-item list.
    """
    text = (value or "").strip()
    if not text:
        raise PayloadError(MISSING_DATA, detail="the data field is missing or empty")

    if text[0] in "{[":
        parsed = _loads_or_none(text)
        if parsed is None:
            raise PayloadError(MISSING_DATA, detail=f"data is not valid JSON: {_excerpt(text)}")
    else:
        parsed = _loads_or_none(_base64_or_none(text))
        if parsed is None:
            raise PayloadError(
                MISSING_DATA,
                detail=f"data is neither JSON nor base64 of JSON: {_excerpt(text)}",
            )
    return _as_records(parsed, what="data")


def decode_json_body(body: bytes) -> list[Any]:
    """The records of an `application/json` body: a JSON array of records, or one record object."""
    if not body.strip():
        raise PayloadError(MISSING_DATA, detail="the request body is empty")
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        parsed = _loads_with_bad_utf8(body)
        if parsed is None:
            raise PayloadError(
                f"request body is not valid JSON ({exc}); send a JSON array of records, "
                "or form data=<JSON or base64 of it>"
            ) from exc
    return _as_records(parsed, what="the request body")


def _loads_with_bad_utf8(body: bytes) -> Any:
    """Parse a body whose only fault is invalid UTF-8, or return None.

    The bad bytes become lone surrogates, which validation refuses record by record (Mixpanel's
    `string should be valid utf8`), so one bad record does not cost the others.
    """
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        try:
            return json.loads(body.decode("utf-8", "surrogateescape"))
        except ValueError:
            return None
    return None


def decode_ndjson(body: bytes) -> list[Any]:
    """The records of an `application/x-ndjson` body: one JSON value per line, blank lines skipped."""
    records: list[Any] = []
    for number, line in enumerate(body.split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            records.append(orjson.loads(line))
        except orjson.JSONDecodeError as exc:
            raise PayloadError(
                f"line {number} of the NDJSON body is not valid JSON ({exc}): "
                f"{_excerpt(line.decode('utf-8', 'replace'))}; send one JSON object per line"
            ) from exc
    return _as_records(records, what="the NDJSON body")


def decompress(body: bytes, content_encoding: str | None, *, max_bytes: int) -> bytes:
    """`body` without its Content-Encoding, refused once it inflates past `max_bytes`.

    gzip is inflated chunk by chunk, so a small bomb is stopped at `max_bytes + 1` bytes of output
    rather than inflated whole. No encoding (None, "" or "identity") passes the body through, under
    the same size limit.
    """
    encoding = (content_encoding or "").strip().lower()
    if encoding in ("", "identity"):
        if len(body) > max_bytes:
            raise PayloadTooLargeError(max_bytes)
        return body
    if encoding not in ("gzip", "x-gzip"):
        raise PayloadError(
            f"Content-Encoding {content_encoding!r} is not supported; send gzip or no encoding"
        )
    return _gunzip(body, max_bytes=max_bytes)


def _gunzip(body: bytes, *, max_bytes: int) -> bytes:
    out = bytearray()
    rest = body
    # A gzip stream may hold several members back to back (gzip(1) concatenates them).
    while rest:
        inflater = zlib.decompressobj(_GZIP_WBITS)
        pending = rest
        try:
            while not inflater.eof:
                chunk = inflater.decompress(pending, max_bytes - len(out) + 1)
                out += chunk
                if len(out) > max_bytes:
                    raise PayloadTooLargeError(max_bytes)
                pending = inflater.unconsumed_tail
                if not chunk and not pending:
                    break
        except zlib.error as exc:
            raise PayloadError(
                f"request body is not valid gzip ({exc}); compress the whole body with gzip, "
                "or drop the Content-Encoding header"
            ) from exc
        if not inflater.eof:
            raise PayloadError(
                "request body is truncated gzip: the stream ended early; send the complete body"
            )
        rest = inflater.unused_data.lstrip(b"\0")
    return bytes(out)


def _base64_or_none(text: str) -> bytes | None:
    digits = text.translate(_BASE64_REPAIR).rstrip("=")
    try:
        return base64.b64decode(digits + "=" * (-len(digits) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None


def _loads_or_none(text: str | bytes | None) -> Any:
    if text is None:
        return None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return None


def _as_records(parsed: Any, *, what: str) -> list[Any]:
    if isinstance(parsed, dict):
        records: list[Any] = [parsed]
    elif isinstance(parsed, list):
        records = parsed
    else:
        raise PayloadError(
            MISSING_DATA,
            detail=f"{what} must be a JSON object or array, got {type(parsed).__name__}",
        )
    # `[]`, `{}` and `[{}]` carry nothing: Mixpanel answers them as missing data (edge case 23).
    if records.count({}) == len(records):
        raise PayloadError(MISSING_DATA, detail=f"{what} holds no records")
    return records


def _excerpt(text: str, limit: int = 60) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "…")
