"""Values in facts and questions: dates, numbers, query times, and the words reasoning reads.

Dates ("16 December 1775", "April 1994"), numbers ("2.8 billion dollars", "second largest") and
CRAG query times are parsed here; the attribute families, verb tables and comparison words are
data (``tools/data/words/kg_attributes.txt``, ``kg_question_words.txt``: each entry with its
source), read once at import.
"""

from __future__ import annotations

import re
from datetime import date, datetime

from tools.language.lexicon import table, words
from tools.language.text import NUMBER_WORDS, tokens

from .names import YEAR

_MONTHS = "january february march april may june july august september october november december"
_MONTH = {m: i for i, m in enumerate(_MONTHS.split(), 1)}
ORDINALS = (
    "first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth "
    "thirteenth fourteenth fifteenth sixteenth seventeenth eighteenth nineteenth twentieth"
).split()
TENS = {"twentieth": 20, "thirtieth": 30, "fortieth": 40, "fiftieth": 50, "hundredth": 100}
SCALE = {"thousand": 1e3, "million": 1e6, "billion": 1e9, "trillion": 1e12}

# the knowledge base's attribute families and how a sentence says them
_ATTRS = "kg_attributes"
PERSON = frozenset(words(_ATTRS, "person"))  # words of attributes whose values are people
PLACE = frozenset(words(_ATTRS, "place"))
PERSON_OWN = frozenset(words(_ATTRS, "person_own"))  # an entity with one of these is a person
PLACE_OWN = frozenset(words(_ATTRS, "place_own"))
CREATORS = words(_ATTRS, "creators")  # who made a work
MADE_BY = words(_ATTRS, "made_by")  # "X is by <value>"
DATE_ATTRS = words(_ATTRS, "dates")  # best first
DATED_EVENTS = words(_ATTRS, "dated_events")  # said "on <date>"
SPAN_START, SPAN_END = words(_ATTRS, "span_start"), words(_ATTRS, "span_end")
VERB = table(_ATTRS, "attribute_verbs")  # "founded" -> "was founded"

# question words: type nouns, comparison directions, verbs
_QWORDS = "kg_question_words"
TYPES = frozenset(words(_QWORDS, "type_nouns"))  # "the film Oppenheimer": part of the name
EARLY, LATE = frozenset(words(_QWORDS, "early")), frozenset(words(_QWORDS, "late"))
MORE, LESS = frozenset(words(_QWORDS, "more")), frozenset(words(_QWORDS, "less"))
BASE = table(_QWORDS, "comparative_base")  # "taller" -> "tall"
PAST = table(_QWORDS, "past")  # "win" -> "won"
AUX = frozenset(words(_QWORDS, "auxiliaries"))


def parse_query_time(query_time: str | None) -> date:
    """CRAG's "03/15/2025, 10:00:00 PT" (or an ISO date) as a date; today when absent."""
    text = (query_time or "").strip()
    for fmt, size in (("%m/%d/%Y", 10), ("%Y-%m-%d", 10)):
        try:
            return datetime.strptime(text[:size], fmt).date()
        except ValueError:
            continue
    return date.today()


def parse_date(value: str) -> tuple[int, int | None, int | None] | None:
    """(year, month, day) of "16 December 1775", "August 30, 1930", "April 1994" or "1975"."""
    toks = tokens(value)
    years = [int(t) for t in toks if YEAR.match(t)]
    if len(years) != 1:
        return None
    months = [_MONTH[t] for t in toks if t in _MONTH]
    days = [int(t) for t in toks if t.isdigit() and 1 <= int(t) <= 31]
    month = months[0] if months else None
    return years[0], month, days[0] if month and days else None


def parse_number(value: str) -> float | None:
    """The one number of a value ("7 Academy Awards", "2.8 billion dollars", "second largest"
    counts as -2: larger is smaller rank); None for dates and for values without one."""
    low = value.lower().replace(",", "")
    if parse_date(value) is not None and not re.fullmatch(r"\d+", low.strip()):
        return None
    rank = re.match(r"(\w+) largest", low)
    if rank and rank.group(1) in ORDINALS:
        return -1.0 - ORDINALS.index(rank.group(1))
    nums = re.findall(r"\d+(?:\.\d+)?", low)
    found = [w for w in tokens(low) if w in NUMBER_WORDS]
    if len(nums) == 1:
        after = low.split(nums[0], 1)[1].split()
        return float(nums[0]) * (SCALE.get(after[0], 1.0) if after else 1.0)
    return float(NUMBER_WORDS.index(found[0])) if not nums and len(found) == 1 else None


def list_items(value: str) -> list[str]:
    """The items of a listed value ("RM, Jin ... and Jungkook"), [value] when it is one name."""
    parts = [p.strip() for p in re.split(r",\s*|\s+and\s+", value) if p.strip()]
    named = all(p[:1].isupper() or p[:1].isdigit() for p in parts)
    return parts if len(parts) > 1 and named else [value]


def join_items(items: list[str]) -> str:
    """ "a", "a and b", "a, b and c"."""
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def attr_words(attr: str) -> str:
    """An attribute name as words: "release_year" -> "release year"."""
    return attr.replace("_", " ")


def on_date(value: str) -> str:
    """ "on 16 December 1775" for a day, "in April 1994" for a month or a year."""
    d = parse_date(value)
    return f"on {value}" if d and d[2] else f"in {value}"
