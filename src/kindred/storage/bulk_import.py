"""Bulk loading for `kindred import`: DuckDB reads a file and stores its plainly valid events itself.

The Python path validates every event (`kindred.ingest.events.validate_event`), hands it to the
pipeline, which numbers it, applies identity and writes it with `DuckDBEventStore.write`: about
40k events/s. Here DuckDB reads a whole file into a temporary table, one row per event in file
order (`rowid`, as `preserve_insertion_order` keeps it), and SQL sorts the rows in two:

- *plain* rows: ordinary events that the Python path would store unchanged (nothing to refuse,
  drop or truncate, no identity input), whose stored row SQL writes byte for byte. `store_plain()`
  inserts them in one statement, each with the seq of its place in the file.
- every other row, kept as read, which the caller sends through the Python path.

Why a plain row is stored exactly as the Python path stores it (tests/cli/test_bulk_import.py
compares the two paths on a varied corpus):

- One `json_extract` per row gives the event and the values of the lifted properties (`time`,
  `distinct_id`, `$insert_id`, `token`, `ip`) and of the *known* keys: those of the first rows,
  less the ones that change the outcome (`$ignore`, the keys the server adds, Simplified mode's
  ids). DuckDB writes each value canonically; for the values a plain row may hold (strings of at
  most `max_string_chars` bytes, true, false, null, numbers of at most 16 characters with no
  exponent and not in [1e-6, 1e-5)) that is the text orjson writes too.
- The line has no backslash, so strings read as they are spelled, and it is, byte for byte, the
  line DuckDB would write from those values in one of the common key orders (*shapes*): then its
  keys are exactly these, once each, in this order, with no spaces and no trailing comma (DuckDB
  accepts one, orjson does not). A line in another layout is checked from its keys instead: just
  `event` then `properties`, every property key known and found once (DuckDB's functions take the
  first of two equal keys, orjson the last), no comma or space before the final `}}`.
- `event` is a string of 1 to `max_string_chars` characters and no identity event; `time` is a
  finite number whose milliseconds (`to_epoch_ms`, which rounds half to even) are in /import's
  range; `distinct_id` and `$insert_id` are absent, null or strings that validation keeps
  (placeholders and odd `$insert_id`s go to Python); `token` and `ip` are strings or absent; the
  event as orjson writes it fits `max_record_bytes`.
- The stored properties are what validation builds: the event's keys in order less the lifted
  ones, then (Simplified mode) the id the distinct_id implies, `$import` and
  `mp_processing_time_ms`. For a shape SQL concatenates the values; otherwise json_merge_patch,
  which keeps key order, drops the keys patched with null and appends the others.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb

from kindred.identity.events import IDENTITY_EVENT_NAMES
from kindred.identity.model import DEVICE_PREFIX, IdentityMode
from kindred.ingest.model import Limits
from kindred.ingest.values import PLACEHOLDER_IDS

logger = logging.getLogger(__name__)

STAGED_TABLE = "bulk_staged"
KEYS_TABLE = "bulk_person_keys"
# The keys of this many first rows are the keys a plain row may have: rows with others go to
# Python, so a file whose key set changes late loads slower, never wrong.
SAMPLE_ROWS = 10_000
MAX_KNOWN_KEYS = 64
# Key orders held by at least 1% of those rows (at most this many) get their stored properties
# written by concatenation; the rest by json_merge_patch, which costs 4x more.
MAX_SHAPES = 8
# Moved out of the properties by validation (kindred.ingest.events._LIFTED).
LIFTED_KEYS = ("time", "distinct_id", "$insert_id", "token", "ip")
# A plain row has none of these: they drop the event, or would move a key the server adds.
FORBIDDEN_KEYS = frozenset(("$ignore", "$import", "mp_processing_time_ms"))
# In Simplified mode these ids derive the distinct_id and may carry identity (SPEC.md §3.3).
SIMPLIFIED_ID_KEYS = frozenset(("$user_id", "$device_id"))
# Epoch seconds below this are read as seconds (kindred.ingest.values._MS_THRESHOLD).
MS_THRESHOLD = 100_000_000_000
# A number DuckDB writes with at most this many characters, no exponent and not as 0.00000…
# is written the same by orjson; DuckDB writes 1e16 and up in full, and [1e-6, 1e-5) as decimals.
MAX_PLAIN_NUMBER_CHARS = 16
NUMBER_TYPES = frozenset(("UBIGINT", "BIGINT", "DOUBLE"))
# What orjson.dumps() writes around an event's name and properties.
RECORD_FRAME = '{"event":,"properties":}'


@dataclass(frozen=True, slots=True)
class BulkRules:
    """What deciding plain rows needs: the project's identity mode, the import's clock, limits."""

    identity_mode: IdentityMode
    now_ms: int
    limits: Limits


class StagedFile:
    """A file read into a temporary table of one cursor, its rows sorted into plain and other.

    Not thread-safe: it uses the cursor that staged it, the only one that sees the table.
    """

    def __init__(self, cursor: duckdb.DuckDBPyConnection, rows: int, plain: int) -> None:
        self._cursor = cursor
        self.rows = rows
        self.plain = plain

    def other_rows(self, start: int, limit: int) -> list[tuple[int, str]]:
        """(row, JSON text as read) of the first `limit` rows from `start` on that are not plain."""
        sql = f"""
            SELECT rowid, text FROM {STAGED_TABLE}
            WHERE NOT is_plain AND rowid >= ? ORDER BY rowid LIMIT ?
        """
        rows = self._cursor.execute(sql, [start, limit]).fetchall()
        return [(int(row), str(text)) for row, text in rows]

    def plain_ids(self) -> list[str]:
        """The distinct ids of the plain rows, each once."""
        sql = f"SELECT DISTINCT distinct_id FROM {STAGED_TABLE} WHERE is_plain"
        return [str(row[0]) for row in self._cursor.execute(sql).fetchall()]

    def store_plain(
        self, project_id: int, first_seq: int, keys: Sequence[tuple[str, int, int]]
    ) -> int:
        """Insert the plain rows into `events` in one transaction; return how many.

        Row n gets seq `first_seq + n`. `keys` holds (distinct_id, id_key, person_key) for every
        id of `plain_ids()`. See `DuckDBEventStore.bulk_cursor` for what may run meanwhile.
        """
        columns = [list(column) for column in zip(*keys, strict=True)] or [[], [], []]
        self._cursor.execute(
            f"""CREATE OR REPLACE TEMP TABLE {KEYS_TABLE} AS SELECT unnest($1::VARCHAR[]) AS d,
                unnest($2::BIGINT[]) AS k, unnest($3::BIGINT[]) AS q""",
            columns,
        )
        insert = f"""
            INSERT INTO events
            SELECT $1, $2 + s.rowid, s.event, s.distinct_id, s.time_ms, s.insert_id, s.text, k.k, k.q
            FROM {STAGED_TABLE} AS s JOIN {KEYS_TABLE} AS k ON k.d = s.distinct_id
            WHERE s.is_plain
        """
        with _zstd_compression(self._cursor):
            row = self._cursor.execute(insert, [project_id, first_seq]).fetchone()
        return 0 if row is None else int(row[0])

    def drop(self) -> None:
        self._cursor.execute(f"DROP TABLE IF EXISTS {STAGED_TABLE}")
        self._cursor.execute(f"DROP TABLE IF EXISTS {KEYS_TABLE}")


def stage_file(
    cursor: duckdb.DuckDBPyConnection,
    path: Path,
    *,
    is_array: bool,
    rules: BulkRules,
) -> StagedFile | None:
    """Read `path` (NDJSON, or one JSON array) into a staging table; None if DuckDB cannot.

    DuckDB refuses a line that is not one JSON value, so a file with one goes wholly to Python.
    """
    setting = cursor.execute("SELECT current_setting('preserve_insertion_order')").fetchone()
    if setting is None or not setting[0]:
        return None  # rowid would not be file order
    source = _source(path, is_array=is_array)
    try:
        sample = _sample(cursor, source, rules)
        cursor.execute(_staging_sql(source, sample, rules))
    except duckdb.Error as exc:
        logger.info("DuckDB cannot read %s (%s); importing it line by line", path, exc)
        return None
    row = cursor.execute(
        f"SELECT count(*), count(*) FILTER (WHERE is_plain) FROM {STAGED_TABLE}"
    ).fetchone()
    assert row is not None
    return StagedFile(cursor, int(row[0]), int(row[1]))


@contextmanager
def _zstd_compression(cursor: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """ZSTD for the rows written inside, then DuckDB's own choice again.

    For JSON text of this size DuckDB picks DICT_FSST, whose analysis tries every method: twice the
    CPU of ZSTD, for a file 2-3x larger (`zstd_min_string_length` keeps ZSTD out of its choice).
    The setting is global; writes beside this one go to the write-ahead log and are compressed at
    a checkpoint, which waits for this transaction.
    """
    cursor.execute("SET force_compression = 'zstd'")
    try:
        yield
    finally:
        cursor.execute("RESET force_compression")


def _source(path: Path, *, is_array: bool) -> str:
    file_format = "array" if is_array else "newline_delimited"
    return f"read_json_objects({_literal(str(path))}, format = '{file_format}')"


@dataclass(frozen=True, slots=True)
class _Sample:
    """What the first rows of a file show, to shape the SQL for the rows like them.

    `known` maps the property keys a plain row may have (besides the lifted ones) to the JSON types
    their values had; a value of another type sends its row to Python. `shapes` are the commonest
    orders of keys, whose stored properties SQL writes by concatenation.
    """

    known: dict[str, frozenset[str]]
    shapes: list[list[str]]


def _sample(cursor: duckdb.DuckDBPyConnection, source: str, rules: BulkRules) -> _Sample:
    # Identity events are never plain: the keys only they carry would cost every row a lookup.
    identity = ", ".join(map(_literal, sorted(IDENTITY_EVENT_NAMES)))
    sql = f"""
        SELECT json_keys(json, '$.properties'), json_type(json, '$.properties.*'), count(*)
        FROM (SELECT json FROM {source} LIMIT {SAMPLE_ROWS})
        WHERE json_type(json, '$.properties') = 'OBJECT'
            AND coalesce(json_extract_string(json, '$.event') NOT IN ({identity}), true)
        GROUP BY ALL
    """
    orders: Counter[tuple[str, ...]] = Counter()
    kinds: dict[str, set[str]] = {}
    for keys, types, n in cursor.execute(sql).fetchall():
        orders[tuple(keys)] += n
        for key, kind in zip(keys, types, strict=True):
            kinds.setdefault(key, set()).add(kind)

    excluded = FORBIDDEN_KEYS.union(LIFTED_KEYS)
    if rules.identity_mode is IdentityMode.SIMPLIFIED:
        excluded |= SIMPLIFIED_ID_KEYS
    frequency: Counter[str] = Counter()
    for keys, n in orders.items():
        frequency.update(dict.fromkeys(keys, n))
    by_frequency = sorted(frequency, key=lambda k: (-frequency[k], k))
    names = [k for k in by_frequency if k not in excluded and _is_plain_key(k, rules.limits)]
    known = {k: frozenset(kinds[k]) for k in names[:MAX_KNOWN_KEYS]}

    allowed = set(known).union(LIFTED_KEYS)
    shapes = [
        list(keys)
        for keys, n in orders.most_common(MAX_SHAPES)
        if n * 100 >= SAMPLE_ROWS
        and len(set(keys)) == len(keys) < rules.limits.max_properties
        and allowed.issuperset(keys)
    ]
    return _Sample(known, shapes)


def _is_plain_key(key: str, limits: Limits) -> bool:
    # DuckDB writes such a key escaped, and a JSON path cannot name one with a quote.
    escaped = any(c in key for c in '"\\') or any(ord(c) < 0x20 for c in key)
    return 0 < len(key) <= limits.max_string_chars and not escaped


# -- The staging statement ------------------------------------------------------------------------
#
# Nested SELECTs, innermost first: read each row (`raw`) and parse it twice, for the values it needs
# and for its keys; unpack the values into columns; compute the stored fields (NULL where one is not
# plain); decide `is_plain`; write the properties of plain rows. Work that must not run on every
# row sits in CASE branches: in a projection DuckDB evaluates both sides of AND and OR.


def _staging_sql(source: str, sample: _Sample, rules: BulkRules) -> str:
    keys = [*LIFTED_KEYS, *sample.known]
    paths = ", ".join(_literal(p) for p in ["$.event", *map(_key_path, keys)])
    column = {k: f"p{n}" for n, k in enumerate(keys)}
    unpacked = ", ".join(f"v[{n + 2}] AS p{n}" for n in range(len(keys)))
    time, distinct_id, insert_id = column["time"], column["distinct_id"], column["$insert_id"]
    found = " + ".join(f"({c} IS NOT NULL)::INTEGER" for c in column.values())
    limits = rules.limits
    return f"""
        CREATE OR REPLACE TEMP TABLE {STAGED_TABLE} AS
        SELECT is_plain, event, distinct_id, time_ms, insert_id,
            {_stored_properties_sql(column, sample.shapes, rules)} AS text
        FROM (
            SELECT *, CASE WHEN shape > 0 THEN strlen(raw) <= {limits.max_record_bytes}
                    WHEN shape < 0 THEN coalesce({_keys_check_sql(column, limits)}, false)
                    ELSE false END AS is_plain
            FROM (
                SELECT *,
                    CASE WHEN shape < 0 THEN json_keys(raw, ['$', '$.properties']) END AS keys,
                    CASE WHEN shape < 0 THEN {found} END AS found_keys
                FROM (
                    SELECT *, {_shape_sql(column, sample.shapes)} AS shape
                    FROM (
                        SELECT *, {_is_candidate_sql(column, sample, rules)} AS is_candidate
                        FROM (
                            SELECT *,
                                {_event_sql(limits)} AS event,
                                {_time_ms_sql(time)} AS time_ms,
                                {_distinct_id_sql(distinct_id)} AS distinct_id,
                                {_insert_id_sql(insert_id, limits)} AS insert_id
                            FROM (
                                SELECT *,
                                    CASE WHEN starts_with(did_text, {_literal(DEVICE_PREFIX)})
                                        THEN did_text[{len(DEVICE_PREFIX) + 1}:]
                                        ELSE did_text END AS did_bare,
                                    CASE WHEN time_double >= {MS_THRESHOLD} THEN time_double
                                        ELSE time_double * 1000 END AS time_scaled
                                FROM (
                                    SELECT raw, v[1] AS event_json, {unpacked},
                                        TRY_CAST({time} AS DOUBLE) AS time_double,
                                        TRY_CAST({time} AS BIGINT) AS time_bigint,
                                        {distinct_id}[2:-2] AS did_text,
                                        {insert_id}[2:-2] AS iid_text
                                    FROM (
                                        SELECT json::VARCHAR AS raw, json_extract(json, [{paths}])::VARCHAR[] AS v
                                        FROM {source}
                                    )
                                )
                            )
                        )
                    )
                )
            )
        )
    """


def _key_path(key: str) -> str:
    return f'$.properties."{key}"'


def _event_sql(limits: Limits) -> str:
    """The event name, or NULL: a string, not empty, not truncated, not an identity event."""
    names = ", ".join(_literal(f'"{name}"') for name in sorted(IDENTITY_EVENT_NAMES))
    return f"""CASE WHEN starts_with(event_json, '"') AND strlen(event_json) > 2
            AND event_json NOT IN ({names})
            AND {_fits_sql("event_json", limits.max_string_chars)} THEN event_json[2:-2] END"""


def _time_ms_sql(value: str) -> str:
    """`to_epoch_ms(time)` as validation computes it, or NULL; `_is_plain_sql` checks the range.

    An integer is scaled exactly; a float is rounded half to even, as Python's round() does. Under
    1e15 in magnitude, `x - floor(x)` is exact, so the comparison with 0.5 is too.
    """
    floor = "floor(time_scaled)"
    up = f"time_scaled - {floor} > 0.5 OR (time_scaled - {floor} = 0.5 AND CAST({floor} AS BIGINT) % 2 <> 0)"
    return f"""CASE WHEN NOT coalesce(isfinite(time_double), false) OR contains({value}, 'e') THEN NULL
        WHEN NOT contains({value}, '.') THEN (CASE WHEN time_bigint >= {MS_THRESHOLD} THEN time_bigint
            WHEN time_bigint > -{MS_THRESHOLD} THEN time_bigint * 1000 END)
        WHEN abs(time_scaled) < 1e15 THEN CAST({floor} AS BIGINT) + (CASE WHEN {up} THEN 1 ELSE 0 END)
        END"""


def _distinct_id_sql(value: str) -> str:
    """The raw distinct_id: '' when absent or null, the string when it is no placeholder."""
    return f"""CASE WHEN {value} IS NULL OR {value} = 'null' THEN ''
        WHEN NOT starts_with({value}, '"') OR {_is_placeholder_sql("did_bare")} THEN NULL
        ELSE did_text END"""


def _insert_id_sql(value: str, limits: Limits) -> str:
    """The `$insert_id`: '' when absent, null or empty, the string when validation keeps it."""
    return f"""CASE WHEN {value} IS NULL OR {value} = 'null' OR {value} = '""' THEN ''
        WHEN starts_with({value}, '"') AND strlen({value}) <= {limits.max_insert_id_bytes + 2}
            AND regexp_full_match(iid_text, '[A-Za-z0-9-]+')
            AND NOT {_is_placeholder_sql("iid_text")}
            THEN iid_text END"""


def _is_placeholder_sql(text: str) -> str:
    """Whether `is_placeholder(text)` may be true; false only when it is not.

    Python lowers one non-ASCII letter to ASCII, KELVIN SIGN to k: replaced first, DuckDB's lower()
    of what is left agrees with Python's on every id that lowers to a placeholder. Most ids are
    decided by their length in bytes, without lowering.
    """
    by_length: dict[int, set[str]] = {}
    for placeholder in PLACEHOLDER_IDS:
        for kelvins in range(placeholder.count("k") + 1):
            by_length.setdefault(len(placeholder) + 2 * kelvins, set()).add(placeholder)
    branches = []
    for length, placeholders in sorted(by_length.items()):
        names = ", ".join(map(_literal, sorted(placeholders)))
        if any(c.isalpha() for p in placeholders for c in p):
            branches.append(
                f"WHEN {length} THEN lower(replace({text}, '\u212a', 'k')) IN ({names})"
            )
        else:
            branches.append(f"WHEN {length} THEN {text} IN ({names})")
    return f"(CASE strlen({text}) {' '.join(branches)} ELSE false END)"


def _is_candidate_sql(column: dict[str, str], sample: _Sample, rules: BulkRules) -> str:
    """What makes a row plain besides the layout of its line: its fields and values."""
    limits = rules.limits
    latest = rules.now_ms + limits.import_max_future_ms
    conditions = [
        "NOT contains(raw, '\\')",
        "event IS NOT NULL AND distinct_id IS NOT NULL AND insert_id IS NOT NULL",
        f"time_ms BETWEEN {limits.import_min_time_ms} AND {latest}",
        *(f"({column[k]} IS NULL OR starts_with({column[k]}, '\"'))" for k in ("token", "ip")),
        *(_plain_value_sql(column[k], kinds, limits) for k, kinds in sample.known.items()),
    ]
    # A condition on a missing value is NULL, not false.
    return "coalesce(" + "\n AND ".join(conditions) + ", false)"


def _shape_sql(column: dict[str, str], shapes: list[list[str]]) -> str:
    """1 + the index of the shape whose canonical line the row's line is, byte for byte; 0 for a
    row that is no candidate; -1 for a candidate whose layout `_keys_check_sql` must check.

    A line equal to the one DuckDB would write from the values of exactly these keys has these
    keys once each in this order, no others, no spaces and no trailing comma.
    """
    branches = []
    for n, shape in enumerate(shapes, start=1):
        parts = ["'{\"event\":'", "event_json", "',\"properties\":{'"]
        for index, key in enumerate(shape):
            parts += [_literal(("," if index else "") + f'"{key}":'), column[key]]
        parts.append("'}}'")
        branches.append(f"WHEN raw = concat({', '.join(parts)}) THEN {n}")
    return f"CASE WHEN NOT is_candidate THEN 0 {' '.join(branches)} ELSE -1 END"


def _keys_check_sql(column: dict[str, str], limits: Limits) -> str:
    """The layout of a candidate's line, from its keys: exactly `event` then `properties`, every
    property key found once (none unknown, none repeated: json_extract finds the first of two),
    no trailing comma (DuckDB accepts one, orjson does not), and the size orjson writes it at."""
    pairs = " + ".join(
        f"coalesce(strlen({c}) + {len(k.encode()) + 4}, 0)" for k, c in column.items()
    )
    conditions = [
        "keys[1] = ['event', 'properties']",
        f"len(keys[2]) = found_keys AND found_keys < {limits.max_properties}",
        "ends_with(raw, '}}')",
        *(f"NOT ends_with(raw, {_literal(c + '}}')})" for c in ", \t\r\n"),
        f"strlen(event_json) + {len(RECORD_FRAME)} + 1 + {pairs} <= {limits.max_record_bytes}",
    ]
    return "(" + " AND ".join(conditions) + ")"


def _plain_value_sql(value: str, kinds: frozenset[str], limits: Limits) -> str:
    """A value orjson writes as DuckDB does, kept whole, of a type the sample showed: a string of
    at most `max_string_chars` bytes, a literal, or a number of at most 16 characters, with no
    exponent, not in [1e-6, 1e-5), finite. Cheap tests only: they run on every row."""
    options = [f"{value} IS NULL"]
    if "VARCHAR" in kinds:
        options.append(
            f"(starts_with({value}, '\"') AND strlen({value}) <= {limits.max_string_chars + 2})"
        )
    if kinds & NUMBER_TYPES:
        options.append(
            f"(strlen({value}) <= {MAX_PLAIN_NUMBER_CHARS} AND NOT contains({value}, 'e')"
            f" AND NOT contains({value}, '.00000')"
            f" AND coalesce(isfinite(TRY_CAST({value} AS DOUBLE)), false))"
        )
    if "BOOLEAN" in kinds:
        options.append(f"{value} IN ('true', 'false')")
    if "NULL" in kinds:
        options.append(f"{value} = 'null'")
    return f"({' OR '.join(options)})"


def _fits_sql(quoted: str, max_chars: int) -> str:
    """A quoted string of at most `max_chars` characters, counting them only when bytes exceed."""
    return f"(CASE WHEN strlen({quoted}) <= {max_chars + 2} THEN true ELSE length({quoted}) <= {max_chars + 2} END)"


def _stored_properties_sql(
    column: dict[str, str], shapes: list[list[str]], rules: BulkRules
) -> str:
    """The properties validation would store, as orjson writes them, for plain rows; the row as
    read for the others.

    Validation keeps the event's keys in order without the lifted ones, then adds (Simplified
    only) the id the distinct_id implies, `$import` and `mp_processing_time_ms`. A row whose keys
    come in a common order is written by concatenating its values, which DuckDB wrote as orjson
    does; any other by json_merge_patch, which keeps key order, drops keys patched with null and
    appends the others in the patch's order.
    """
    added = f'"$import":true,"mp_processing_time_ms":{rules.now_ms}}}'
    derived = _derived_ids_sql(rules)
    written = {}
    for n, shape in enumerate(shapes, start=1):
        parts = ["'{'"]
        for key in shape:
            if key not in LIFTED_KEYS:
                parts += [_literal(f'"{key}":'), column[key], "','"]
        written[n] = f"concat({', '.join(parts + [derived, _literal(added)])})"
    by_shape = [f"WHEN shape = {n} THEN {text}" for n, text in written.items()]
    by_keys = [
        f"WHEN keys[2] = [{', '.join(map(_literal, shape))}] THEN {written[n]}"
        for n, shape in enumerate(shapes, start=1)
    ]
    branches = by_shape + by_keys
    removed = ",".join(f'"{k}":null' for k in LIFTED_KEYS)
    opening = _literal('{"event":null,"properties":{' + removed + ",")
    patch = f"({opening} || {derived} || {_literal(added + '}')})"
    # The patched row is {"properties":{…}}: its properties start at character 15.
    merged = f"(json_merge_patch(raw, {patch})::VARCHAR)[15:-2]"
    return f"CASE WHEN NOT is_plain THEN raw {' '.join(branches)} ELSE {merged} END"


def _derived_ids_sql(rules: BulkRules) -> str:
    """In Simplified mode, the `$user_id` or `$device_id` pair the distinct_id implies, and a comma."""
    if rules.identity_mode is not IdentityMode.SIMPLIFIED:
        return "''"
    device = _literal(DEVICE_PREFIX)
    return f"""CASE WHEN distinct_id = '' THEN ''
        WHEN starts_with(distinct_id, {device})
            THEN '"$device_id":"' || distinct_id[{len(DEVICE_PREFIX) + 1}:] || '",'
        ELSE '"$user_id":"' || distinct_id || '",' END"""


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
