"""Does a sentence answer the question? Entity, conditions, expected value type -> a confidence.

Pure and fast (a few tokenisations per sentence, set lookups; a document's words memoized): it runs on every
candidate sentence on the critical path between the evidence and the first spoken word.

A sentence fits when it
1. names the question's entity: the share of the entity words found in the sentence or in the
   title of its document (its name, "Thriller (album)"); words found only elsewhere in the
   document count half;
2. satisfies the conditions: every year of the question appears (hard), a superlative or
   ordinal ("first", "largest") appears or its synonym does (soft);
3. carries a value of the expected type that the question does not already give: a year for
   "what year", a date for "when", a count for "how many", a capitalised name for who / which /
   where, two or more of them for a set.
``Fit.confidence`` combines them (0 when a hard check fails); the answerer speaks the best
candidate at or above its threshold, else says "I don't know".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

from tools.language.question import MONTHS, Question
from tools.language.text import FILLERS, NUMBER_WORDS, STOPWORDS, content_words, stem, tokens

_YEAR = re.compile(r"^(1[0-9]{3}|20[0-9]{2})$")
_COUNT_WORDS = set(NUMBER_WORDS[1:]) | set(
    "thirty forty fifty sixty seventy eighty ninety dozen hundred thousand million billion "
    "trillion once twice half".split()
)
_SYNONYMS = {
    "largest": {"largest", "biggest", "most", "populous", "greatest"},
    "biggest": {"largest", "biggest", "most"},
    "highest": {"highest", "tallest", "most"},
    "tallest": {"tallest", "highest"},
    "most": {"most", "record", "largest", "highest"},
    "fewest": {"fewest", "least", "smallest"},
    "least": {"fewest", "least", "smallest"},
    "first": {"first", "earliest", "founded", "original", "1st", "inaugural"},
    "last": {"last", "final", "latest"},
    "oldest": {"oldest", "earliest", "first"},
}
# relation words a sentence may use for the question's ("ceo" -> "chief executive officer")
_RELATED = {
    "ceo": {"chief", "executive", "ceo"},
    "chief": {"chief", "ceo"},
    "found": {"found", "co-found", "establ", "creat"},
    "wrote": {"wrote", "writt", "write", "autho", "novel", "by"},
    "write": {"wrote", "writt", "write", "autho"},
    "author": {"autho", "wrote", "writt", "novel"},
    "born": {"born", "birth"},
    "died": {"died", "death"},
    "die": {"died", "death"},
    "headq": {"headq", "based"},
    "sang": {"sang", "sing", "perfo", "recor"},
    "won": {"won", "win", "winne", "award"},
    "win": {"won", "win", "winne"},
    "oscar": {"oscar", "acade"},
    "oscars": {"oscar", "acade"},
    "buy": {"bough", "buy", "acqui"},
    "bough": {"bough", "buy", "acqui"},
    "acqui": {"bough", "acqui"},
    "chair": {"chair"},
    "led": {"led", "lead", "head", "chief", "ceo"},
    "run": {"run", "runs", "lead", "led", "ceo", "chief"},
    "runs": {"run", "runs", "lead", "led", "ceo", "chief"},
    "publi": {"publi", "wrote", "novel"},
    "relea": {"relea", "album", "film"},
    "many": set(),
    "title": set(),
    "titles": set(),
    "name": set(),
    "names": set(),
    "make": set(),
    "up": set(),
    "count": {"count", "state", "natio"},
    "much": set(),
    "year": set(),
    "years": set(),
    "time": set(),
    "times": set(),
}
_ALNUM = re.compile(r"[a-z0-9]+")
_NAME = re.compile(r"\b[A-Z][\w'\-.]*|\b\d[\w,.\-]*")
_REJECTS = re.compile(r"^\W*actually\b|\b(never|not|no|did not|didn't|isn't|wasn't)\b", re.I)


@dataclass(frozen=True)
class Fit:
    entity: float  # 0..1: the least named of the question's entity spans (title counts)
    conditions: bool  # every year condition satisfied
    soft_conditions: float  # 0..1: superlatives / ordinals found
    value: bool  # a value of the expected type, not given by the question
    attribute: float  # 0..1: the asked relation's words (or synonyms) in sentence + title
    answer: bool = False  # a composed answer sentence from KG reasoning

    @property
    def confidence(self) -> float:
        if not self.value or not self.conditions or self.entity <= 0:
            return 0.0
        relation = 0.5 + 0.5 * self.attribute
        return round(self.entity * relation * (0.8 + 0.2 * self.soft_conditions), 4)


def _new_values(question_toks: set[str], sentence: str) -> list[str]:
    """Capitalised words and numbers of ``sentence`` that the question does not contain."""
    out = []
    for m in _NAME.finditer(sentence):
        word = m.group().rstrip(".,")
        toks = _ALNUM.findall(word.lower())
        if toks and not all(t in question_toks or t in STOPWORDS for t in toks):
            out.append(word)
    return out


def _leads_with_entity(q: Question, low: list[str]) -> bool:
    """The sentence opens with one of the question's entities ("Canada has a larger area")."""
    head = " ".join(low[:6])
    return any(head.startswith(" ".join(tokens(e))) for e in q.entities if e)


def _has_value(q: Question, sentence: str, low: list[str], parts: _Parts) -> bool:
    q_toks = parts.toks
    new = _new_values(q_toks, sentence)
    years = [w for w in new if _YEAR.match(w)]
    kind = q.answer_type
    if kind == "year":
        return bool(years)
    if kind == "date":
        return bool(years) or any(m in low for m in MONTHS)
    if kind == "number":
        return _has_count(parts.count_near, low, q_toks)
    if kind == "yesno":
        return True
    names = [w for w in new if not w[:1].isdigit() or not _YEAR.match(w)]
    if kind == "set":
        return len(new) >= 2 and (" and " in sentence or sentence.count(",") >= 1)
    return bool(names)


@lru_cache(maxsize=1024)
def _words(text: str) -> frozenset[str]:
    """Content words of a text (memoized: a document's text and title serve all its sentences)."""
    return frozenset(content_words(text))


@lru_cache(maxsize=1024)
def _tokens(text: str) -> frozenset[str]:
    return frozenset(tokens(text))


@lru_cache(maxsize=16384)
def _root(word: str) -> str:
    return stem(word)[:5]


class _Parts(NamedTuple):
    """What the fit needs of a question, computed once per question."""

    toks: frozenset[str]
    spans: tuple[frozenset[str], ...]  # each entity span's content words
    asked: tuple[frozenset[str], ...]  # each relation word's accepted roots
    count_near: frozenset[str]  # roots a count must be followed by


@lru_cache(maxsize=1024)
def _parts(q: Question) -> _Parts:
    spans = tuple(w for w in (frozenset(content_words(e)) for e in q.entities) if w)
    asked = [_RELATED.get(w, _RELATED.get(_root(w), {_root(w)})) for w in q.attribute]
    near = {r for w in content_words(q.text) for r in _RELATED.get(_root(w), {_root(w)})}
    return _Parts(
        frozenset(tokens(q.text)), spans, tuple(frozenset(a) for a in asked if a), frozenset(near)
    )


def _has_count(near: frozenset[str], low: list[str], q_toks: frozenset[str]) -> bool:
    """A count or amount that the question does not give, not part of a date, and followed
    within three words by one of the question's words ("27 World Series titles")."""
    for i, t in enumerate(low):
        number = t[:1].isdigit() and not _YEAR.match(t)
        if not (number or t in _COUNT_WORDS) or t in q_toks:
            continue
        after = low[i + 1 : i + 4]
        if after and after[0] in MONTHS:
            continue  # "1 July 1867"
        if not near or any(_root(w) in near for w in after):
            return True
    return False


def _soft(q: Question, words: set[str]) -> float:
    wanted = [w for w in q.superlatives if w not in ("best",)]
    if not wanted:
        return 1.0
    found = sum(bool(_SYNONYMS.get(w, {w}) & words) for w in wanted)
    return found / len(wanted)


def fit(
    q: Question, sentence: str, title: str = "", context: str = "", answer: bool = False
) -> Fit:
    """How ``sentence`` (from a document titled ``title``, whose whole text is ``context``)
    fits the analysed question ``q``."""
    parts = _parts(q)
    low = tokens(sentence)
    raw = set(low) | _tokens(title)
    near = {stem(t) for t in low if t not in STOPWORDS and t not in FILLERS} | _words(title)
    far = _words(context) if context else frozenset()
    entity, shares = 1.0, []
    for words in parts.spans:
        got = sum(1.0 if w in near else 0.3 if w in far else 0.0 for w in words)
        shares.append(got / len(words))
    if shares:  # every entity must be named (a false premise pairs two that are not)
        entity = 0.5 * min(shares) + 0.5 * sum(shares) / len(shares)
    numbers = raw | {str(NUMBER_WORDS.index(t)) for t in raw if t in NUMBER_WORDS}
    conditions = all(y in raw for y in q.years) and all(n in numbers for n in q.numbers)
    roots = {_root(w) for w in near}
    hits = [bool(a & roots) for a in parts.asked]
    attribute = 0.5 * min(hits) + 0.5 * sum(hits) / len(hits) if hits else 1.0
    value = _has_value(q, sentence, low, parts)
    if answer:  # a composed answer restates the question: a rejection is its value, and so
        # is any value it adds (a year or a number is a comparison's evidence, not a name),
        # or, for a comparison, the entity it names first (the winner)
        value = (
            value
            or bool(_REJECTS.search(sentence))
            or bool(_new_values(parts.toks, sentence))
            or (q.qtype == "comparison" and _leads_with_entity(q, low))
        )
    return Fit(
        round(entity, 3), conditions, _soft(q, near | raw), value, round(attribute, 3), answer
    )
