"""Question analysis: CRAG type, asked attribute, expected answer type, entities and conditions.

Pure and fast (regular expressions over the lowercase transcript; no model, no index), so that
retrieval, the knowledge graph, the answerer and the guard can all call it on the critical path.

- ``qtype``: CRAG's question type (simple, simple_w_condition, set, comparison, aggregation,
  multi-hop, post-processing). A false premise cannot be told from the words alone, so it is
  never predicted.
- ``answer_type``: person, date, year, number, place, organisation, yesno, set or other.
- ``attribute``: the asked relation's words ("capital", "directed"); ``entities``: the spans
  left once question words, relation words, class nouns and conditions are removed
  ("australia", "oppenheimer"); ``conditions``: years, months, before/after/between, first/last,
  superlatives.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from .lexicon import read, words
from .text import FILLERS, NUMBER_WORDS, STOPWORDS, stem, tokens

QTYPES = tuple(
    "simple simple_w_condition set comparison aggregation multi-hop post-processing "
    "false_premise".split()
)
_YEAR = re.compile(r"^(1[0-9]{3}|20[0-9]{2})$")
MONTHS = (
    "january february march april may june july august september october november december"
).split()
_COUNTS = "two three four five six seven eight nine ten".split()
# relation (attribute) words: asked about, never the entity (data/words/relation_words.txt)
_RELATION = frozenset(words("relation_words"))
_ORDINALS = set(
    """first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth
    thirtieth twentieth hundredth""".split()
)
# class nouns: what kind of thing the answer or entity is ("the film", "the band")
_CLASS = {kind: frozenset(words("class_nouns", kind)) for kind in read("class_nouns")}
_SUPERLATIVE = re.compile(
    r"\b(first|last|largest|biggest|highest|tallest|longest|smallest|shortest|oldest|youngest|"
    r"most|fewest|least|best|worst|earliest|latest|greatest|deepest|richest|fastest)\b"
)
_COMPARATIVE = re.compile(
    r"\b(first|earlier|later|older|younger|more|fewer|less|taller|shorter|longer|larger|bigger|"
    r"smaller|higher|lower|richer|faster|better|worse|greater)\b"
)
_POST = re.compile(
    r"\bhow old\b|\bhow many years\b|\byears? (ago|after|before|apart|passed|separate|between)\b"
    r"|\bhow (much|many) (more|less|fewer|taller|longer|shorter|bigger|larger|higher|older)\b"
    r"|\bhow long (did|was|were|has|have|ago)\b|\bfor how (many|long)\b|\b(days|months) (ago|until)\b"
)
_SUM = re.compile(r"\b(combined|in total|together|altogether)\b")
_SET = re.compile(
    rf"\b(who|which|what) (were|are|was|is)? ?(the )?({'|'.join(_COUNTS)})\b"
    rf"|\bwhich ({'|'.join(_COUNTS)})\b|\b(what|which|who) (are|were) the (names|titles|members|"
    r"founders|official|first names)\b|\bin which years\b|\bwhich (countries|films|movies|albums|"
    r"songs|teams|players|drivers|astronauts|members|cities|companies|languages|races|elements)\b"
    r"|\bwith which (teams|clubs)\b|\bwho (were|are) the (founders|members)\b"
)
_HEADS, _RELATIVES, _TITLES = (
    "|".join(words("multi_hop", section)) for section in ("heads", "relatives", "titles")
)
_MULTI_HOP = re.compile(
    rf"\bthe ({_HEADS}|[a-z]+ (champion|winner))\b.*?"
    r"\b(where|that|who|which|whose|of|by|led|joined|plays?|won|is|was|named|sang|with)\b"
    r"|(?<!^who is )(?<!^who was )(?<!^what is )(?<!^who are )(?<!^who were )(?<!what )"
    rf"\b(the|a) ({_RELATIVES}) of\b"
    rf"|\bthe (\w+ )?({_TITLES}) of\b|\bled by\b|\b(the )?year the\b"
    r"|\bthe \w+ (\w+ )?(joined|plays for|won|sang)\b"
)
# "who was the director of oppenheimer": one relation of one entity is a single hop, whatever
# the relation's noun; a second relation or a clause after it makes it multi-hop
_ONE_HOP = re.compile(
    r"^(who|what|which)( is| was| are| were)? the (\w+ ){1,2}of "
    r"(?!.*\b(the|a|an) \w+ (\w+ )?of\b)(?!.*\b(where|that|who|which|whose|when)\b)"
    r"(?!.*\b(born|died|live[sd]?|located|founded|married|older|younger)\b)"
    r"(?!.*\b(joined|plays?|played|won|sang|signed|led|directed|wrote)\b)"  # "the team X joined"
)
_YESNO = re.compile(r"^(is|are|was|were|do|does|did|can|could|has|have|had|will|would|should)\b")


@dataclass(frozen=True)
class Condition:
    kind: str  # year | month | number | before | after | between | superlative | ordinal
    value: str


@dataclass(frozen=True)
class Question:
    text: str
    qtype: str
    answer_type: str
    attribute: tuple[str, ...]
    entities: tuple[str, ...]
    conditions: tuple[Condition, ...] = field(default=())

    @property
    def years(self) -> tuple[str, ...]:
        return tuple(c.value for c in self.conditions if c.kind == "year")

    @property
    def numbers(self) -> tuple[str, ...]:
        """Numbers the question gives ("eleven academy awards" -> "11"), as digits."""
        return tuple(c.value for c in self.conditions if c.kind == "number")

    @property
    def superlatives(self) -> tuple[str, ...]:
        return tuple(c.value for c in self.conditions if c.kind in ("superlative", "ordinal"))

    @property
    def entity_words(self) -> frozenset[str]:
        return frozenset(stem(w) for e in self.entities for w in e.split())

    @property
    def needs_reasoning(self) -> bool:
        """Types a sentence read aloud cannot answer: it must be computed or composed."""
        return self.qtype in ("comparison", "multi-hop", "post-processing") or (
            self.qtype == "aggregation"
            and (bool(_SUM.search(self.text)) or len(self.years) > 1)
            and bool(re.search(r"\band\b", self.text))
        )


def _conditions(toks: list[str], text: str) -> tuple[Condition, ...]:
    out: list[Condition] = []
    for i, t in enumerate(toks):
        if _YEAR.match(t):
            out.append(Condition("year", t))
        elif (
            t in MONTHS
            and t != "may"
            or (t == "may" and i + 1 < len(toks) and _YEAR.match(toks[i + 1]))
        ):
            out.append(Condition("month", t))
        elif t in _ORDINALS and t not in ("first",):
            out.append(Condition("ordinal", t))
        elif t in ("before", "after", "between", "since", "until"):
            out.append(Condition(t if t != "since" else "after", t))
    counted = re.search(r"\b(which|who were the|what|what are the) (\w+)", text)
    for t in toks:
        if (t.isdigit() and not _YEAR.match(t) or t in NUMBER_WORDS[2:]) and (
            counted is None or t != counted.group(2)
        ):
            out.append(Condition("number", str(NUMBER_WORDS.index(t)) if t in NUMBER_WORDS else t))
    for m in _SUPERLATIVE.finditer(text):
        kind = "ordinal" if m.group(1) in ("first", "last") else "superlative"
        out.append(Condition(kind, m.group(1)))
    return tuple(out)


def _qtype(text: str, toks: list[str]) -> str:
    if _POST.search(text):
        return "post-processing"
    if re.search(r"\bhow (many|much)\b", text) and not text.startswith("by how much"):
        return "aggregation"
    if " or " in f" {text} " and (_COMPARATIVE.search(text) or _YESNO.match(text)):
        return "comparison"
    if _SET.search(text):
        return "set"
    if _MULTI_HOP.search(text) and not _ONE_HOP.search(text):
        return "multi-hop"
    if _conditions(toks, text):
        return "simple_w_condition"
    if re.search(
        r"\bfor which\b|\b(grammys?|oscars?|awards?|cup|open|prize|title) (in|at)\b", text
    ):
        return "simple_w_condition"
    return "simple"


def _answer_type(text: str, toks: list[str], qtype: str, attribute: tuple[str, ...]) -> str:
    if qtype == "set":
        return "set"
    if qtype in ("aggregation", "post-processing") or re.search(r"\bhow (many|much|old)\b", text):
        return "number"
    if re.search(r"\b(what|which|in what|in which) years?\b", text) and "years" not in toks:
        return "year"
    if re.match(r"(when|what date|on what date)\b", text):
        return "date"
    if qtype == "comparison":
        return "person" if toks[0] == "who" else "other"
    if _YESNO.match(text):
        return "yesno"
    if re.match(r"(where|in what|in which|from what|from which)\b", text) or re.search(
        r"\b(what|which) ((is|was) the (\w+ )?)?(city|country|town|state|continent|place|island|"
        r"river|mountain|capital)\b",
        text,
    ):
        return "place"
    if attribute and attribute[0] in ("capital", "headquarters", "birthplace"):
        return "place"
    if attribute and toks[0] == "who":
        return "person"
    m = re.search(r"\b(which|what) (\w+)", text)
    if m:
        noun = stem(m.group(2))
        for kind in ("organisation", "person", "place"):
            if noun in _CLASS[kind] or m.group(2) in _CLASS[kind]:
                return kind
    if toks[0] in ("who", "whom") or text.startswith("by whom"):
        return "person"
    return "other"


def _spans(toks: list[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(attribute words, entity spans): runs of non-question words form the entity spans."""
    classes = set().union(*_CLASS.values())
    attribute, spans, run = [], [], []
    for i, t in enumerate(toks + [""]):
        low = t.replace("'s", "")
        if low in ("led", "lead") and toks[i + 1 : i + 2] != ["by"]:
            run.append(low)  # "led zeppelin", not "led by"
            continue
        drop = not t or low in STOPWORDS or low in FILLERS or _YEAR.match(low) or low in MONTHS
        drop = drop or low in _ORDINALS or low in _COUNTS or low in NUMBER_WORDS
        drop = drop or low in ("current", "currently", "today", "now", "present", "ever")
        if i > 0 and toks[i - 1] in ("what", "which") and (low in classes or low in _RELATION):
            drop, low = True, ""  # "what town", "which company": the answer's kind
        if (
            drop
            or low in _RELATION
            or stem(low) in _RELATION
            or low in classes
            or stem(low) in classes
        ):
            if low and (low in _RELATION or stem(low) in _RELATION):
                attribute.append(low)
            if run:
                spans.append(" ".join(run))
                run = []
            continue
        run.append(low)
    return tuple(attribute), tuple(spans)


# Conversational wrappers around the question itself ("could you tell me who ... these days").
_LEADS = tuple(
    tuple(lead.split())
    for lead in (
        "could you please tell me, can you please tell me, could you tell me, can you tell me, "
        "would you tell me, please tell me, tell me, do you know, do you happen to know, "
        "i want to know, i'd like to know, i would like to know, i wonder, i was wondering, "
        "any idea, hey, so, okay, ok, please, quick question"
    ).split(", ")
)
_TAILS = tuple(
    tuple(tail.split())
    for tail in (
        "these days, nowadays, right now, at the moment, currently, please, do you know, "
        "if you know, again"
    ).split(", ")
)


def _unwrap(toks: list[str]) -> list[str]:
    """The question without leading fillers, polite wrappers and a trailing "these days"."""
    changed = True
    while changed and toks:
        changed = False
        while toks and toks[0] in FILLERS:
            toks, changed = toks[1:], True
        for lead in _LEADS:
            if len(toks) > len(lead) and tuple(toks[: len(lead)]) == lead:
                toks, changed = toks[len(lead) :], True
                break
        for tail in _TAILS:
            if len(toks) > len(tail) and tuple(toks[-len(tail) :]) == tail:
                toks, changed = toks[: -len(tail)], True
                break
    return toks


@lru_cache(maxsize=4096)
def analyze(question: str) -> Question:
    """The analysis of one question (memoized: the same transcript is analysed by several
    components of one turn)."""
    toks = _unwrap(tokens(question)) or [""]
    text = " ".join(toks)
    qtype = _qtype(text, toks)
    attribute, entities = _spans(toks)
    answer_type = _answer_type(text, toks, qtype, attribute)
    return Question(question, qtype, answer_type, attribute, entities, _conditions(toks, text))
