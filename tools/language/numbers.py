"""Spoken numbers as digits: "ninety four" -> "94", "one hundred and forty four" -> "144",
"two point five million" -> "2.5 million", "nineteen eighty four" -> "1984" (a year said in pairs).

Pure text: no model, no I/O. Words that are not part of a number are left as they are.
"""

from __future__ import annotations

import re

ONES = {
    w: i
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
        "fifteen sixteen seventeen eighteen nineteen".split()
    )
}
TENS = {
    w: 10 * i
    for i, w in enumerate("_ _ twenty thirty forty fifty sixty seventy eighty ninety".split())
    if w != "_"
}
SCALES = {"thousand": 10**3, "million": 10**6, "billion": 10**9, "trillion": 10**12}
NUMBER_WORD = frozenset(ONES) | frozenset(TENS) | {"hundred"} | frozenset(SCALES)
_TOKEN = re.compile(r"[a-z]+(?:-[a-z]+)*|\S+")


def _group(words: list[str], i: int) -> tuple[int | None, int]:
    """A number below 1000 starting at ``words[i]`` ("one hundred and forty four"), and the
    index after it; (None, i) when none starts there."""
    value, j = None, i
    if j < len(words) and words[j] in ONES:
        value, j = ONES[words[j]], j + 1
    elif j < len(words) and words[j] in TENS:
        value, j = TENS[words[j]], j + 1
        if j < len(words) and words[j] in ONES and ONES[words[j]] < 10:
            value, j = value + ONES[words[j]], j + 1
        return value, j
    if value is not None and j < len(words) and words[j] == "hundred" and value < 100:
        value, j = value * 100, j + 1
        k = j + 1 if j < len(words) and words[j] == "and" else j
        rest, after = _group(words, k)
        if rest is not None and rest < 100:
            value, j = value + rest, after
    return value, j


def _number(words: list[str], i: int) -> tuple[int | None, int]:
    """A whole number at ``words[i]`` with its scale words ("two thousand and five")."""
    total, current, j = 0, None, i
    while j < len(words):
        if words[j] == "a" and j + 1 < len(words) and words[j + 1] in {"hundred", *SCALES}:
            group, k = 1, j + 1
            if words[k] == "hundred":
                group, k = 100, k + 1
        else:
            group, k = _group(words, j)
        if group is None:
            break
        if k < len(words) and words[k] in SCALES and group > 0:
            total, j = total + group * SCALES[words[k]], k + 1
            current = None
            if j < len(words) and words[j] == "and" and _group(words, j + 1)[0] is not None:
                j += 1
            continue
        if current is not None or (total and group >= 1000):
            break
        current, j = group, k
        break
    if total == 0 and current is None:
        return None, i
    return total + (current or 0), j


def _year(words: list[str], i: int) -> tuple[int | None, int]:
    """A year said in pairs: "nineteen eighty four", "twenty twenty four", "eighteen oh five"."""
    first, j = _group(words, i)
    if first is None or not 11 <= first <= 20 or j >= len(words) or words[j - 1] == "hundred":
        return None, i
    if words[j] in {"oh", "o"} and j + 1 < len(words) and words[j + 1] in ONES:
        second, k = ONES[words[j + 1]], j + 2
        return (first * 100 + second, k) if second < 10 else (None, i)
    second, k = _group(words, j)
    if second is None or not 10 <= second <= 99 or (k < len(words) and words[k] in SCALES):
        return None, i
    return first * 100 + second, k


def words_to_digits(text: str) -> str:
    """``text`` (lowercase) with every spelled-out number written in digits."""
    words = [w for tok in _TOKEN.findall(text) for w in tok.split("-")]
    out: list[str] = []
    i = 0
    while i < len(words):
        value, j = _year(words, i)
        if value is None:
            value, j = _number(words, i)
        if value is None or (words[i] == "a" and j == i + 1):
            out.append(words[i])
            i += 1
            continue
        if j + 1 < len(words) and words[j] == "point" and words[j + 1] in ONES:
            decimals = []
            while j + 1 < len(words) and words[j + 1] in ONES and ONES[words[j + 1]] < 10:
                decimals.append(str(ONES[words[j + 1]]))
                j += 1
            out.append(f"{value}.{''.join(decimals)}")
            i = j + 1
            continue
        out.append(str(value))
        i = j
    return " ".join(out)


_ORDINALS = {"first": "one", "second": "two", "third": "three", "fifth": "five",
             "eighth": "eight", "ninth": "nine", "twelfth": "twelve"}  # fmt: skip


def ordinals_to_cardinals(text: str) -> str:
    """ "her fifth award" -> "her five award", "thirtieth" -> "thirty", "21st" -> "21"."""

    def cardinal(word: str) -> str:
        low = word.lower()
        if low in _ORDINALS:
            return _ORDINALS[low]
        if low.endswith("ieth") and low[:-4] + "y" in TENS:
            return low[:-4] + "y"
        if low.endswith("th") and low[:-2] in NUMBER_WORD:
            return low[:-2]
        return re.sub(r"^(\d+)(st|nd|rd|th)$", r"\1", word)

    return " ".join(cardinal(w) for w in text.split())
