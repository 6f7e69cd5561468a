"""Mixpanel's segmentation expressions: the text of a `where` or `on` parameter, parsed to a tree.

The Query and Export APIs filter with `where` and segment with `on`, both written in the language
at https://docs.mixpanel.com/reference/segmentation-expressions. `parse()` turns that text into
the frozen dataclasses below (`Expr`); `kindred.query.sql_expr` compiles them to SQL. From
loosest to tightest binding:

    a or b, a and b          n-ary; a non-boolean operand counts as false
    not a                    looser than comparisons: `not a == b` is `not (a == b)`
    a == b, a != b, a < b, a > b, a <= b, a >= b, a in b, a not in b
                             one per level: `a < b < c` is refused, write `a < b and b < c`
    a + b, a - b             `+` also joins two strings
    a * b, a / b, a % b
    -a
    properties["name"]       the event's (or, in /engage, the profile's) property
    user["name"]             the user's profile property
    event["$time"], event["name"], event["distinct_id"]   the event's own fields
    defined(a)               true when a has a value: the key exists and is not null
    string(a), number(a), boolean(a), datetime(a)         typecasts
    floor(a), round(a), ceil(a)
    "text", 'text'           escapes: \\" \\' \\\\ \\/ \\b \\f \\n \\r \\t \\uHHHH (hex)
    12, 2.5, 1e3, true, false
    [1, "a", true]           constants only, and only after `in`
    datetime("2024-01-31T12:00:00"), datetime(1706702400)  UTC text, or epoch seconds

Mixpanel's grammar names only `properties[...]`; its examples add `user[...]` and
`defined(...)`. `event[...]`, `datetime(...)`, `not in` and single-quoted strings are not on that
page but appear in Mixpanel export examples (SPEC.md §5.1), so kindred accepts them too. Keywords
and functions are lower case. There is no `null`: Mixpanel documents null only as an internal
state, so a missing value is tested with `defined(...)`.
"""

from __future__ import annotations

import datetime as dt
import re
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from kindred.errors import ClientError

MAX_EXPRESSION_CHARS = 100_000
MAX_NESTING = 32  # parentheses and function calls inside each other
MAX_DEPTH = 64  # levels of the tree, which compilation walks recursively

PropertySource = typing.Literal["properties", "user", "event"]
CompareOp = typing.Literal["==", "!=", "<", ">", "<=", ">="]
ArithOp = typing.Literal["+", "-", "*", "/", "%"]
Function = typing.Literal["string", "number", "boolean", "datetime", "floor", "round", "ceil"]

EVENT_FIELDS = {
    "$time": "$time",
    "time": "$time",
    "name": "name",
    "$event_name": "name",
    "event": "name",
    "distinct_id": "distinct_id",
    "$distinct_id": "distinct_id",
}
FUNCTIONS: tuple[Function, ...] = typing.get_args(Function)


class ExpressionError(ClientError):
    """Raised when a `where` or `on` expression cannot be parsed or compiled.

    `position` is the 0-based offset of the offending character in `text`. `text` is None for
    errors found while compiling, where the tree no longer holds it.
    """

    def __init__(self, message: str, position: int, text: str | None = None) -> None:
        self.message = message
        self.position = position
        self.text = text
        super().__init__(f"{message} at position {position}{_quote_text(text, position)}")


def _quote_text(text: str | None, position: int) -> str:
    if text is None:
        return ""
    if len(text) <= 200:
        return f" in: {text}"
    start = max(0, position - 100)
    return f" in: …{text[start : start + 200]}…"


@dataclass(frozen=True, slots=True)
class Literal:
    """A string, number or boolean constant. Numbers are floats, as in Mixpanel."""

    value: str | float | bool
    position: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class DateTime:
    """A constant `datetime(...)`, as epoch milliseconds (UTC)."""

    epoch_ms: int
    position: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class ListLiteral:
    """`[a, b, ...]` of constants; it may only follow `in`."""

    items: tuple[Literal | DateTime, ...]
    position: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Property:
    """`properties["name"]`, `user["name"]` or `event["name"]`; event names are canonical."""

    source: PropertySource
    name: str
    position: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Compare:
    op: CompareOp
    left: Expr
    right: Expr
    position: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class BoolOp:
    op: typing.Literal["and", "or"]
    operands: tuple[Expr, ...]
    position: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Not:
    operand: Expr
    position: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class In:
    """`needle in haystack`: membership in a list, or a substring of a string."""

    needle: Expr
    haystack: Expr
    position: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Defined:
    operand: Expr
    position: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Arith:
    op: ArithOp
    left: Expr
    right: Expr
    position: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Negate:
    operand: Expr
    position: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Call:
    """A typecast or rounding function of one argument (a constant `datetime` is a DateTime)."""

    function: Function
    argument: Expr
    position: int = field(default=0, compare=False)


Expr: typing.TypeAlias = (
    Literal
    | DateTime
    | ListLiteral
    | Property
    | Compare
    | BoolOp
    | Not
    | In
    | Defined
    | Arith
    | Negate
    | Call
)


def children(expr: Expr) -> tuple[Expr, ...]:
    """The direct sub-expressions of `expr`, left to right."""
    match expr:
        case Literal() | DateTime() | Property():
            return ()
        case ListLiteral(items=items):
            return items
        case Compare(left=left, right=right) | Arith(left=left, right=right):
            return (left, right)
        case BoolOp(operands=operands):
            return operands
        case Not(operand=operand) | Defined(operand=operand) | Negate(operand=operand):
            return (operand,)
        case In(needle=needle, haystack=haystack):
            return (needle, haystack)
        case Call(argument=argument):
            return (argument,)


def walk(expr: Expr) -> Iterator[tuple[Expr, int]]:
    """Every node of the tree with its depth (the root is at 1), without recursion."""
    stack = [(expr, 1)]
    while stack:
        node, depth = stack.pop()
        yield node, depth
        stack.extend((child, depth + 1) for child in reversed(children(node)))


def references_user(expr: Expr) -> bool:
    """True when the expression reads a `user["..."]` property, so profiles must be joined."""
    return any(isinstance(node, Property) and node.source == "user" for node, _ in walk(expr))


def parse(text: str) -> Expr:
    """The tree of a segmentation expression; raises ExpressionError naming where it is wrong."""
    if len(text) > MAX_EXPRESSION_CHARS:
        raise ExpressionError(
            f"the expression is {len(text)} characters long; the limit is {MAX_EXPRESSION_CHARS}",
            MAX_EXPRESSION_CHARS,
        )

    expr = _Parser(text).parse()
    for node, depth in walk(expr):
        if depth > MAX_DEPTH:
            raise ExpressionError(
                f"the expression nests more than {MAX_DEPTH} levels deep", node.position, text
            )
    return expr


def _datetime_ms(value: str | float, position: int, text: str | None = None) -> int:
    """Epoch milliseconds of `datetime(value)`: ISO text in UTC unless it names a zone, or epoch
    seconds. Raises ExpressionError when the value is not a date kindred can store."""
    if isinstance(value, str):
        moment = _parse_iso(value, position, text)
    else:
        moment = _from_epoch_seconds(value, position, text)
    return (moment - _EPOCH) // dt.timedelta(milliseconds=1)


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}([T ].*)?")


def _parse_iso(value: str, position: int, text: str | None) -> dt.datetime:
    try:
        if not _ISO_DATE.fullmatch(value):
            raise ValueError(value)
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise ExpressionError(
            f"datetime({value!r}) is not a date; write it as YYYY-MM-DDTHH:MM:SS (UTC), "
            "YYYY-MM-DD, or epoch seconds",
            position,
            text,
        ) from None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=dt.UTC)
    return moment


def _from_epoch_seconds(seconds: float, position: int, text: str | None) -> dt.datetime:
    try:
        return _EPOCH + dt.timedelta(seconds=seconds)
    except OverflowError:
        raise ExpressionError(
            f"datetime({seconds!r}) is out of range; give epoch seconds between year 1 and 9999",
            position,
            text,
        ) from None


class _Token(typing.NamedTuple):
    kind: typing.Literal["number", "string", "name", "op", "end"]
    text: str  # as written
    position: int
    value: str | float = ""  # the decoded string or number


_NUMBER = re.compile(r"(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")
_NAME = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")
_HEX4 = re.compile(r"[0-9A-Fa-f]{4}")
_OPERATORS = ("==", "!=", "<=", ">=", "<", ">", "+", "-", "*", "/", "%", "(", ")", "[", "]", ",")
_COMPARE_OPS = frozenset(("==", "!=", "<", ">", "<=", ">="))
_MISTAKES = {
    "&&": 'write "and"',
    "||": 'write "or"',
    "=": 'compare with "=="',
    "!": 'write "not", or "!=" to compare',
    "&": 'write "and"',
    "|": 'write "or"',
}
_ESCAPES = {
    '"': '"',
    "'": "'",
    "\\": "\\",
    "/": "/",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
}
_KEYWORDS = frozenset(("and", "or", "not", "in", "true", "false", "properties", "user", "event"))


def _tokenize(text: str) -> list[_Token]:
    tokens = []
    position = 0
    while True:
        while position < len(text) and text[position] in " \t\r\n":
            position += 1
        if position == len(text):
            tokens.append(_Token("end", "", position))
            return tokens
        token = _next_token(text, position)
        tokens.append(token)
        position += len(token.text)


def _next_token(text: str, position: int) -> _Token:
    if text[position] in "\"'":
        return _string_token(text, position)
    if number := _NUMBER.match(text, position):
        return _number_token(number.group(), position, text)
    if name := _NAME.match(text, position):
        return _Token("name", name.group(), position)
    for operator in _OPERATORS:
        if text.startswith(operator, position):
            return _Token("op", operator, position)
    for mistake, hint in _MISTAKES.items():
        if text.startswith(mistake, position):
            raise ExpressionError(f'unexpected "{mistake}"; {hint}', position, text)
    raise ExpressionError(f"unexpected character {text[position]!r}", position, text)


def _number_token(written: str, position: int, text: str) -> _Token:
    value = float(written)
    if value == float("inf"):
        raise ExpressionError(f"the number {written} is too large", position, text)
    return _Token("number", written, position, value)


def _string_token(text: str, start: int) -> _Token:
    quote = text[start]
    chars: list[str] = []
    position = start + 1
    while position < len(text):
        char = text[position]
        if char == quote:
            return _Token("string", text[start : position + 1], start, "".join(chars))
        if char == "\\":
            char, position = _escape(text, position)
        elif "\ud800" <= char <= "\udfff":
            raise ExpressionError("the string holds half of a surrogate pair", position, text)
        else:
            position += 1
        chars.append(char)
    raise ExpressionError(f"unterminated string; end it with {quote}", start, text)


def _escape(text: str, position: int) -> tuple[str, int]:
    """The character a backslash escape at `position` stands for, and the position after it."""
    code = text[position + 1 : position + 2]
    if code in _ESCAPES:
        return _ESCAPES[code], position + 2
    if code == "u":
        return _unicode_escape(text, position)
    raise ExpressionError(
        f'unknown escape "\\{code}"; write "\\\\" for a backslash', position, text
    )


def _unicode_escape(text: str, position: int) -> tuple[str, int]:
    first = _hex4(text, position)
    if 0xD800 <= first < 0xDC00 and text.startswith("\\u", position + 6):
        second = _hex4(text, position + 6)
        if 0xDC00 <= second < 0xE000:
            return chr(0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)), position + 12
    if 0xD800 <= first < 0xE000:
        raise ExpressionError(
            "the \\u escape is half of a surrogate pair; give both halves", position, text
        )
    return chr(first), position + 6


def _hex4(text: str, position: int) -> int:
    digits = _HEX4.match(text, position + 2)
    if digits is None:
        raise ExpressionError('"\\u" must be followed by 4 hex digits', position, text)
    return int(digits.group(), 16)


def _describe(token: _Token) -> str:
    if token.kind == "end":
        return "end of expression"
    if token.kind == "string":
        return f"string {token.text[:40]}"
    return f'"{token.text}"'


class _Parser:
    """Recursive descent over the tokens, one method per level of binding."""

    def __init__(self, text: str) -> None:
        self._text = text
        self._tokens = _tokenize(text)
        self._index = 0
        self._nesting = 0

    def parse(self) -> Expr:
        if self._peek().kind == "end":
            raise self._error(
                'the expression is empty; write one like properties["$os"] == "iOS"', 0
            )
        expr = self._expression()
        token = self._peek()
        if token.kind != "end":
            raise self._unexpected(token, "expected an operator such as and, or, == or the end")
        return expr

    def _expression(self) -> Expr:
        self._nesting += 1
        if self._nesting > MAX_NESTING:
            message = f"more than {MAX_NESTING} levels of parentheses and function calls"
            raise self._error(message, self._peek().position)
        expr = self._or()
        self._nesting -= 1
        return expr

    def _or(self) -> Expr:
        return self._bool_op("or", self._and)

    def _and(self) -> Expr:
        return self._bool_op("and", self._not)

    def _bool_op(self, op: typing.Literal["and", "or"], operand: Callable[[], Expr]) -> Expr:
        operands = [operand()]
        position = self._peek().position
        while self._accept("name", op):
            operands.append(operand())
        if len(operands) == 1:
            return operands[0]
        return BoolOp(op, tuple(operands), position)

    def _not(self) -> Expr:
        positions = []
        while token := self._accept("name", "not"):
            positions.append(token.position)
        expr = self._comparison()
        for position in reversed(positions):
            expr = Not(expr, position)
        return expr

    def _comparison(self) -> Expr:
        left = self._additive()
        token = self._peek()
        if token.kind == "op" and token.text in _COMPARE_OPS:
            self._advance()
            op = typing.cast(CompareOp, token.text)
            expr: Expr = Compare(op, left, self._additive(), token.position)
        elif self._accept("name", "in"):
            expr = In(left, self._haystack(), token.position)
        elif self._at_not_in():
            self._index += 2
            expr = Not(In(left, self._haystack(), token.position), token.position)
        else:
            return left

        after = self._peek()
        if (after.kind == "op" and after.text in _COMPARE_OPS) or self._at("name", "in"):
            raise self._error('comparisons do not chain; join them with "and"', after.position)
        return expr

    def _at_not_in(self) -> bool:
        following = self._tokens[min(self._index + 1, len(self._tokens) - 1)]
        return self._at("name", "not") and following.kind == "name" and following.text == "in"

    def _haystack(self) -> Expr:
        if self._at("op", "["):
            return self._list()
        return self._additive()

    def _additive(self) -> Expr:
        return self._arith(("+", "-"), self._multiplicative)

    def _multiplicative(self) -> Expr:
        return self._arith(("*", "/", "%"), self._unary)

    def _arith(self, ops: tuple[str, ...], operand: Callable[[], Expr]) -> Expr:
        expr = operand()
        while (token := self._peek()).kind == "op" and token.text in ops:
            self._advance()
            expr = Arith(typing.cast(ArithOp, token.text), expr, operand(), token.position)
        return expr

    def _unary(self) -> Expr:
        positions = []
        while token := self._accept("op", "-"):
            positions.append(token.position)
        expr = self._primary()
        for position in reversed(positions):
            expr = _negate(expr, position)
        return expr

    def _primary(self) -> Expr:
        token = self._advance()
        if token.kind in ("number", "string"):
            return Literal(token.value, token.position)
        if token.kind == "name":
            return self._named(token)
        if token.text == "(":
            expr = self._expression()
            self._expect(")", f'to close the "(" at position {token.position}')
            return expr
        if token.text == "[":
            message = 'a list [...] may only follow "in", as in properties["n"] in [1, 2]'
            raise self._error(message, token.position)
        raise self._unexpected(token, "expected a value")

    def _named(self, token: _Token) -> Expr:
        if token.text in ("true", "false"):
            return Literal(token.text == "true", token.position)
        if token.text in ("properties", "user", "event"):
            return self._property(token)
        if self._at("op", "("):
            return self._call(token)
        if token.text in _KEYWORDS:
            raise self._unexpected(token, "expected a value")
        raise self._error(_unknown_name(token.text), token.position)

    def _property(self, token: _Token) -> Property:
        example = f'{token.text}["name"]'
        self._expect("[", f"as in {example}")
        key = self._advance()
        if key.kind != "string":
            raise self._unexpected(key, f"expected the name as a quoted string, as in {example}")
        self._expect("]", f"after the name, as in {example}")

        source = typing.cast(PropertySource, token.text)
        name = str(key.value)
        if source == "event":
            if name not in EVENT_FIELDS:
                message = (
                    f'event[{key.text}] is not an event field; use event["$time"], '
                    f'event["name"] or event["distinct_id"], or properties[{key.text}]'
                )
                raise self._error(message, key.position)
            name = EVENT_FIELDS[name]
        return Property(source, name, token.position)

    def _call(self, token: _Token) -> Expr:
        name = token.text
        if name != "defined" and name not in FUNCTIONS:
            raise self._error(_unknown_function(name), token.position)
        self._advance()
        argument = self._expression()
        self._expect(")", f"to close {name}(...), which takes one argument")

        if name == "defined":
            return Defined(argument, token.position)
        if name == "datetime" and isinstance(argument, Literal):
            return self._datetime(argument, token.position)
        return Call(typing.cast(Function, name), argument, token.position)

    def _datetime(self, argument: Literal, position: int) -> DateTime:
        if isinstance(argument.value, bool):
            written = "true" if argument.value else "false"
            message = f"datetime() takes a date string or epoch seconds, not {written}"
            raise self._error(message, argument.position)
        return DateTime(_datetime_ms(argument.value, argument.position, self._text), position)

    def _list(self) -> ListLiteral:
        start = self._advance()
        items = []
        if not self._accept("op", "]"):
            items.append(self._constant())
            while not self._accept("op", "]"):
                self._expect(",", 'between items, or "]" to end the list')
                items.append(self._constant())
        return ListLiteral(tuple(items), start.position)

    def _constant(self) -> Literal | DateTime:
        position = self._peek().position
        item = self._unary()
        if not isinstance(item, Literal | DateTime):
            message = "a list holds only constants: strings, numbers, true, false, datetime(...)"
            raise self._error(message, position)
        return item

    def _peek(self) -> _Token:
        return self._tokens[self._index]

    def _advance(self) -> _Token:
        token = self._tokens[self._index]
        if token.kind != "end":
            self._index += 1
        return token

    def _at(self, kind: str, text: str) -> bool:
        token = self._tokens[self._index]
        return token.kind == kind and token.text == text

    def _accept(self, kind: str, text: str) -> _Token | None:
        if not self._at(kind, text):
            return None
        return self._advance()

    def _expect(self, text: str, context: str) -> _Token:
        token = self._accept("op", text)
        if token is None:
            raise self._unexpected(self._peek(), f'expected "{text}" {context}')
        return token

    def _unexpected(self, token: _Token, expected: str) -> ExpressionError:
        lower = token.text.lower()
        if token.kind == "name" and lower in _KEYWORDS and lower != token.text:
            expected = f'did you mean "{lower}"? Keywords are lower case'
        return self._error(f"unexpected {_describe(token)}, {expected}", token.position)

    def _error(self, message: str, position: int) -> ExpressionError:
        return ExpressionError(message, position, self._text)


def _negate(expr: Expr, position: int) -> Expr:
    match expr:
        case Literal(value=float() as number):
            return Literal(-number, position)
    return Negate(expr, position)


def _unknown_name(name: str) -> str:
    if name.lower() in _KEYWORDS:
        return f'unknown name "{name}"; did you mean "{name.lower()}"? Keywords are lower case'
    if name.lower() in ("null", "none", "undefined", "nil"):
        return f"there is no {name}; test for a missing value with defined(...) or not defined(...)"
    return f'unknown name "{name}"; a property is written properties["{name}"]'


def _unknown_function(name: str) -> str:
    known = sorted((*FUNCTIONS, "defined"))
    if name.lower() in known:
        return f'unknown function "{name}"; did you mean "{name.lower()}"? Functions are lower case'
    return f'unknown function "{name}"; the functions are {", ".join(known)}'
