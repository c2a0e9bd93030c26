"""Spoken arithmetic: a recursive-descent parser, an exact evaluator and a renderer.

Grammar (whole question, after "what is" and the like; at least one operation)::

    expr    := term (("plus" | "minus") term)*
    term    := signed (("times" | "multiplied by" | "divided by" | "over") signed)*
    signed  := ("minus" | "negative") signed | power
    power   := postfix [("to the power of" | "raised to") signed | "to the" ORDINAL "power"]
    postfix := primary ("squared" | "cubed" | "factorial")*
    primary := NUMBER ["percent of" signed] | "(" expr ")" | ["the"] ("square" | "cube") "root of" signed

Values are exact fractions where they can be (roots of perfect squares too), floats otherwise.
Rendering a parsed expression gives text that parses back to the same expression.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

from tools.plugins.calc_base import (
    LIMIT,
    Cursor,
    Number,
    Solution,
    fmt,
    literal,
    number,
    ordinal,
    plain,
    say,
    spell,
)

_ADD = {"plus": "+", "+": "+", "minus": "-", "-": "-"}
_MUL = {"times": "*", "multiplied by": "*", "x": "*", "*": "*"}
_MUL |= {"divided by": "/", "over": "/", "/": "/"}
_POW = ("to the power of", "raised to the power of", "raised to", "^")
_POSTFIX = {"squared": "sq", "cubed": "cube", "factorial": "fact", "!": "fact"}
_LEADS = (
    "what is", "what are", "how much is", "calculate", "compute", "evaluate", "work out",
    "what does", "what do",
)  # fmt: skip
_TAILS = ("equal", "equals", "make", "come to")
_WORDS = {"+": "plus", "-": "minus", "*": "times", "/": "divided by", "^": "to the power of"}
_PREC = {"+": 1, "-": 1, "*": 2, "/": 2, "^": 4}  # binary operators; prefixes bind at 3


@dataclass(frozen=True)
class Num:
    value: Fraction


@dataclass(frozen=True)
class Op:
    op: str  # + - * / ^ % (percent of) | neg sqrt cbrt sq cube fact
    args: tuple[Node, ...]


Node = Num | Op


def parse(toks: list[str]) -> Node | None:
    """The arithmetic expression that ``toks`` (all of them) say, else None."""
    for lead in _LEADS:
        if toks[: len(lead.split())] == lead.split():
            toks = toks[len(lead.split()) :]
            break
    for tail in _TAILS:
        if toks[-len(tail.split()) :] == tail.split():
            toks = toks[: -len(tail.split())]
            break
    c = Cursor(toks)
    try:
        node = _expr(c)
    except _NoParse:
        return None
    return node if c.done() and isinstance(node, Op) else None


class _NoParse(Exception):
    pass


def _expr(c: Cursor) -> Node:
    node = _term(c)
    while (op := c.take(*_ADD)) is not None:
        node = Op(_ADD[op], (node, _term(c)))
    return node


def _term(c: Cursor) -> Node:
    node = _signed(c)
    while (op := c.take(*_MUL)) is not None:
        node = Op(_MUL[op], (node, _signed(c)))
    return node


def _signed(c: Cursor) -> Node:
    if c.take("minus", "negative", "-"):
        grouped = c.peek() == "("
        arg = _signed(c)
        if not grouped and isinstance(arg, Op) and arg.op in ("^", "sq", "cube", "fact"):
            raise _NoParse  # "minus 3 squared": -9 or 9? too easily misheard to answer
        return Op("neg", (arg,))
    return _power(c)


def _power(c: Cursor) -> Node:
    base = _postfix(c)
    if c.take(*_POW):
        return Op("^", (base, _signed(c)))
    start = c.i
    if c.take("to the"):
        n = ordinal(c)
        if n is not None and c.take("power"):
            return Op("^", (base, Num(Fraction(n))))
        c.i = start
    return base


def _postfix(c: Cursor) -> Node:
    node = _primary(c)
    while (op := c.take(*_POSTFIX)) is not None:
        node = Op(_POSTFIX[op], (node,))
    return node


def _primary(c: Cursor) -> Node:
    if c.take("("):
        node = _expr(c)
        if not c.take(")"):
            raise _NoParse
        return node
    root = c.take("the square root of", "square root of", "the cube root of", "cube root of")
    if root:
        return Op("sqrt" if "square" in root else "cbrt", (_signed(c),))
    value = number(c)
    if value is None:
        raise _NoParse
    if c.take("percent of", "% of"):
        return Op("%", (Num(value), _signed(c)))
    return Num(value)


def evaluate(node: Node) -> Number:
    """The value of ``node``; raises ValueError, ZeroDivisionError or OverflowError."""
    if isinstance(node, Num):
        value: Number = node.value
    else:
        value = _APPLY[node.op](*(evaluate(a) for a in node.args))
    if isinstance(value, float) and not math.isfinite(value) or abs(value) > LIMIT:
        raise OverflowError("too large to say")
    return value


def _pow(base: Number, exp: Number) -> Number:
    whole = exp == int(exp)
    if whole and (abs(exp) > 1000 or base != 0 and abs(exp) * math.log10(abs(base)) > 16):
        raise OverflowError("too large to say")
    if whole:
        return base ** int(exp) if isinstance(base, Fraction) else float(base) ** int(exp)
    if base < 0:
        raise ValueError("a root of a negative number")
    return math.pow(float(base), float(exp))


def _div(a: Number, b: Number) -> Number:
    if b == 0:
        raise ZeroDivisionError("division by zero")
    return a / b


def _sqrt(x: Number) -> Number:
    if x < 0:
        raise ValueError("the square root of a negative number")
    if isinstance(x, Fraction):
        num, den = math.isqrt(x.numerator), math.isqrt(x.denominator)
        if num * num == x.numerator and den * den == x.denominator:
            return Fraction(num, den)
    return math.sqrt(x)


def _cbrt(x: Number) -> Number:
    root = math.copysign(abs(float(x)) ** (1 / 3), float(x))
    if isinstance(x, Fraction) and x.denominator == 1 and round(root) ** 3 == x:
        return Fraction(round(root))
    return root


def _fact(x: Number) -> Number:
    if x != int(x) or not 0 <= x <= 20:
        raise ValueError("factorial of a whole number up to 20 only")
    return Fraction(math.factorial(int(x)))


_APPLY: dict[str, Callable[..., Number]] = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": _div,
    "^": _pow,
    "%": lambda a, b: a / 100 * b,
    "neg": lambda a: -a,
    "sqrt": _sqrt,
    "cbrt": _cbrt,
    "sq": lambda a: a * a,
    "cube": lambda a: a * a * a,
    "fact": _fact,
}


def render(node: Node, num: Callable[[Fraction], str] = literal, need: int = 0) -> str:
    """``node`` in words, parenthesized only where precedence needs it."""
    if isinstance(node, Num):
        return num(node.value)
    op, args = node.op, node.args
    if op in _POSTFIX.values():
        word = next(w for w, o in _POSTFIX.items() if o == op)
        text, prec = f"{render(args[0], num, 5)} {word}", 5
    elif op == "neg":  # a power under a sign is bracketed: the parser refuses it bare
        text, prec = f"negative {render(args[0], num, 6)}", 3
    elif op in ("sqrt", "cbrt"):
        prefix = "the square root of" if op == "sqrt" else "the cube root of"
        text, prec = f"{prefix} {render(args[0], num, 3)}", 3
    elif op == "%":
        text, prec = f"{render(args[0], num, 6)} percent of {render(args[1], num, 3)}", 3
    else:
        prec = _PREC[op]
        left_need, right_need = (5, 3) if op == "^" else (prec, prec + 1)
        left, right = render(args[0], num, left_need), render(args[1], num, right_need)
        text = f"{left} {_WORDS[op]} {right}"
    return f"({text})" if prec < need else text


def _spoken(value: Fraction) -> str:
    """A number the question gave, as said back: exact, thousands separated."""
    text, exact = fmt(value)
    return text if exact else literal(value)


def solve(toks: list[str]) -> Solution | None:
    """The arithmetic question ``toks`` solved, or None (not arithmetic, or no value)."""
    node = parse(toks)
    if node is None:
        return None
    try:
        value = evaluate(node)
    except (ValueError, ZeroDivisionError, OverflowError):
        return None
    said, spelled = render(node, _spoken), render(node, spell)
    title = f"Calculation: {said} ({spelled})"
    if toks[:2] == ["how", "much"]:  # an amount is asked for: the answer's number leads
        answer = say(value, count=True)
        sentence = f"{answer[0].upper()}{answer[1:]} is {said}."
        return Solution(f"how much is {render(node)}", plain(value), sentence, title)
    return Solution(
        render(node), plain(value), f"{said[0].upper()}{said[1:]} is {say(value)}.", title
    )
