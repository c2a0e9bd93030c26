"""Dates against the question's own "today": days until, since and between days, the date in
N days, the day of the week of a day, and today's date, year and month.

A day is a fixed-date holiday ("christmas", "new year's day") or a calendar date ("march 1",
"the fourth of july", "april 15th 2026"). Every canonical expression ends in "as of <today>",
so one expression always has one answer, whichever session asks it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction as F

from tools.plugins.calc_base import Cursor, Solution, number, ordinal, say

MONTHS = (
    "january february march april may june july august september october november december"
).split()
_HOLIDAYS = [  # canonical words, name, month, day, other words
    ("christmas", "Christmas", 12, 25, "christmas day|xmas"),
    ("christmas eve", "Christmas Eve", 12, 24, ""),
    ("new year's day", "New Year's Day", 1, 1, "new years day|new year's|new years|new year"),
    ("new year's eve", "New Year's Eve", 12, 31, "new years eve"),
    ("halloween", "Halloween", 10, 31, ""),
    ("valentine's day", "Valentine's Day", 2, 14, "valentines day|valentine's|valentines"),
    ("saint patrick's day", "Saint Patrick's Day", 3, 17, "st patrick's day|st patricks day"),
]
_ALIASES = sorted(
    ((alias, h) for h in _HOLIDAYS for alias in [h[0], *filter(None, h[4].split("|"))]),
    key=lambda x: -len(x[0].split()),
)
_TODAY = {
    "what is the date", "what is the date today", "what is today's date", "what date is it",
    "what date is it today", "what date is today", "what day is it", "what day is it today",
    "what day is today", "what day of the week is it", "what day of the week is it today",
    "what day of the week is today", "what is today", "what is the day today",
    "what is the day of the week", "what is the day of the week today",
}  # fmt: skip
_YEAR = {"what year is it", "what year is this", "what is the current year", "what is the year",
         "what year are we in", "what year is it now"}  # fmt: skip
_MONTH = {"what month is it", "what month is this", "what is the current month",
          "what month are we in", "what month is it now"}  # fmt: skip
_OFFSET_LEADS = (
    "what is the date", "what will the date be", "what will be the date", "what was the date",
    "what date is it", "what date will it be", "what date was it", "what day is it",
    "what day will it be", "what day was it",
)  # fmt: skip


@dataclass(frozen=True)
class Day:
    """A day a question names; ``year`` None when it gives none."""

    month: int
    day: int
    year: int | None = None
    holiday: tuple[str, ...] | None = None  # a row of ``_HOLIDAYS``

    def on(self, year: int) -> dt.date | None:
        try:
            return dt.date(year, self.month, self.day)
        except ValueError:
            return None

    def shown(self, date: dt.date, year: bool = True) -> str:
        """Its name ("Christmas") or date ("March 1, 2025"; without the year if not ``year``)."""
        if self.holiday:
            return str(self.holiday[1])
        return f"{MONTHS[date.month - 1].title()} {date.day}" + (f", {date.year}" if year else "")

    def canonical(self, date: dt.date) -> str:
        name = self.holiday[0] if self.holiday else f"{MONTHS[date.month - 1]} {date.day}"
        return f"{name} {date.year}"


def long_date(date: dt.date) -> str:
    return f"{date:%A}, {MONTHS[date.month - 1].title()} {date.day}, {date.year}"


def _canonical(date: dt.date) -> str:
    return f"{MONTHS[date.month - 1]} {date.day} {date.year}"


def _day(c: Cursor, today: dt.date) -> Day | None:
    """A holiday or a date, with an optional year ("2026", "this year", "next year")."""
    found = None
    for alias, row in _ALIASES:
        if c.take(alias):
            found = Day(row[2], row[3], holiday=row)
            break
    if found is None:
        if c.peek() in MONTHS:
            month = MONTHS.index(c.toks[c.i]) + 1
            c.i += 1
            c.take("the")
            day = _day_number(c)
        else:
            c.take("the")
            day = _day_number(c)
            c.take("of")
            month = MONTHS.index(c.toks[c.i]) + 1 if c.peek() in MONTHS else 0
            c.i += bool(month)
        if not day or not month:
            return None
        found = Day(month, day)
    year = _year(c, today)
    found = Day(found.month, found.day, year, found.holiday)
    leap = 2000 if year is None else year
    return found if found.on(leap) else None


def _day_number(c: Cursor) -> int | None:
    n = ordinal(c)
    if n is None:
        value = number(c)
        n = int(value) if value is not None and value.denominator == 1 else None
    return n if n is not None and 1 <= n <= 31 else None


def _year(c: Cursor, today: dt.date) -> int | None:
    if c.peek().isdigit() and len(c.peek()) == 4:
        c.i += 1
        return int(c.toks[c.i - 1])
    shift = {"this year": 0, "next year": 1, "last year": -1}.get(c.take(*_SHIFTS) or "")
    return None if shift is None else today.year + shift


_SHIFTS = ("this year", "next year", "last year")


def _next(day: Day, today: dt.date, after: bool = True) -> dt.date | None:
    """The day's date: its year's, else the first on or after (or on or before) ``today``."""
    if day.year is not None:
        return day.on(day.year)
    step = 1 if after else -1
    for year in range(today.year, today.year + 9 * step, step):
        date = day.on(year)
        if date is not None and (date >= today if after else date <= today):
            return date
    return None


def _count(c: Cursor) -> int | None:
    if c.take("a", "an"):
        return 1
    value = number(c)
    ok = value is not None and value.denominator == 1 and 1 <= value <= 100_000
    return int(value) if ok else None


def _plural(n: int, word: str, count: bool = False) -> str:
    """``n`` days or weeks; a ``count`` the question asks for said so it cannot pass for a year."""
    return f"{say(F(n), count=count)} {word}{'' if n == 1 else 's'}"


def _counts(c: Cursor, today: dt.date) -> Solution | None:
    """How many days until, since or between days."""
    if not (c.take("how many") and c.take("more days", "days") or c.take("how long")):
        return None
    c.take("are there", "are left", "is it", "have passed", "has it been", "have there been",
           "do we have", "are")  # fmt: skip
    c.take("left")
    how = c.take("until", "till", "til", "to", "before", "since", "between", "from")
    first = _day(c, today) if how else None
    if first is None:
        return None
    if how in ("between", "from"):
        second = _day(c, today) if c.take("and" if how == "between" else "to", "until") else None
        return _between(first, second, today) if second and c.done() else None
    c.take("from today", "from now")
    if not c.done():
        return None
    date = _next(first, today, after=how != "since")
    if date is None or (date < today if how != "since" else date > today):
        return None
    n, shown = abs((date - today).days), first.shown(date)
    if how == "since":
        sentence = f"It has been {_plural(n, 'day', True)} since {shown}."
        kind, title = "since", f"Days since {shown}, {long_date(date)}"
    else:
        sentence = f"There {'is' if n == 1 else 'are'} {_plural(n, 'day', True)} until {shown}."
        sentence = sentence[:-1] + (": it is today." if n == 0 else ".")
        kind, title = "until", f"Days until {shown}, {long_date(date)}"
    expression = f"how many days {kind} {first.canonical(date)}"
    return Solution(expression, n, sentence, f"{title}, from {long_date(today)}")


def _between(first: Day, second: Day, today: dt.date) -> Solution | None:
    a = first.on(first.year or today.year)
    b = second.on(second.year or (a.year if a else today.year))
    if a is None or b is None:
        return None
    if b < a and second.year is None:
        b = second.on(b.year + 1)
        if b is None:
            return None
    n = abs((b - a).days)
    same = a.year == b.year and not first.holiday
    sentence = (
        f"There {'is' if n == 1 else 'are'} {_plural(n, 'day', True)} between "
        f"{first.shown(a, year=not same)} and {second.shown(b)}."
    )
    title = f"Days between {long_date(a)} and {long_date(b)}"
    expression = f"how many days between {first.canonical(a)} and {second.canonical(b)}"
    return Solution(expression, n, sentence, title)


def _offset(c: Cursor, today: dt.date) -> Solution | None:
    """The date N days or weeks from today, or N days or weeks ago."""
    if not c.take(*_OFFSET_LEADS):
        return None
    ahead = bool(c.take("in"))
    n = _count(c)
    unit = c.take("days", "day", "weeks", "week")
    if n is None or unit is None:
        return None
    if not ahead:
        ahead = bool(c.take("from now", "from today", "after today"))
        if not ahead and not c.take("ago"):
            return None
    else:
        c.take("from now", "from today")
    if not c.done():
        return None
    unit = unit.rstrip("s")
    days = n * (7 if unit == "week" else 1)
    date = today + dt.timedelta(days=days if ahead else -days)
    span, key = _plural(n, unit), f"{n} {unit}{'' if n == 1 else 's'}"
    if ahead:
        sentence = f"In {span}, it will be {long_date(date)}."
        expression = f"what date is it in {key}"
    else:
        sentence = f"It was {long_date(date)}, {span} ago."
        expression = f"what date was it {key} ago"
    title = f"The date and day {span} {'from' if ahead else 'before'} {long_date(today)}"
    return Solution(expression, date.isoformat(), sentence, title)


def _weekday(c: Cursor, today: dt.date) -> Solution | None:
    """The day of the week of a named day."""
    lead = c.take("what day of the week", "which day of the week", "what weekday", "what day")
    if lead is None:
        return None
    c.take("is", "was", "will", "does", "did")
    day = _day(c, today)
    fall = c.take("be on", "fall on", "land on", "be", "fall", "land", "on")
    if day is not None and day.year is None:
        day = Day(day.month, day.day, _year(c, today), day.holiday)
    if day is None or not c.done() or lead == "what day" and fall not in ("fall on", "land on"):
        return None
    date = day.on(day.year or today.year)
    if date is None:
        return None
    shown = f"{day.shown(date)} {date.year}" if day.holiday else day.shown(date)
    sentence = f"{shown} {'was' if date < today else 'is'} a {date:%A}."
    expression = f"what day of the week is {day.canonical(date)}"
    return Solution(expression, f"{date:%A}", sentence, f"Day of the week of {long_date(date)}")


def _now(c: Cursor, today: dt.date) -> Solution | None:
    """Today's date, year or month."""
    text = " ".join(c.toks)
    if text in _TODAY:
        sentence = f"Today is {long_date(today)}."
        title = "Today's date and day of the week"
        return Solution("what day is it today", today.isoformat(), sentence, title)
    if text in _YEAR:
        return Solution("what year is it", today.year, f"It is {today.year}.", "The current year")
    if text in _MONTH:
        month = f"{MONTHS[today.month - 1].title()} {today.year}"
        return Solution("what month is it", month, f"It is {month}.", "The current month")
    return None


_KINDS: list[Callable[[Cursor, dt.date], Solution | None]] = [_now, _counts, _offset, _weekday]


def split_as_of(toks: list[str], today: dt.date) -> tuple[list[str], dt.date]:
    """``toks`` without a trailing "as of <month> <day> <year>", and that date (else ``today``)."""
    for i in range(len(toks) - 2, -1, -1):
        if toks[i : i + 2] == ["as", "of"]:
            c = Cursor(toks[i + 2 :])
            day = _day(c, today)
            if day is not None and day.year is not None and c.done() and not day.holiday:
                date = day.on(day.year)
                assert date is not None
                return toks[:i], date
            break
    return toks, today


def solve(toks: list[str], today: dt.date) -> Solution | None:
    """The date question ``toks`` solved against ``today``, or None."""
    for kind in _KINDS:
        found = kind(Cursor(toks), today)
        if found is not None:
            expression = f"{found.expression} as of {_canonical(today)}"
            return Solution(expression, found.value, found.sentence, found.title)
    return None
