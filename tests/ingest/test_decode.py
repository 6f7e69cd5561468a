"""Payload carriers: the `data` field as each official client sends it, JSON and NDJSON bodies, gzip.

The client shapes come from CLIENTS.md §7. Form and query strings go through `parse_qs`, as a web
framework's form parser would, so the `+`-to-space damage of Node's raw base64 is real here.
"""

from __future__ import annotations

import base64
import gzip
import tracemalloc
import zlib
from typing import Any
from urllib.parse import parse_qs, parse_qsl, quote, urlencode

import orjson
import pytest
from hypothesis import given, strategies as st

from kindred.ingest.decode import (
    MISSING_DATA,
    PayloadError,
    PayloadTooLargeError,
    decode_data,
    decode_json_body,
    decode_ndjson,
    decompress,
    parse_form,
)

# The browser test's string property: its base64 holds `+` and `/` (CLIENTS.md §7.4).
AWKWARD = ">>>??~~~ ü"
EVENT: dict[str, Any] = {
    "event": "Signed Up",
    "properties": {"token": "TOKEN123", "distinct_id": "user-1", "note": "a b+c", "s": AWKWARD},
}
BATCH: list[Any] = [
    {"event": f"Batched {i}", "properties": {"token": "TOKEN123", "i": i, "s": AWKWARD}}
    for i in range(3)
]


def form_field(raw_body: str) -> str | None:
    """The `data` field as a standard form or query-string parser hands it to the API."""
    values = parse_qs(raw_body, keep_blank_values=True).get("data")
    return values[0] if values else None


def b64(value: Any) -> str:
    return base64.b64encode(orjson.dumps(value)).decode()


def test_awkward_payload_really_has_plus_signs_in_its_base64() -> None:
    assert "+" in b64(BATCH)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param(
            form_field(urlencode({"data": orjson.dumps(EVENT).decode(), "verbose": 1, "ip": 0})),
            [EVENT],
            id="python-raw-json-object-in-form",
        ),
        pytest.param(
            form_field(urlencode({"data": orjson.dumps(BATCH).decode()})),
            BATCH,
            id="python-buffered-raw-json-array",
        ),
        pytest.param(
            form_field(f"ip=0&verbose=0&data={b64(EVENT)}"),
            [EVENT],
            id="node-get-base64-in-query-with-plus-turned-to-space",
        ),
        pytest.param(
            form_field(f"data={b64(BATCH)}"),
            BATCH,
            id="node-post-raw-base64-with-plus-turned-to-space",
        ),
        pytest.param(
            form_field("data=" + quote(b64(BATCH), safe="")),
            BATCH,
            id="browser-percent-encoded-base64-array",
        ),
        pytest.param(
            form_field("data=" + quote(orjson.dumps(EVENT).decode(), safe="")),
            [EVENT],
            id="browser-json-payload-format",
        ),
        pytest.param(b64(EVENT).rstrip("="), [EVENT], id="base64-without-padding"),
        pytest.param(
            base64.urlsafe_b64encode(orjson.dumps(BATCH)).decode(), BATCH, id="url-safe-base64"
        ),
        pytest.param(
            base64.encodebytes(orjson.dumps(BATCH)).decode(), BATCH, id="base64-with-line-breaks"
        ),
        pytest.param("  " + orjson.dumps(EVENT).decode() + "\n", [EVENT], id="json-with-spaces"),
        pytest.param(
            orjson.dumps([{}, EVENT]).decode(), [{}, EVENT], id="empty-object-beside-a-real-one"
        ),
    ],
)
def test_decode_data_reads_every_client_carrier(data: str | None, expected: list[Any]) -> None:
    assert decode_data(data) == expected


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(None, id="missing"),
        pytest.param("", id="edge-4-empty"),
        pytest.param("   ", id="blank"),
        pytest.param("[]", id="empty-array"),
        pytest.param("{}", id="empty-object"),
        pytest.param("[{}]", id="edge-23-array-of-empty-object"),
        pytest.param("[{}, {}]", id="only-empty-objects"),
        pytest.param(b64([]), id="base64-of-empty-array"),
        pytest.param('{"event": "A"', id="truncated-json"),
        pytest.param("not base64!", id="neither-json-nor-base64"),
        pytest.param(base64.b64encode(b"hello").decode(), id="base64-of-non-json"),
        pytest.param(b64("just a string"), id="base64-of-json-string"),
        pytest.param(b64(5), id="base64-of-json-number"),
        pytest.param("abcde", id="impossible-base64-length"),
    ],
)
def test_decode_data_answers_missing_data_when_nothing_is_readable(data: str | None) -> None:
    with pytest.raises(PayloadError) as caught:
        decode_data(data)

    assert str(caught.value) == "data, missing or empty"
    assert caught.value.detail  # the log line says why


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(orjson.dumps(BATCH), BATCH, id="edge-79-json-array"),
        pytest.param(orjson.dumps(EVENT), [EVENT], id="single-object"),
        pytest.param(b"\n  " + orjson.dumps(BATCH) + b"\n", BATCH, id="surrounding-whitespace"),
        pytest.param(
            orjson.dumps([{"event": "Old", "properties": {"time": 1600000000}}]),
            [{"event": "Old", "properties": {"time": 1600000000}}],
            id="mixpanel-utils-import",
        ),
    ],
)
def test_decode_json_body_reads_an_array_or_one_object(body: bytes, expected: list[Any]) -> None:
    assert decode_json_body(body) == expected


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"  \n", id="blank"),
        pytest.param(b"[]", id="empty-array"),
        pytest.param(b"[{}]", id="edge-23-array-of-empty-object"),
        pytest.param(b'"text"', id="json-string"),
        pytest.param(b"null", id="json-null"),
    ],
)
def test_decode_json_body_answers_missing_data_for_empty_payloads(body: bytes) -> None:
    with pytest.raises(PayloadError, match=r"^data, missing or empty$"):
        decode_json_body(body)


def test_decode_json_body_names_the_json_error_and_the_fix() -> None:
    with pytest.raises(PayloadError) as caught:
        decode_json_body(b'[{"event": "A",]')

    message = str(caught.value)
    assert message.startswith("request body is not valid JSON (")
    assert "send a JSON array of records" in message


def test_decode_json_body_keeps_invalid_utf8_as_surrogates_for_validation_to_refuse() -> None:
    [record] = decode_json_body(b'[{"event": "ok", "properties": {"s": "caf\xe9"}}]')

    with pytest.raises(UnicodeEncodeError):
        record["properties"]["s"].encode("utf-8")


def test_decode_json_body_refuses_invalid_utf8_that_is_not_json_either() -> None:
    with pytest.raises(PayloadError, match="not valid JSON"):
        decode_json_body(b'[{"event": "\xff"')


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(b"\n".join(orjson.dumps(e) for e in BATCH), BATCH, id="one-per-line"),
        pytest.param(
            b"\n".join(orjson.dumps(e) for e in BATCH) + b"\n", BATCH, id="trailing-newline"
        ),
        pytest.param(b"\r\n".join(orjson.dumps(e) for e in BATCH), BATCH, id="crlf-line-endings"),
        pytest.param(
            b"\n\n" + orjson.dumps(EVENT) + b"\n   \n" + orjson.dumps(EVENT) + b"\n\n",
            [EVENT, EVENT],
            id="blank-lines-skipped",
        ),
    ],
)
def test_decode_ndjson_reads_one_record_per_line(body: bytes, expected: list[Any]) -> None:
    assert decode_ndjson(body) == expected


def test_decode_ndjson_names_the_bad_line() -> None:
    body = orjson.dumps(EVENT) + b"\n\n" + b'{"event": oops}\n' + orjson.dumps(EVENT)

    with pytest.raises(PayloadError) as caught:
        decode_ndjson(body)

    message = str(caught.value)
    assert message.startswith("line 3 of the NDJSON body is not valid JSON")
    assert "oops" in message
    assert message.endswith("send one JSON object per line")


@pytest.mark.parametrize(
    "body", [pytest.param(b"", id="empty"), pytest.param(b"\n\n{}\n", id="only-empty-object")]
)
def test_decode_ndjson_answers_missing_data_when_empty(body: bytes) -> None:
    with pytest.raises(PayloadError, match=r"^data, missing or empty$"):
        decode_ndjson(body)


@pytest.mark.parametrize(
    ("body", "encoding", "expected"),
    [
        pytest.param(b"[1]", None, b"[1]", id="no-encoding"),
        pytest.param(b"[1]", "", b"[1]", id="empty-encoding"),
        pytest.param(b"[1]", "identity", b"[1]", id="identity"),
        pytest.param(gzip.compress(b"[1]"), "gzip", b"[1]", id="gzip"),
        pytest.param(gzip.compress(b"[1]"), " GZip ", b"[1]", id="gzip-any-case"),
        pytest.param(gzip.compress(b"[1]"), "x-gzip", b"[1]", id="x-gzip"),
        pytest.param(
            gzip.compress(b'{"a":1}\n') + gzip.compress(b'{"b":2}\n'),
            "gzip",
            b'{"a":1}\n{"b":2}\n',
            id="multi-member-gzip",
        ),
        pytest.param(gzip.compress(b"x" * 1000), "gzip", b"x" * 1000, id="exactly-at-the-limit"),
        pytest.param(gzip.compress(b""), "gzip", b"", id="gzip-of-nothing"),
    ],
)
def test_decompress_returns_the_plain_body(
    body: bytes, encoding: str | None, expected: bytes
) -> None:
    assert decompress(body, encoding, max_bytes=1000) == expected


def test_decompress_then_ndjson_reads_a_gzipped_import() -> None:
    """Edge case 24: /import with application/x-ndjson and gzip is accepted like a JSON array."""
    plain = b"\n".join(orjson.dumps(e) for e in BATCH)

    assert decode_ndjson(decompress(gzip.compress(plain), "gzip", max_bytes=10_000)) == BATCH


@pytest.mark.parametrize(
    ("body", "encoding"),
    [
        pytest.param(gzip.compress(b"x" * 1001), "gzip", id="gzip-one-byte-over"),
        pytest.param(b"x" * 1001, None, id="plain-one-byte-over"),
        pytest.param(
            gzip.compress(b"x" * 600) + gzip.compress(b"y" * 600), "gzip", id="members-add-up"
        ),
    ],
)
def test_decompress_refuses_bodies_over_the_limit(body: bytes, encoding: str | None) -> None:
    with pytest.raises(PayloadTooLargeError) as caught:
        decompress(body, encoding, max_bytes=1000)

    assert caught.value.limit_bytes == 1000
    assert str(caught.value) == "request exceeds max limit of 1000 bytes"


def test_decompress_stops_a_gzip_bomb_without_inflating_it() -> None:
    # 64 MiB of zeros compress to about 64 KiB; inflating them whole would allocate all 64 MiB.
    deflater = zlib.compressobj(1, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    chunk = bytes(1 << 20)
    bomb = b"".join(deflater.compress(chunk) for _ in range(64)) + deflater.flush()
    assert len(bomb) < 1 << 20

    tracemalloc.start()
    try:
        with pytest.raises(PayloadTooLargeError):
            decompress(bomb, "gzip", max_bytes=1 << 20)
        _, peak_bytes = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert peak_bytes < 8 << 20


def test_payload_too_large_is_a_payload_error() -> None:
    assert issubclass(PayloadTooLargeError, PayloadError)
    assert issubclass(PayloadError, ValueError)


@pytest.mark.parametrize(
    ("body", "encoding", "message"),
    [
        pytest.param(b"[1]", "br", "Content-Encoding 'br' is not supported", id="brotli"),
        pytest.param(b"[1]", "gzip", "request body is not valid gzip", id="not-gzip"),
        pytest.param(
            gzip.compress(b"[1, 2, 3]")[:-12], "gzip", "truncated gzip", id="truncated-gzip"
        ),
        pytest.param(
            gzip.compress(b"[1]") + b"garbage", "gzip", "not valid gzip", id="trailing-garbage"
        ),
    ],
)
def test_decompress_explains_unreadable_encodings(body: bytes, encoding: str, message: str) -> None:
    with pytest.raises(PayloadError, match=message):
        decompress(body, encoding, max_bytes=1000)


def test_missing_data_constant_is_mixpanels_string() -> None:
    assert MISSING_DATA == "data, missing or empty"


FORM_PIECES = st.sampled_from(["a", "data", "=", "&", "+", "%", "%2B", "%2b", "%2F", "%3D", "%25",
                               "%20", "%E2%82%AC", "%FF", "%2", "%zz", "€", " ", "2B", "x", "\\", "\\x41",
                               "%5C", "%5Cx41", "\\n"])  # fmt: skip


@given(st.lists(FORM_PIECES, max_size=30).map("".join))
def test_parse_form_reads_any_body_as_parse_qsl_does(text: str) -> None:
    body = text.encode()
    expected = dict(parse_qsl(text, keep_blank_values=True, errors="replace"))

    assert parse_form(body) == expected


@given(st.binary(max_size=60))
def test_parse_form_decodes_base64_data_exactly(payload: bytes) -> None:
    encoded = base64.b64encode(payload).decode()
    body = urlencode({"data": encoded, "verbose": "1"}).encode()

    assert parse_form(body) == {"data": encoded, "verbose": "1"}
