"""Parsing segmentation expressions: the trees they make and the errors that point at mistakes."""

from __future__ import annotations

import pytest

from kindred.errors import ClientError
from kindred.query.expr import (
    MAX_EXPRESSION_CHARS,
    Arith,
    BoolOp,
    Call,
    Compare,
    DateTime,
    Defined,
    Expr,
    ExpressionError,
    In,
    ListLiteral,
    Literal,
    Negate,
    Not,
    Property,
    parse,
    references_user,
    walk,
)

A = Property("properties", "a")
B = Property("properties", "b")
JAN_1_2024_MS = 1_704_067_200_000


@pytest.mark.parametrize(
    ("text", "tree"),
    [
        pytest.param('properties["a"]', A, id="property"),
        pytest.param('  properties [ "a" ]  ', A, id="spaces-inside-property"),
        pytest.param("properties['a']", A, id="single-quoted-name"),
        pytest.param('user["$email"]', Property("user", "$email"), id="user"),
        pytest.param('event["$time"]', Property("event", "$time"), id="event-time"),
        pytest.param('event["time"]', Property("event", "$time"), id="event-time-alias"),
        pytest.param('event["$event_name"]', Property("event", "name"), id="event-name-alias"),
        pytest.param('event["$distinct_id"]', Property("event", "distinct_id"), id="event-id"),
        pytest.param("12", Literal(12.0), id="integer"),
        pytest.param("2.5e3", Literal(2500.0), id="exponent"),
        pytest.param(".5", Literal(0.5), id="leading-dot"),
        pytest.param("-3", Literal(-3.0), id="negative-number-folds"),
        pytest.param("true", Literal(True), id="true"),
        pytest.param("false", Literal(False), id="false"),
        pytest.param(r'"a\"b\\c\/\n\t\u00e9"', Literal('a"b\\c/\n\té'), id="escapes"),
        pytest.param(r"'it\'s'", Literal("it's"), id="single-quoted-escape"),
        pytest.param(r'"\ud83d\ude00"', Literal("😀"), id="surrogate-pair"),
        pytest.param('"日本"', Literal("日本"), id="raw-unicode"),
        pytest.param('properties["a"]==1', Compare("==", A, Literal(1.0)), id="equals"),
        pytest.param('properties["a"] != "x"', Compare("!=", A, Literal("x")), id="not-equals"),
        pytest.param('properties["a"] >= properties["b"]', Compare(">=", A, B), id="at-least"),
        pytest.param(
            'properties["a"] in [1, "x", true, -2, datetime(0)]',
            In(
                A,
                ListLiteral(
                    (Literal(1.0), Literal("x"), Literal(True), Literal(-2.0), DateTime(0))
                ),
            ),
            id="in-list",
        ),
        pytest.param('properties["a"] in []', In(A, ListLiteral(())), id="in-empty-list"),
        pytest.param(
            '"x" not in properties["a"]', Not(In(Literal("x"), A)), id="not-in-is-not-of-in"
        ),
        pytest.param('defined(properties["a"])', Defined(A), id="defined"),
        pytest.param('not defined(properties["a"])', Not(Defined(A)), id="not-defined"),
        pytest.param(
            'not properties["a"] == 1',
            Not(Compare("==", A, Literal(1.0))),
            id="not-is-looser-than-comparison",
        ),
        pytest.param(
            "true or false and true",
            BoolOp("or", (Literal(True), BoolOp("and", (Literal(False), Literal(True))))),
            id="and-binds-tighter-than-or",
        ),
        pytest.param(
            "true or false or true",
            BoolOp("or", (Literal(True), Literal(False), Literal(True))),
            id="or-is-n-ary",
        ),
        pytest.param(
            "1 + 2 * 3 - 4",
            Arith(
                "-", Arith("+", Literal(1.0), Arith("*", Literal(2.0), Literal(3.0))), Literal(4.0)
            ),
            id="arithmetic-precedence",
        ),
        pytest.param(
            '(1 + 2) % properties["a"] / 2',
            Arith("/", Arith("%", Arith("+", Literal(1.0), Literal(2.0)), A), Literal(2.0)),
            id="parentheses",
        ),
        pytest.param('-properties["a"]', Negate(A), id="negate-property"),
        pytest.param('- -properties["a"]', Negate(Negate(A)), id="double-negate"),
        pytest.param('number(properties["a"])', Call("number", A), id="typecast"),
        pytest.param('floor(properties["a"] / 2)', Call("floor", Arith("/", A, Literal(2.0)))),
        pytest.param('datetime("2024-01-01T00:00:00")', DateTime(JAN_1_2024_MS), id="iso"),
        pytest.param('datetime("2024-01-01")', DateTime(JAN_1_2024_MS), id="iso-date"),
        pytest.param(
            'datetime("2024-01-01T01:00:00+01:00")', DateTime(JAN_1_2024_MS), id="iso-offset"
        ),
        pytest.param('datetime("2024-01-01T00:00:00Z")', DateTime(JAN_1_2024_MS), id="iso-z"),
        pytest.param("datetime(1704067200)", DateTime(JAN_1_2024_MS), id="epoch-seconds"),
        pytest.param("datetime(-1.5)", DateTime(-1500), id="before-epoch"),
        pytest.param('datetime(properties["a"])', Call("datetime", A), id="datetime-cast"),
    ],
)
def test_parse_builds_the_tree(text: str, tree: Expr) -> None:
    assert parse(text) == tree


@pytest.mark.parametrize(
    ("text", "position", "fragment"),
    [
        pytest.param('properties["a"] == )', 19, 'unexpected ")"', id="missing-operand"),
        pytest.param('properties["a"] ==', 18, "unexpected end of expression", id="ends-early"),
        pytest.param("", 0, "empty", id="empty"),
        pytest.param("  \n ", 0, "empty", id="blank"),
        pytest.param('properties["a] == 1', 11, "unterminated string", id="unterminated-name"),
        pytest.param("'abc", 0, "unterminated string; end it with '", id="unterminated-single"),
        pytest.param(r'"abc\"', 0, "unterminated string", id="escaped-closing-quote"),
        pytest.param(r'"a\qb"', 2, r'unknown escape "\q"', id="unknown-escape"),
        pytest.param(r'"\u12"', 1, "4 hex digits", id="short-unicode-escape"),
        pytest.param(r'"\ud800"', 1, "surrogate", id="lone-surrogate"),
        pytest.param('lower(properties["a"])', 0, 'unknown function "lower"', id="unknown-fn"),
        pytest.param("Defined(1)", 0, 'did you mean "defined"', id="capitalised-function"),
        pytest.param('properties["a"] == 1 2', 21, 'unexpected "2"', id="trailing-token"),
        pytest.param('properties["a"] == 1)', 20, 'unexpected ")"', id="trailing-paren"),
        pytest.param("(1", 2, 'expected ")"', id="unclosed-paren"),
        pytest.param("string(1, 2)", 8, 'expected ")"', id="two-arguments"),
        pytest.param('datetime("2024-13-01")', 9, "is not a date", id="bad-month"),
        pytest.param('datetime("yesterday")', 9, "YYYY-MM-DDTHH:MM:SS", id="not-iso"),
        pytest.param("datetime(1e300)", 9, "out of range", id="epoch-out-of-range"),
        pytest.param("datetime(true)", 9, "not true", id="datetime-of-boolean"),
        pytest.param("user[", 5, "expected the name as a quoted string", id="open-user"),
        pytest.param('user["a"', 8, 'expected "]"', id="unclosed-user"),
        pytest.param("properties[a]", 11, "quoted string", id="unquoted-name"),
        pytest.param("properties == 1", 11, 'expected "["', id="bare-properties"),
        pytest.param('event["foo"]', 6, "not an event field", id="unknown-event-field"),
        pytest.param("1 < 2 < 3", 6, "do not chain", id="chained-comparison"),
        pytest.param('1 == 1 in "a"', 7, "do not chain", id="chained-in"),
        pytest.param("plan == 1", 0, 'a property is written properties["plan"]', id="bare-name"),
        pytest.param('properties["a"] = 1', 16, '"=="', id="single-equals"),
        pytest.param("true && false", 5, 'write "and"', id="c-and"),
        pytest.param("true || false", 5, 'write "or"', id="c-or"),
        pytest.param("!true", 0, 'write "not"', id="bang"),
        pytest.param("true AND false", 5, 'did you mean "and"', id="upper-case-keyword"),
        pytest.param('properties["a"] == null', 19, "there is no null", id="null"),
        pytest.param("1 @ 2", 2, "unexpected character '@'", id="stray-character"),
        pytest.param("1e999", 0, "too large", id="huge-number"),
        pytest.param("not", 3, "expected a value", id="lonely-not"),
        pytest.param("1 + and", 4, 'unexpected "and"', id="keyword-as-value"),
        pytest.param("[1, 2]", 0, 'may only follow "in"', id="list-alone"),
        pytest.param("1 == [1]", 5, 'may only follow "in"', id="list-compared"),
        pytest.param('1 in [properties["b"]]', 6, "only constants", id="list-of-properties"),
        pytest.param("1 in [1 2]", 8, 'expected ","', id="list-missing-comma"),
        pytest.param("1 in [1,", 8, "expected a value", id="list-unclosed"),
    ],
)
def test_parse_points_at_the_mistake(text: str, position: int, fragment: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        parse(text)

    assert caught.value.position == position
    assert fragment in caught.value.message
    assert f"at position {position} in: {text}" in str(caught.value)


def test_the_error_reads_like_a_sentence_pointing_at_the_position() -> None:
    with pytest.raises(ExpressionError) as caught:
        parse('properties["a"] == )')

    assert str(caught.value) == (
        'unexpected ")", expected a value at position 19 in: properties["a"] == )'
    )
    assert isinstance(caught.value, ClientError)
    assert caught.value.status == 400


def test_a_long_expression_is_quoted_around_the_mistake() -> None:
    text = "true and " * 50 + "true )"

    with pytest.raises(ExpressionError) as caught:
        parse(text)

    shown = str(caught.value).split(" in: ", 1)[1]
    assert caught.value.position == len(text) - 1
    assert shown.startswith("…") and shown.endswith(")…")
    assert len(shown) < 210


def test_nesting_beyond_the_limits_is_refused_not_a_crash() -> None:
    with pytest.raises(ExpressionError, match="levels of parentheses"):
        parse("(" * 1000 + "1" + ")" * 1000)
    with pytest.raises(ExpressionError, match="nests more than 64 levels"):
        parse("not " * 1000 + "true")
    with pytest.raises(ExpressionError, match="nests more than 64 levels"):
        parse(" + ".join(["1"] * 1000))


def test_a_long_or_of_many_terms_is_flat_and_accepted() -> None:
    text = " or ".join(f'properties["id"] == {n}' for n in range(2000))

    tree = parse(text)

    assert isinstance(tree, BoolOp) and len(tree.operands) == 2000
    assert max(depth for _, depth in walk(tree)) == 3


def test_an_over_long_expression_is_refused_with_the_limit() -> None:
    with pytest.raises(ExpressionError, match=f"the limit is {MAX_EXPRESSION_CHARS}"):
        parse('"' + "x" * MAX_EXPRESSION_CHARS + '"')


def test_positions_point_at_each_node() -> None:
    tree = parse('true and user["plan"] == "pro"')

    assert isinstance(tree, BoolOp) and tree.position == 5
    comparison = tree.operands[1]
    assert isinstance(comparison, Compare) and comparison.position == 22
    assert comparison.left.position == 9
    assert comparison.right.position == 25


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param('user["plan"] == "pro"', True, id="user-alone"),
        pytest.param('true and not defined(user["x"])', True, id="user-nested"),
        pytest.param('"a" in string(user["tags"])', True, id="user-in-call"),
        pytest.param('properties["user"] == "x"', False, id="property-named-user"),
        pytest.param('event["$time"] > datetime(0)', False, id="event-only"),
    ],
)
def test_references_user_finds_any_user_property(text: str, expected: bool) -> None:
    assert references_user(parse(text)) is expected


def test_walk_visits_every_node_in_order_with_its_depth() -> None:
    tree = parse('not (properties["a"] + 1 in [2])')

    kinds = [(type(node).__name__, depth) for node, depth in walk(tree)]

    assert kinds == [
        ("Not", 1),
        ("In", 2),
        ("Arith", 3),
        ("Property", 4),
        ("Literal", 4),
        ("ListLiteral", 3),
        ("Literal", 4),
    ]
