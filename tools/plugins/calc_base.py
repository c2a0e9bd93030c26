"""What the calculator's parsers share: spoken tokens, a cursor, number words, number formats.

Pure functions; nothing here evaluates user text as code.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal, localcontext
from fractions import Fraction

Number = Fraction | float

ONES = {w: i for i, w in enumerate("zero one two three four five six seven eight nine".split())}
TEENS = {
    w: i + 10
    for i, w in enumerate(
        "ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen".split()
    )
}
TENS = {
    w: 10 * (i + 2)
    for i, w in enumerate("twenty thirty forty fifty sixty seventy eighty ninety".split())
}
SCALES = {"thousand": 10**3, "million": 10**6, "billion": 10**9, "trillion": 10**12}
ORDINALS = {
    w: i + 1
    for i, w in enumerate(
        "first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth "
        "thirteenth fourteenth fifteenth sixteenth seventeenth eighteenth nineteenth".split()
    )
} | {"twentieth": 20, "thirtieth": 30}
_WORD = {v: k for k, v in (ONES | TEENS | TENS).items()}
_TOKEN = re.compile(
    r"\d+(?:st|nd|rd|th)\b|\d+(?:,\d{3})*(?:\.\d+)?|\.\d+|[a-z]+(?:'[a-z]+)?|[-+*/^%()!]"
)
_DIGITS = re.compile(r"\d+(?:,\d{3})*(?:\.\d+)?|\.\d+")
_SYMBOLS = {"×": " times ", "÷": " divided by ", "−": "-", "°": " degrees ", "**": "^"}
_CONTRACTIONS = {"what's": "what is", "whats": "what is", "it's": "it is", "how's": "how is"}
_POLITE = [
    p.split()
    for p in (
        "can you please tell me", "could you please tell me", "can you tell me",
        "could you tell me", "please tell me", "tell me", "do you know", "i want to know",
        "i'd like to know", "quick question", "hey", "ok", "okay", "so", "um", "uh", "please",
    )
]  # fmt: skip
_YEARLIKE = re.compile(r"1[0-9]{3}|20[0-9]{2}")
LIMIT = 10**15  # larger values are not worth saying aloud


@dataclass(frozen=True)
class Solution:
    """A solved question: its canonical expression, value, spoken sentence and title."""

    expression: str  # canonical: parses back to the same solution
    value: float | int | str
    sentence: str
    title: str


def words(text: str) -> list[str]:
    """Lowercase tokens of a spoken or typed question: numbers, words and operator symbols."""
    text = unicodedata.normalize("NFKC", text).lower()
    for symbol, word in _SYMBOLS.items():
        text = text.replace(symbol, word)
    text = re.sub(r"\bkm/h\b", " kmh ", text)
    text = re.sub(r"\bm/s\b", " mps ", text)
    text = re.sub(r"(?<=[a-z])-(?=[a-z])", " ", text)  # twenty-one
    text = text.replace("\u2019", "'")
    out: list[str] = []
    for tok in _TOKEN.findall(text):
        out.extend(_CONTRACTIONS.get(tok, tok).split())
    return strip_polite(out)


def strip_polite(toks: list[str]) -> list[str]:
    """Without leading courtesies ("hey, can you tell me") and a trailing "please"."""
    changed = True
    while changed:
        changed = False
        for lead in _POLITE:
            if len(toks) > len(lead) and toks[: len(lead)] == lead:
                toks, changed = toks[len(lead) :], True
    while toks and toks[-1] in ("please", "again"):
        toks = toks[:-1]
    return toks


class Cursor:
    """A position in a token list, for small recursive-descent parsers."""

    def __init__(self, toks: list[str]) -> None:
        self.toks, self.i = toks, 0

    def peek(self, k: int = 0) -> str:
        return self.toks[self.i + k] if self.i + k < len(self.toks) else ""

    def done(self) -> bool:
        return self.i >= len(self.toks)

    def take(self, *phrases: str) -> str | None:
        """The first of ``phrases`` found here (consumed), else None."""
        for phrase in phrases:
            parts = phrase.split()
            if self.toks[self.i : self.i + len(parts)] == parts:
                self.i += len(parts)
                return phrase
        return None


def number(c: Cursor) -> Fraction | None:
    """A non-negative number in digits ("1,500", "2.5 million") or words ("one hundred forty
    four", "three point five"), consumed; None (nothing consumed) if there is none here."""
    tok = c.peek()
    if _DIGITS.fullmatch(tok):
        c.i += 1
        value = Fraction(tok.replace(",", ""))
        if c.peek() in SCALES:
            value *= SCALES[c.toks[c.i]]
            c.i += 1
        return value
    value = _cardinal(c)
    if value is not None and c.peek() == "point" and c.peek(1) in ONES:
        c.i += 1
        digits = ""
        while c.peek() in ONES:
            digits += str(ONES[c.toks[c.i]])
            c.i += 1
        value += Fraction(int(digits), 10 ** len(digits))
    return value


def _cardinal(c: Cursor) -> Fraction | None:
    total, last_scale, found = 0, math.inf, False
    while True:
        start = c.i
        group = _group(c)
        if group is None:
            c.i = start
            break
        scale = SCALES.get(c.peek(), 0)
        found = True
        if scale and scale < last_scale:
            c.i += 1
            total, last_scale = total + group * scale, scale
            if c.peek() == "and" and _small(c.peek(1)):
                c.i += 1
            continue
        total += group
        break
    return Fraction(total) if found else None


def _small(word: str) -> bool:
    return word in ONES or word in TEENS or word in TENS


def _group(c: Cursor) -> int | None:
    """A number below 1000 in words ("a hundred", "twelve hundred", "forty two")."""
    w = c.peek()
    if w == "a" and (c.peek(1) == "hundred" or c.peek(1) in SCALES):
        c.i += 1
        value = 1
    elif w == "zero":
        c.i += 1
        return 0
    elif w in ONES or w in TEENS:
        c.i += 1
        value = ONES.get(w) or TEENS[w]
    else:
        return _tens(c)
    if c.take("hundred"):
        value *= 100
        if c.peek() == "and" and _small(c.peek(1)):
            c.i += 1
        rest = _tens(c)
        if rest is None and (c.peek() in ONES or c.peek() in TEENS) and c.peek() != "zero":
            rest = ONES.get(c.peek()) or TEENS[c.peek()]
            c.i += 1
        value += rest or 0
    return value


def _tens(c: Cursor) -> int | None:
    if c.peek() not in TENS:
        return None
    value = TENS[c.toks[c.i]]
    c.i += 1
    if c.peek() in ONES and c.peek() != "zero":
        value += ONES[c.toks[c.i]]
        c.i += 1
    return value


def ordinal(c: Cursor) -> int | None:
    """An ordinal ("3rd", "fifteenth", "twenty first"), consumed; else None."""
    tok = c.peek()
    if re.fullmatch(r"\d+(st|nd|rd|th)", tok):
        c.i += 1
        return int(tok[:-2])
    if tok in ORDINALS:
        c.i += 1
        return ORDINALS[tok]
    if tok in TENS and c.peek(1) in ORDINALS and ORDINALS[c.peek(1)] < 10:
        c.i += 2
        return TENS[tok] + ORDINALS[c.toks[c.i - 1]]
    return None


def spell(value: Fraction) -> str:
    """A non-negative terminating decimal in words ("144" -> "one hundred forty four")."""
    text = literal(value)
    whole, _, frac = text.partition(".")
    out = _spell_int(int(whole))
    return out + (" point " + " ".join(_WORD[int(d)] for d in frac) if frac else "")


def _spell_int(n: int) -> str:
    if n < 100:
        return _WORD[n] if n in _WORD else f"{_WORD[n - n % 10]} {_WORD[n % 10]}"
    if n < 1000:
        rest = f" {_spell_int(n % 100)}" if n % 100 else ""
        return f"{_WORD[n // 100]} hundred{rest}"
    for name, scale in sorted(SCALES.items(), key=lambda x: -x[1]):
        if n >= scale:
            rest = f" {_spell_int(n % scale)}" if n % scale else ""
            return f"{_spell_int(n // scale)} {name}{rest}"
    raise AssertionError(n)


def literal(value: Fraction) -> str:
    """A terminating decimal exactly, plain ("1500", "3.25"); others to 12 places."""
    if value.denominator == 1:
        return str(value.numerator)
    with localcontext() as ctx:
        ctx.prec = 40
        text = f"{Decimal(value.numerator) / Decimal(value.denominator):.12f}"
    return text.rstrip("0").rstrip(".")


def fmt(value: Number) -> tuple[str, bool]:
    """``value`` to say aloud (at most 4 decimals, or 4 significant digits below 1; thousands
    separated) and whether that text is exact."""
    if isinstance(value, Fraction) and value.denominator == 1:
        n = value.numerator
        return (f"{n:,}" if abs(n) >= 1000 else str(n)), True
    x = float(value)
    if abs(x) >= 1 or x == 0:
        text = f"{x:,.4f}".rstrip("0").rstrip(".")
    else:
        places = min(12, 3 - math.floor(math.log10(abs(x))))
        text = f"{x:.{places}f}".rstrip("0").rstrip(".")
    if text in ("-0", ""):
        text = "0"
    exact = Fraction(text.replace(",", "")) == (
        value if isinstance(value, Fraction) else Fraction(x)
    )
    return text, exact


def say(value: Number, minus: str = "negative", count: bool = False) -> str:
    """``value`` as said in an answer: "about" when rounded, a word for the sign; a ``count``
    that reads like a year (1000 to 2099) in words, so it is not taken for one."""
    text, exact = fmt(abs(value))
    if count and exact and _YEARLIKE.fullmatch(text.replace(",", "")):
        text = spell(Fraction(abs(value)))
    sign = f"{minus} " if value < 0 and text != "0" else ""
    return f"{'' if exact else 'about '}{sign}{text}"


def plain(value: Number) -> int | float:
    """``value`` as a JSON number: an int when it is whole and exact."""
    if isinstance(value, Fraction) and value.denominator == 1:
        return value.numerator
    return float(value)
