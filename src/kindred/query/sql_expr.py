"""Segmentation expressions (`kindred.query.expr`) compiled to DuckDB SQL.

Types follow Mixpanel's documented rules
(https://docs.mixpanel.com/reference/segmentation-expressions): a value is a string, number,
boolean or undefined, and a property's type is its JSON type, never guessed from its text.

- `==` is true only when both sides have the same type and value, so `properties["n"] == 5`
  does not match the string "5" (write `number(properties["n"]) == 5`), and a missing property
  equals nothing. `!=` is its negation, so a missing property *is* `!= "x"`, as documented.
- `<`, `>`, `<=`, `>=` compare two numbers, two datetimes or two strings; any other pair is
  undefined. The docs name only numbers; kindred also orders strings (by code point) and dates.
- Datetimes are `event["$time"]`, `datetime(...)`, and string properties written as ISO dates
  ("2024-01-02", "2024-01-02T03:04:05", with optional fraction and "Z"), which are then both a
  string and a datetime, like Mixpanel's date type. On events `properties["time"]` is the event
  time, as epoch seconds and as a datetime, since Mixpanel keeps `time` among the properties.
- `a in b` is true when b is a list literal holding a value equal to a, a string containing the
  string a, or a list property with an element equal to a (strings, numbers and booleans, by
  type); otherwise false or, for mismatched types, undefined.
- `and` and `or` treat any operand that is not a boolean as false. Mixpanel raises an error for
  strings and numbers there; SQL cannot raise per row, and refusing a whole query for one row
  would be worse. `not` flips a boolean, makes undefined true and anything else undefined.
- Arithmetic needs numbers (`+` also joins strings); dividing by zero is undefined, and `%`
  takes the dividend's sign. Typecasts follow Mixpanel's tables; where they are silent,
  number(datetime) is epoch seconds and datetime(number) reads epoch seconds.
- A `where` keeps a row only when its value is true: undefined and non-booleans drop it.

Property names reach the SQL only as JSON pointers inside quoted literals, and strings only as
quoted literals with their quotes doubled, so no expression can change the shape of the SQL.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from kindred.query.expr import (
    Arith,
    BoolOp,
    Call,
    Compare,
    DateTime,
    Defined,
    Expr,
    ExpressionError,
    Function,
    In,
    ListLiteral,
    Literal,
    Negate,
    Not,
    Property,
)

MAX_SQL_CHARS = 1_000_000

_NUMBER_TYPES = "('BIGINT', 'UBIGINT', 'HUGEINT', 'UHUGEINT', 'DOUBLE')"
_ISO_DATE = r"^(\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?Z?)$"
_DECIMAL = r"^\s*([-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?)\s*$"
# datetime(n) accepts the years 1 to 9999, which DuckDB's timestamps can always format.
_MIN_EPOCH_SECONDS = -62_135_596_800
_MAX_EPOCH_SECONDS = 253_402_300_799


@dataclass(frozen=True, slots=True)
class Columns:
    """The SQL expressions a compiled expression reads; the caller owns the FROM clause.

    `properties` and `user` are JSON text (VARCHAR); `time_ms` is epoch milliseconds (BIGINT).
    A field is None where the query has no such column: `time_ms` and `event` on profiles,
    `user` when profiles are not joined, `distinct_id` when the caller does not expose it.
    """

    properties: str
    time_ms: str | None
    event: str | None
    user: str | None
    distinct_id: str | None = None


def compile_predicate(expr: Expr, columns: Columns) -> str:
    """A BOOLEAN SQL expression, never NULL: true exactly where `expr` is true."""
    return _truth(_compile(expr, columns))


def compile_segment(expr: Expr, columns: Columns) -> str:
    """A VARCHAR SQL expression labelling each row's segment, NULL where `expr` is undefined.

    Strings are themselves, numbers print without a trailing ".0" (5 → "5", 2.5 → "2.5"),
    booleans are "true" or "false", datetimes YYYY-MM-DDTHH:MM:SS and lists their JSON text.
    """
    value = _compile(expr, columns)
    parts = [*_string_parts(value), _map(value.array, lambda json: f"CAST({json} AS VARCHAR)")]
    return _first_or(parts, "CAST(NULL AS VARCHAR)")


def compile_number(expr: Expr, columns: Columns) -> str:
    """A DOUBLE SQL expression, NULL where `expr` is not a number (callers sum it as 0.0)."""
    return _compile(expr, columns).number or "CAST(NULL AS DOUBLE)"


@dataclass(frozen=True, slots=True)
class _Value:
    """An expression's value as SQL, one fragment per type it may have in a row.

    A fragment is NULL in the rows where the value has another type (or none); a field is None
    when the type is impossible. `defined` overrides the default "some fragment is not NULL"
    for JSON properties, which may also hold objects or null.
    """

    number: str | None = None  # DOUBLE
    string: str | None = None  # VARCHAR
    boolean: str | None = None  # BOOLEAN
    datetime: str | None = None  # BIGINT epoch milliseconds
    array: str | None = None  # JSON array
    defined: str | None = None  # BOOLEAN


def _fragments(value: _Value) -> dict[str, str]:
    named = {
        "number": value.number,
        "string": value.string,
        "boolean": value.boolean,
        "datetime": value.datetime,
        "array": value.array,
    }
    return {kind: sql for kind, sql in named.items() if sql is not None}


def _compile(expr: Expr, columns: Columns) -> _Value:
    value = _compile_node(expr, columns)
    # Each node reads its operands' fragments about once, but a few read one twice; a
    # pathological nesting of those would double the SQL at every level.
    if sum(len(sql) for sql in _fragments(value).values()) > MAX_SQL_CHARS:
        raise ExpressionError("the expression is too complex to compile", expr.position)
    return value


def _compile_node(expr: Expr, columns: Columns) -> _Value:
    match expr:
        case Literal(value=bool() as flag):
            return _Value(boolean="true" if flag else "false")
        case Literal(value=str() as text):
            return _Value(string=_sql_string(text))
        case Literal(value=int() | float() as number):
            return _Value(number=f"CAST('{float(number)!r}' AS DOUBLE)")
        case DateTime(epoch_ms=epoch_ms):
            return _Value(datetime=f"CAST({int(epoch_ms)} AS BIGINT)")
        case Property():
            return _property(expr, columns)
        case Compare(op=op, left=left, right=right):
            return _compare(op, _compile(left, columns), _compile(right, columns))
        case BoolOp(op=op, operands=operands):
            truths = [_truth(_compile(operand, columns)) for operand in operands]
            return _Value(boolean="(" + f" {op.upper()} ".join(truths) + ")")
        case Not(operand=operand):
            return _not(_compile(operand, columns))
        case In(needle=needle, haystack=ListLiteral(items=items)):
            constants = [_compile(item, columns) for item in items]
            return _in_list(_compile(needle, columns), constants)
        case In(needle=needle, haystack=haystack):
            return _in_value(_compile(needle, columns), _compile(haystack, columns))
        case Defined(operand=operand):
            return _Value(boolean=_defined(_compile(operand, columns)))
        case Arith(op=op, left=left, right=right):
            return _arith(op, _compile(left, columns), _compile(right, columns))
        case Negate(operand=operand):
            negated = _compile(operand, columns).number
            return _Value(number=_map(negated, lambda n: f"(-{n})"))
        case Call(function=function, argument=argument):
            return _CASTS[function](_compile(argument, columns))
        case ListLiteral(position=position):
            raise ExpressionError('a list [...] may only follow "in"', position)
    raise TypeError(f"not an expression node: {expr!r}")


def _property(prop: Property, columns: Columns) -> _Value:
    if prop.source == "event":
        return _event_field(prop, columns)
    if prop.source == "user":
        if columns.user is None:
            message = f'user["{prop.name}"] needs user profiles, which this query cannot join'
            raise ExpressionError(message, prop.position)
        return _json_value(columns.user, prop.name)

    if prop.name == "time" and columns.time_ms is not None:
        return _Value(
            number=f"(CAST({columns.time_ms} AS DOUBLE) / 1000)", datetime=columns.time_ms
        )
    if prop.name == "distinct_id" and columns.distinct_id is not None:
        return _Value(string=columns.distinct_id)
    return _json_value(columns.properties, prop.name)


def _event_field(prop: Property, columns: Columns) -> _Value:
    sql = {"$time": columns.time_ms, "name": columns.event, "distinct_id": columns.distinct_id}
    column = sql.get(prop.name)
    if column is None:
        message = f'event["{prop.name}"] is not available here: this query reads no such field'
        raise ExpressionError(message, prop.position)
    if prop.name == "$time":
        return _Value(datetime=column)
    return _Value(string=column)


def _json_value(column: str, name: str) -> _Value:
    # A JSON pointer (RFC 6901) needs only "~" and "/" escaped, unlike a JSONPath.
    pointer = _sql_string("/" + name.replace("~", "~0").replace("/", "~1"))
    kind = f"json_type({column}, {pointer})"
    text = f"json_extract_string({column}, {pointer})"
    return _Value(
        number=f"CASE WHEN {kind} IN {_NUMBER_TYPES} THEN TRY_CAST({text} AS DOUBLE) END",
        string=f"CASE WHEN {kind} = 'VARCHAR' THEN {text} END",
        boolean=f"CASE WHEN {kind} = 'BOOLEAN' THEN {text} = 'true' END",
        datetime=f"CASE WHEN {kind} = 'VARCHAR' THEN {_parse_datetime(text)} END",
        array=f"CASE WHEN {kind} = 'ARRAY' THEN json_extract({column}, {pointer}) END",
        defined=f"coalesce({kind} <> 'NULL', false)",
    )


def _compare(op: str, left: _Value, right: _Value) -> _Value:
    if op in ("==", "!="):
        pairs = _pairs(left, right, ("number", "string", "boolean", "datetime"))
        equal = _first_or([f"({a} = {b})" for a, b in pairs], "false")
        return _Value(boolean=equal if op == "==" else f"(NOT {equal})")
    # Datetimes before strings, so two ISO date strings compare as the moments they name.
    pairs = _pairs(left, right, ("number", "datetime", "string"))
    return _Value(boolean=_first([f"({a} {op} {b})" for a, b in pairs]))


def _pairs(left: _Value, right: _Value, kinds: tuple[str, ...]) -> list[tuple[str, str]]:
    lefts, rights = _fragments(left), _fragments(right)
    return [(lefts[kind], rights[kind]) for kind in kinds if kind in lefts and kind in rights]


def _not(value: _Value) -> _Value:
    if value.defined is None and _fragments(value).keys() == {"boolean"}:
        return _Value(boolean=f"coalesce(NOT {value.boolean}, true)")
    is_undefined = f"NOT {_defined(value)}"
    if value.boolean is None:
        return _Value(boolean=f"CASE WHEN {is_undefined} THEN true END")
    flipped = f"WHEN {value.boolean} IS NOT NULL THEN NOT {value.boolean}"
    return _Value(boolean=f"CASE {flipped} WHEN {is_undefined} THEN true END")


def _defined(value: _Value) -> str:
    if value.defined is not None:
        return value.defined
    tests = [f"{sql} IS NOT NULL" for sql in _fragments(value).values()]
    return "(" + " OR ".join(tests) + ")" if tests else "false"


def _in_list(needle: _Value, constants: list[_Value]) -> _Value:
    listed: dict[str, list[str]] = {}
    for constant in constants:
        for kind, sql in _fragments(constant).items():
            listed.setdefault(kind, []).append(sql)
    fragments = _fragments(needle)
    tests = [
        f"coalesce({fragments[kind]} IN ({', '.join(sqls)}), false)"
        for kind, sqls in listed.items()
        if kind in fragments
    ]
    return _Value(boolean="(" + " OR ".join(tests) + ")" if tests else "false")


def _in_value(needle: _Value, haystack: _Value) -> _Value:
    tests: list[str | None] = []
    if needle.string is not None and haystack.string is not None:
        tests.append(f"contains({haystack.string}, {needle.string})")
    if haystack.array is not None:
        # Elements as JSON text: a string element keeps its quotes, so "5" never matches 5.
        elements = f"CAST(json_extract({haystack.array}, '$[*]') AS VARCHAR[])"
        if needle.string is not None:
            tests.append(f"list_contains({elements}, CAST(to_json({needle.string}) AS VARCHAR))")
        if needle.number is not None:
            tests.append(f"list_contains(TRY_CAST({elements} AS DOUBLE[]), {needle.number})")
        if needle.boolean is not None:
            tests.append(f"list_contains({elements}, CAST({needle.boolean} AS VARCHAR))")
    return _Value(boolean=_first(tests))


def _arith(op: str, left: _Value, right: _Value) -> _Value:
    if op == "+":
        return _Value(
            number=_both("({} + {})", left.number, right.number),
            string=_both("({} || {})", left.string, right.string),
        )
    template = {
        "-": "({} - {})",
        "*": "({} * {})",
        "/": "({} / nullif({}, 0))",
        "%": "({} % nullif({}, 0))",
    }[op]
    return _Value(number=_both(template, left.number, right.number))


def _both(template: str, left: str | None, right: str | None) -> str | None:
    if left is None or right is None:
        return None
    return template.format(left, right)


def _cast_string(value: _Value) -> _Value:
    return _Value(string=_first(_string_parts(value)))


def _cast_number(value: _Value) -> _Value:
    decimal = _sql_string(_DECIMAL)
    parts = [
        value.number,
        _map(value.string, lambda s: f"TRY_CAST(regexp_extract({s}, {decimal}, 1) AS DOUBLE)"),
        _map(value.boolean, lambda b: f"CAST({b} AS DOUBLE)"),
        _map(value.datetime, lambda ms: f"(CAST({ms} AS DOUBLE) / 1000)"),
    ]
    return _Value(number=_first(parts))


def _cast_boolean(value: _Value) -> _Value:
    # Mixpanel's data-type docs: "", "false", 0, null and undefined are false; any other value
    # (a date, a list) is true.
    parts = [
        value.boolean,
        _map(value.number, lambda n: f"({n} <> 0)"),
        _map(value.string, lambda s: f"({s} NOT IN ('', 'false'))"),
    ]
    is_other_value = value.defined or _defined(_Value(datetime=value.datetime, array=value.array))
    return _Value(boolean=_first_or(parts, is_other_value))


def _cast_datetime(value: _Value) -> _Value:
    from_text = value.datetime or _map(value.string, _parse_datetime)
    from_seconds = _map(
        value.number,
        lambda n: (
            f"CASE WHEN {n} BETWEEN {_MIN_EPOCH_SECONDS} AND {_MAX_EPOCH_SECONDS} "
            f"THEN CAST(round({n} * 1000) AS BIGINT) END"
        ),
    )
    return _Value(datetime=_first([from_text, from_seconds]))


def _rounding(function: str) -> Callable[[_Value], _Value]:
    return lambda value: _Value(number=_map(value.number, lambda n: f"{function}({n})"))


_CASTS: dict[Function, Callable[[_Value], _Value]] = {
    "string": _cast_string,
    "number": _cast_number,
    "boolean": _cast_boolean,
    "datetime": _cast_datetime,
    "floor": _rounding("floor"),
    "round": _rounding("round"),
    "ceil": _rounding("ceil"),
}


def _string_parts(value: _Value) -> list[str | None]:
    return [
        value.string,
        _map(value.number, lambda n: rf"regexp_replace(CAST({n} AS VARCHAR), '\.0$', '')"),
        _map(value.boolean, lambda b: f"CAST({b} AS VARCHAR)"),
        _map(value.datetime, lambda ms: f"strftime(epoch_ms({ms}), '%Y-%m-%dT%H:%M:%S')"),
    ]


def _parse_datetime(text: str) -> str:
    pattern = _sql_string(_ISO_DATE)
    return f"epoch_ms(TRY_CAST(regexp_extract({text}, {pattern}, 1) AS TIMESTAMP))"


def _map(sql: str | None, build: Callable[[str], str]) -> str | None:
    return None if sql is None else build(sql)


def _truth(value: _Value) -> str:
    return "false" if value.boolean is None else f"coalesce({value.boolean}, false)"


def _first(parts: list[str | None]) -> str | None:
    """The first part that is not NULL in a row; None when no part is possible."""
    present = [part for part in parts if part is not None]
    if len(present) <= 1:
        return present[0] if present else None
    return f"coalesce({', '.join(present)})"


def _first_or(parts: list[str | None], otherwise: str) -> str:
    return _first([*parts, otherwise]) or otherwise


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
