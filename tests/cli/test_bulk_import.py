"""`kindred import`'s bulk path stores exactly what the line-by-line path stores.

Each test imports the same files twice, into two data dirs: once with the bulk path (DuckDB stores
the plain events, the pipeline the rest) and once line by line (`--no-bulk`), then compares the
stored events row by row in seq order (seq itself aside), the identity log, every event's person,
the counts and the messages. The corpus holds the cases the bulk path must tell apart.
"""

from __future__ import annotations

import importlib
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pytest

from kindred.cli.import_events import import_files
from kindred.identity import IdentityMode
from kindred.ingest.events import _LIFTED
from kindred.ingest.model import Limits
from kindred.server import build_services, create_project
from kindred.settings import Settings
from kindred.storage import bulk_import
from kindred.storage.bulk_import import BulkRules, StagedFile, stage_file
from kindred.storage.duckdb_store import DuckDBEventStore

# The module, which the package's `import_events` (the click command) hides.
import_command = importlib.import_module("kindred.cli.import_events")

NOW_MS = 1_800_000_000_000
NOW_S = NOW_MS // 1000
HOUR_S = 3600


@dataclass(frozen=True)
class Imported:
    """What one import did and left behind."""

    imported: int
    rejected: int
    messages: list[str]
    events: list[tuple[Any, ...]]
    identity: list[tuple[Any, ...]]


# -- The corpus ------------------------------------------------------------------------------------


def _line(event: Any, properties: Any, **outer: Any) -> bytes:
    return orjson.dumps({"event": event, "properties": properties, **outer})


def _event(n: int, **extra: Any) -> dict[str, Any]:
    """An ordinary browser event, as an SDK sends it."""
    return {
        "token": "tok",
        "time": NOW_S - 86_400 + n,
        "$insert_id": f"i{n:06x}",
        "$os": ["Mac OS X", "Windows", "Linux"][n % 3],
        "$browser_version": [124, 17.4, 1.0][n % 3],
        "distinct_id": f"d{n % 97}",
        "plan": ["free", "pro", None][n % 3],
        "paid": n % 2 == 0,
        # In Simplified mode an event with a device id goes line by line.
        **({"$device_id": f"d{n % 97}"} if n % 10 == 0 else {}),
        **extra,
    }


def edge_lines() -> list[bytes]:
    """One line per case the bulk path must get right, as raw bytes."""
    t = NOW_S - 1000
    return [
        # Times: integer seconds and ms, float seconds and ms, halves of a ms, out of range.
        _line("T", {"time": t, "distinct_id": "u1"}),
        _line("T", {"time": t * 1000 + 7, "distinct_id": "u1"}),
        b'{"event":"T","properties":{"time":1799999000.910,"distinct_id":"u1"}}',
        b'{"event":"T","properties":{"time":1799999000.0005,"distinct_id":"u1"}}',
        b'{"event":"T","properties":{"time":1799999000.0015,"distinct_id":"u1"}}',
        b'{"event":"T","properties":{"time":1799999000123.5,"distinct_id":"u1"}}',
        b'{"event":"T","properties":{"time":1799999000124.5,"distinct_id":"u1"}}',
        b'{"event":"T","properties":{"time":1.7999990001e9,"distinct_id":"u1"}}',
        _line("T", {"time": NOW_S + HOUR_S - 1, "distinct_id": "u1"}),
        _line("T", {"time": NOW_S + HOUR_S + 1, "distinct_id": "u1"}),
        _line("T", {"time": 1, "distinct_id": "u1"}),
        _line("T", {"time": -5, "distinct_id": "u1"}),
        b'{"event":"T","properties":{"time":100000000000000000000,"distinct_id":"u1"}}',
        _line("T", {"time": str(t), "distinct_id": "u1"}),
        _line("T", {"time": True, "distinct_id": "u1"}),
        _line("T", {"distinct_id": "u1"}),
        b'{"event":"T","properties":{"time":NaN,"distinct_id":"u1"}}',
        b'{"event":"T","properties":{"time":1e400,"distinct_id":"u1"}}',
        # $insert_id: absent, null, empty, odd characters, too long, placeholders, numbers.
        _line("I", {"time": t, "$insert_id": None}),
        _line("I", {"time": t, "$insert_id": ""}),
        _line("I", {"time": t, "$insert_id": "ABC-def-123"}),
        _line("I", {"time": t, "$insert_id": "abc_def"}),
        _line("I", {"time": t, "$insert_id": "x" * 36}),
        _line("I", {"time": t, "$insert_id": "x" * 37}),
        _line("I", {"time": t, "$insert_id": "NULL"}),
        _line("I", {"time": t, "$insert_id": "0"}),
        _line("I", {"time": t, "$insert_id": 1234}),
        _line("I", {"time": t, "$insert_id": "00000000-0000-0000-0000-000000000000"}),
        # distinct_id: absent, null, empty, placeholders, device prefix, numbers, other types.
        _line("D", {"time": t}),
        _line("D", {"time": t, "distinct_id": None}),
        _line("D", {"time": t, "distinct_id": ""}),
        _line("D", {"time": t, "distinct_id": "Anonymous"}),
        _line("D", {"time": t, "distinct_id": "$device:undefined"}),
        _line("D", {"time": t, "distinct_id": "$device:abc"}),
        _line("D", {"time": t, "distinct_id": "un\u212anown"}),  # KELVIN SIGN lowers to k
        _line("D", {"time": t, "distinct_id": "ünïcode-ïd"}),
        _line("D", {"time": t, "distinct_id": 42}),
        _line("D", {"time": t, "distinct_id": 1.5}),
        _line("D", {"time": t, "distinct_id": True}),
        _line("D", {"time": t, "distinct_id": {"id": 1}}),
        # Strings: at the limit, over it, long ids, long keys, non-ASCII, escapes.
        _line("S", {"time": t, "s": "a" * 255}),
        _line("S", {"time": t, "s": "a" * 256}),
        _line("S", {"time": t, "s": "é" * 200}),
        _line("S", {"time": t, "s": "é" * 256}),
        _line("S", {"time": t, "$device_id": "d" * 300}),
        _line("S", {"time": t, "k" * 256: 1}),
        _line("S" * 255, {"time": t}),
        _line("S" * 256, {"time": t}),
        _line("日本語のイベント", {"time": t, "名前": "値", "emoji": "😀", "ctl": "\u007f\u2028"}),
        b'{"event":"S","properties":{"time":1799999000,"s":"a\\"b"}}',
        b'{"event":"S","properties":{"time":1799999000,"s":"tab\\there"}}',
        b'{"event":"S","properties":{"time":1799999000,"s":"\\u00e9\\/"}}',
        b'{"event":"S","properties":{"time":1799999000,"s":"\\u001f"}}',
        b'{"event":"S","properties":{"time":1799999000,"s":"\\ud83d\\ude00"}}',
        b'{"event":"S\\u00e9","properties":{"time":1799999000}}',
        # Numbers that DuckDB and orjson may write differently.
        *(
            b'{"event":"N","properties":{"time":1799999000,"n":%s}}' % number
            for number in (
                b"1.0",
                b"1e20",
                b"-0",
                b"-0.0",
                b"1e16",
                b"1e15",
                b"9999999999999998",
                b"1e-7",
                b"0.000001",
                b"0.00001",
                b"2.5e-6",
                b"123456789012345678901234567890",
                b"9223372036854775807",
                b"18446744073709551615",
                b"-9223372036854775809",
                b"1E5",
                b"17.40",
                b"0.30000000000000004",
                b"1.7976931348623157e308",
                b"5e-324",
                b"true",
                b"false",
                b"null",
            )
        ),
        # Shapes: nested objects, arrays, depth, collections, many properties.
        _line("O", {"time": t, "o": {"a": 1, "b": [1, 2, {"c": "x" * 300}]}}),
        _line("O", {"time": t, "o": [[[[1]]]]}),
        _line("O", {"time": t, "o": list(range(255))}),
        _line("O", {"time": t, "o": {}}),
        _line("O", {"time": t, "o": []}),
        _line("O", {"time": t, **{f"k{i}": i for i in range(253)}}),
        _line("O", {"time": t, **{f"k{i}": i for i in range(254)}}),
        # Keys that change what validation does, or that the server adds.
        _line("K", {"time": t, "$ignore": True}),
        _line("K", {"time": t, "$ignore": "yes"}),
        _line("K", {"time": t, "$ignore": False}),
        _line("K", {"time": t, "$ignore": ""}),
        _line("K", {"time": t, "$import": False}),
        _line("K", {"time": t, "mp_processing_time_ms": 5}),
        _line("K", {"time": t, "ip": "1.2.3.4", "token": {"a": 1}}),
        _line("K", {"time": t, "ip": 5, "token": None}),
        # Repeated keys: orjson keeps the last value, DuckDB's functions find the first.
        b'{"event":"R","properties":{"time":1799999000,"a":1,"a":2}}',
        b'{"event":"R","properties":{"time":1799999000,"time":1799999001}}',
        b'{"event":"R","properties":{"time":1799999000,"distinct_id":"a","distinct_id":"b"}}',
        b'{"event":"R","event":"R2","properties":{"time":1799999000}}',
        b'{"event":"R","properties":{"time":1799999000},"properties":{"time":1799999001}}',
        b'{"event":"R","properties":{"time":1799999000},"extra":{"x":1}}',
        b'{"properties":{"time":1799999000},"event":"R"}',
        # Refused or odd records.
        _line("", {"time": t}),
        _line(None, {"time": t}),
        _line(7, {"time": t}),
        _line("X", None),
        _line("X", [1, 2]),
        _line("X", "props"),
        orjson.dumps({"properties": {"time": t}}),
        b"[1, 2]",
        b'"just a string"',
        b"42",
        # Layouts: spaces, trailing commas DuckDB accepts and orjson refuses, NaN.
        b'{ "event" : "W" , "properties" : { "time" : 1799999000 , "a" : 1 } }',
        b'   {"event":"W","properties":{"time":1799999000}}   ',
        b'{"event":"W","properties":{"time":1799999000,"a":1,}}',
        b'{"event":"W","properties":{"time":1799999000,"a":1 ,}}',
        b'{"event":"W","properties":{"time":1799999000,"a":[1,2,]}}',
        b'{"event":"W","properties":{"time":1799999000},}',
        b'{"event":"W","properties":{"time":1799999000,"a":NaN}}',
        b'{"event":"W","properties":{"time":1799999000,"a":-Infinity}}',
        b'{"event":"W","properties":{"token":NaN,"time":1799999000}}',
        # Identity events, and events that carry ids.
        _line("$identify", {"time": t, "distinct_id": "user-1", "$anon_distinct_id": "dev-1"}),
        _line("$identify", {"distinct_id": "user-2", "$anon_distinct_id": "dev-2"}),
        _line("$identify", {"time": t, "distinct_id": "user-1"}),
        _line("$create_alias", {"time": t, "distinct_id": "user-1", "alias": "alias-1"}),
        _line("$merge", {"time": t, "$distinct_ids": ["user-2", "dev-3"]}),
        _line("Seen", {"time": t, "distinct_id": "dev-1"}),
        _line("Seen", {"time": t + 5, "distinct_id": "dev-2", "$device_id": "dev-2"}),
        _line("Seen", {"time": t, "$user_id": "user-9", "$device_id": "dev-9"}),
        _line("Seen", {"time": t, "$device_id": "dev-9"}),
        _line("Seen", {"time": t, "$user_id": "user-9"}),
        _line("Seen", {"time": t, "distinct_id": "$device:dev-9"}),
        _line("Seen", {"time": t, "$user_id": "$device:x", "$device_id": "dev-9"}),
        # An identify earlier in time than the events it links, arriving after them.
        _line("$identify", {"time": t - 500, "distinct_id": "user-3", "$anon_distinct_id": "d5"}),
    ]


def corpus(count: int, seed: int = 7) -> list[bytes]:
    """`count` ordinary events, mostly plain, with the edge cases and duplicates among them."""
    rng = random.Random(seed)
    lines = [_line(["Page Viewed", "Clicked"][n % 2], _event(n)) for n in range(count)]
    # Some with their keys in another order, some with a key the first rows never have.
    for n in rng.sample(range(count), count // 20):
        properties = _event(n)
        keys = list(properties)
        rng.shuffle(keys)
        lines[n] = _line("Reordered", {k: properties[k] for k in keys})
    for n in rng.sample(range(count // 2, count), count // 50):
        lines[n] = _line("Late key", _event(n, late=n))
    for n, line in enumerate(edge_lines()):
        lines.insert(rng.randrange(len(lines)) if n else 0, line)
    # Retries: the same line again, and the same $insert_id with other properties.
    lines += rng.sample(lines, 10)
    lines.append(_line("Page Viewed", _event(3, plan="x" * 300)))
    lines.append(_line("Page Viewed", _event(3, plan="y")))
    return lines


def write_ndjson(path: Path, lines: Sequence[bytes]) -> Path:
    # Blank and whitespace-only lines shift the line numbers of the messages.
    body = bytearray()
    for n, line in enumerate(lines):
        body += line + (b"\r\n" if n % 11 == 0 else b"\n")
        if n % 37 == 5:
            body += b"\n" if n % 2 else b" \t \n"
    path.write_bytes(bytes(body))
    return path


def write_array(path: Path, lines: Sequence[bytes]) -> Path:
    """The lines orjson can decode, as one JSON array (orjson refuses the whole array otherwise)."""
    items = []
    for line in lines:
        try:
            orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        items.append(line.strip())
    path.write_bytes(b"[\n" + b",\n".join(items) + b"\n]\n")
    return path


# -- Importing and comparing -----------------------------------------------------------------------


def run_import(
    data_dir: Path,
    files: Sequence[Path],
    mode: IdentityMode,
    capsys: pytest.CaptureFixture[str],
    *,
    is_bulk: bool,
    limits: Limits | None = None,
) -> Imported:
    services = build_services(Settings(data_dir=data_dir))
    services.clock_ms = lambda: NOW_MS
    if limits is not None:
        services.limits = limits
    project = services.meta.project_by_name("p") or create_project(
        services.meta, "p", identity_mode=mode
    )
    capsys.readouterr()
    try:
        imported, rejected = import_files(files, project, services, is_bulk=is_bulk)
    finally:
        services.pipeline.stop()
        services.store.close()
        services.meta.close()
    messages = capsys.readouterr().err.splitlines()
    return Imported(imported, rejected, messages, *_stored(data_dir / "kindred.duckdb"))


def _stored(path: Path) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Every event in seq order with its person as reports see it, and the identity log."""
    with duckdb.connect(str(path), read_only=True) as db:
        events = db.execute(
            """
            SELECT e.event, e.distinct_id, e.time_ms, e.insert_id, e.properties, e.id_key,
                coalesce(o.person_key, e.person_key)
            FROM events AS e
            LEFT JOIN person_overrides AS o ON o.project_id = e.project_id AND o.id_key = e.id_key
            ORDER BY e.seq
            """
        ).fetchall()
        identity = db.execute(
            "SELECT kind, id0, id1, time_ms, insert_id, withdrawn_seq IS NULL FROM identity_log"
            " ORDER BY seq"
        ).fetchall()
    return events, identity


def assert_same(bulk: Imported, line_by_line: Imported) -> None:
    assert bulk.messages == line_by_line.messages
    assert (bulk.imported, bulk.rejected) == (line_by_line.imported, line_by_line.rejected)
    assert len(bulk.events) == len(line_by_line.events)
    for n, (ours, theirs) in enumerate(zip(bulk.events, line_by_line.events, strict=True)):
        assert ours == theirs, f"event {n} in seq order differs"
    assert bulk.identity == line_by_line.identity


@pytest.fixture
def plain_counts(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """How many rows each bulk import stored itself."""
    counts: list[int] = []

    def counting(*args: Any, **kwargs: Any) -> StagedFile | None:
        staged = stage_file(*args, **kwargs)
        counts.append(-1 if staged is None else staged.plain)
        return staged

    monkeypatch.setattr(import_command, "stage_file", counting)
    yield counts


MODES = [
    pytest.param(IdentityMode.ORIGINAL, id="original"),
    pytest.param(IdentityMode.SIMPLIFIED, id="simplified"),
    pytest.param(IdentityMode.LEGACY, id="legacy"),
]


# -- Tests -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("as_array", [False, True], ids=["ndjson", "json-array"])
def test_bulk_import_stores_what_the_line_by_line_path_stores(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    plain_counts: list[int],
    mode: IdentityMode,
    as_array: bool,
) -> None:
    lines = corpus(1500)
    write = write_array if as_array else write_ndjson
    path = write(tmp_path / "events.json", lines)

    bulk = run_import(tmp_path / "bulk", [path], mode, capsys, is_bulk=True)
    line_by_line = run_import(tmp_path / "lines", [path], mode, capsys, is_bulk=False)

    assert_same(bulk, line_by_line)
    assert bulk.imported > 1400 and bulk.rejected > 20
    if mode is IdentityMode.LEGACY:
        assert plain_counts == []  # Legacy resolves ids as events arrive: all line by line
    else:
        # Most events took the bulk path: the test compares something.
        assert plain_counts[0] > 1200


@pytest.mark.parametrize("mode", MODES[:2])
def test_files_in_turn_keep_their_order_whichever_path_each_takes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], plain_counts: list[int], mode: IdentityMode
) -> None:
    first = write_ndjson(tmp_path / "a.ndjson", corpus(300, seed=1))
    # DuckDB cannot read a line with two objects: this file goes line by line.
    unreadable = write_ndjson(tmp_path / "b.ndjson", [*corpus(200, seed=2), b'{"a":1} {"b":2}'])
    last = write_array(tmp_path / "c.json", corpus(300, seed=3))

    files = [first, unreadable, last, first]
    bulk = run_import(tmp_path / "bulk", files, mode, capsys, is_bulk=True)
    line_by_line = run_import(tmp_path / "lines", files, mode, capsys, is_bulk=False)

    assert_same(bulk, line_by_line)
    assert plain_counts[1] == -1 and min(plain_counts[:1] + plain_counts[2:]) > 200


def test_messages_keep_their_order_across_chunks_and_fetches(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    plain_counts: list[int],
) -> None:
    # Small chunks and fetches: a chunk's messages (lines that are not JSON first) span fetches.
    monkeypatch.setattr(import_command, "CHUNK_EVENTS", 7)
    monkeypatch.setattr(import_command, "FETCH_ROWS", 30)
    monkeypatch.setattr(import_command, "WRITE_EVENTS", 5)
    lines = corpus(400, seed=4)
    for n in range(0, len(lines), 9):
        lines.insert(n, b'{"event":"bad","properties":{"time":1,}}')
    path = write_ndjson(tmp_path / "events.ndjson", lines)

    bulk = run_import(tmp_path / "bulk", [path], IdentityMode.ORIGINAL, capsys, is_bulk=True)
    line_by_line = run_import(
        tmp_path / "lines", [path], IdentityMode.ORIGINAL, capsys, is_bulk=False
    )

    assert_same(bulk, line_by_line)
    assert any("not JSON" in m for m in bulk.messages) and plain_counts[0] > 200


@pytest.mark.parametrize(
    "head",
    [
        pytest.param(b"\xef\xbb\xbf", id="byte-order-mark"),
        pytest.param(b"\x0c", id="form-feed"),
        pytest.param(b"\x0b", id="vertical-tab"),
    ],
)
def test_a_file_duckdb_would_read_otherwise_than_orjson_goes_line_by_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], head: bytes
) -> None:
    path = tmp_path / "events.ndjson"
    path.write_bytes(head + b"\n".join(corpus(50)) + b"\n")

    bulk = run_import(tmp_path / "bulk", [path], IdentityMode.ORIGINAL, capsys, is_bulk=True)
    line_by_line = run_import(
        tmp_path / "lines", [path], IdentityMode.ORIGINAL, capsys, is_bulk=False
    )

    assert_same(bulk, line_by_line)


def test_smaller_limits_bind_the_bulk_path_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], plain_counts: list[int]
) -> None:
    limits = Limits(
        max_record_bytes=700, max_properties=10, max_string_chars=40, max_insert_id_bytes=7
    )
    path = write_ndjson(tmp_path / "events.ndjson", corpus(300, seed=5))

    bulk = run_import(
        tmp_path / "bulk", [path], IdentityMode.ORIGINAL, capsys, is_bulk=True, limits=limits
    )
    line_by_line = run_import(
        tmp_path / "lines", [path], IdentityMode.ORIGINAL, capsys, is_bulk=False, limits=limits
    )

    assert_same(bulk, line_by_line)
    assert bulk.rejected > 20 and plain_counts[0] > 200


def test_an_empty_file_imports_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "empty.ndjson"
    path.write_bytes(b"")

    bulk = run_import(tmp_path / "bulk", [path], IdentityMode.ORIGINAL, capsys, is_bulk=True)

    assert (bulk.imported, bulk.rejected, bulk.events) == (0, 0, [])


def test_plain_rows_are_those_sql_can_vouch_for(tmp_path: Path) -> None:
    t = NOW_S - 100
    cases = {
        _line(
            "A", {"token": "t", "time": t, "distinct_id": "u", "$insert_id": "i1", "n": 1.5}
        ): True,
        _line("A", {"time": t, "a": "x" * 255}): True,
        b'{"event":"A","properties":{"time":1799999000.910,"a":"x"}}': True,
        _line("A", {"time": t, "a": "x" * 256}): False,
        _line("A", {"time": t, "a": {"b": 1}}): False,
        _line("A", {"time": t, "a": 1e16}): False,
        _line("$identify", {"time": t, "distinct_id": "u", "$anon_distinct_id": "d"}): False,
        b'{"event":"A","properties":{"time":1799999000,"a":"x","a":"y"}}': False,
        b'{"event":"A","properties":{"time":1799999000,"a":"x",}}': False,
        b'{"event":"A","properties":{"time":1799999000,"a":"\\u00e9"}}': False,
    }
    path = tmp_path / "cases.ndjson"
    path.write_bytes(b"\n".join(cases) + b"\n")
    store = DuckDBEventStore(tmp_path / "kindred.duckdb")
    rules = BulkRules(IdentityMode.ORIGINAL, NOW_MS, Limits())
    try:
        with store.bulk_cursor("stage") as cursor:
            staged = stage_file(cursor, path, is_array=False, rules=rules)
            assert staged is not None
            others = {row for row, _ in staged.other_rows(0, 100)}
    finally:
        store.close()

    assert [n not in others for n in range(len(cases))] == list(cases.values())


def test_the_lifted_keys_are_validations() -> None:
    assert set(bulk_import.LIFTED_KEYS) == _LIFTED


def random_value(rng: random.Random) -> bytes:
    """A JSON value as some client might write it: any type, any size, any spelling."""
    kind = rng.randrange(10)
    if kind == 0:
        return str(
            rng.choice([0, 1, -1, 2**31, 2**53 + 1, 2**63 - 1, 2**64 - 1, -(2**63)])
        ).encode()
    if kind == 1:
        return str(
            rng.randrange(-(10 ** rng.randrange(1, 25)), 10 ** rng.randrange(1, 25))
        ).encode()
    if kind == 2:
        value = rng.uniform(-1, 1) * 10 ** rng.randrange(-12, 25)
        return rng.choice([repr(value), f"{value:.3f}", f"{value:e}", f"{value:.17g}"]).encode()
    if kind == 3:
        return rng.choice([b"true", b"false", b"null", b"1.0", b"-0", b"-0.0", b"1E5", b"0.5"])
    if kind in (4, 5, 6):
        size = rng.choice([0, 1, 10, 100, 254, 255, 256, 300])
        pool = "abcXYZ 019-_/:.é日😀\u2028\u007f" + ('"\\\n\t\x01' if kind == 6 else "")
        return orjson.dumps("".join(rng.choice(pool) for _ in range(size)))
    if kind == 7:
        return rng.choice([b"[]", b"{}", b"[1,2]", b'{"a":"b"}', b'["x",{"y":null}]'])
    if kind == 8:
        return b'"\\u00e9\\u0041\\/"' if rng.random() < 0.5 else b'"\\ud83d\\ude00"'
    return orjson.dumps(f"v{rng.randrange(1000)}")


def random_lines(count: int, seed: int) -> list[bytes]:
    """Events with the same keys in the same order (the bulk path's best case), random values."""
    rng = random.Random(seed)
    lines = []
    for n in range(count):
        values = [random_value(rng) for _ in range(6)]
        if rng.random() < 0.6:  # most rows with values of their keys' usual types
            values[:4] = [orjson.dumps(f"s{n}"), str(n).encode(), b"true", b"%d.25" % n]
        pairs = b",".join(b'"k%d":%s' % (i, v) for i, v in enumerate(values))
        time = rng.choice([b"1799999000", b"1799999000.5", b"1799999000123", b"1.7999990e9"])
        lines.append(
            b'{"event":"E","properties":{"time":%s,"distinct_id":"d%d","$insert_id":"i%d",%s}}'
            % (time, n % 13, n, pairs)
        )
    return lines


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_values_are_stored_alike(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], plain_counts: list[int], seed: int
) -> None:
    path = write_ndjson(tmp_path / "events.ndjson", random_lines(3000, seed))

    bulk = run_import(tmp_path / "bulk", [path], IdentityMode.ORIGINAL, capsys, is_bulk=True)
    line_by_line = run_import(
        tmp_path / "lines", [path], IdentityMode.ORIGINAL, capsys, is_bulk=False
    )

    assert_same(bulk, line_by_line)
    assert plain_counts[0] > 300
