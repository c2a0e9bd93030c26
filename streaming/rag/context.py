"""Follow-up questions as pure logic: the last turn's context and a standalone rewrite.

A session keeps the last turn's ``Context`` (the question as it was answered, its entity, the
spoken answer). ``resolve_followup`` turns "and when was he born?", "what about France?", "how
old is she?" or "and its population?" into a question that stands alone ("when was Tim Cook
born", "what is the capital of France", ...), and leaves a standalone question alone. The
rewritten question is what the lookup, the reflector and the answerer see, so a speculative call
fired on the bare partials of a follow-up ("born") is never mistaken for the rewritten query.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from tools.language.text import FILLERS, STOPWORDS, tokens

_PUNCT = ",.?!;:'\"()"
_PERSON = {"he": "", "him": "", "his": "'s", "she": "", "her": "'s", "hers": "'s"}
_THING = {"it": "", "its": "'s", "they": "", "them": "", "their": "'s"}
_OPENERS = frozenset("and so also okay ok then well oh now but".split())
_QUESTION = frozenset(
    """what what's whats who who's whos whom whose when where where's which why
    how how's is are was were do does did can could will would should has have had tell name list
    give show find""".split()
)
_CONNECT = frozenset("of the and & de da del der la le van von".split())
_NOT_NAMES = frozenset(
    """i i'm the a an it he she they this that these those in on at by for
    from since after before with and but january february march april may june july august
    september october november december monday tuesday wednesday thursday friday saturday sunday
    yes no not sure here actually""".split()
)
# "it" that is not a thing: "let it be", "is it true that", "how long does it take"
_GENERIC_IT = re.compile(r"\b(?:let|make) it\b|\bit (?:true|possible|take|takes|rain|mean)\b", re.I)
_ABOUT = re.compile(r"^(?:what|how)\s+about\s+(?:for\s+|in\s+)?(.+)$|^what\s+of\s+(.+)$", re.I)
_YEAR = re.compile(r"\b(?:1[0-9]|20)\d\d\b")


@dataclass(frozen=True)
class Context:
    """One answered turn: the standalone question, its entity (if known), the spoken answer."""

    question: str
    entity: str | None = None
    answer: str = ""


def _core(tok: str) -> str:
    return tok.lower().strip(_PUNCT)


def names(text: str) -> list[str]:
    """Capitalized names in ``text`` ("Tim Cook", "Bank of America"), in order; a sentence's
    first word counts only when it is not a common word ("The", "It")."""
    toks, out, i = text.split(), [], 0

    def name_like(k: int) -> bool:
        word = toks[k].strip(_PUNCT)
        return (word[:1].isupper() or word[:1].isdigit() and not _YEAR.fullmatch(word)) and (
            _core(toks[k]) not in _NOT_NAMES and _core(toks[k]) not in STOPWORDS
        )

    while i < len(toks):
        if not name_like(i):
            i += 1
            continue
        j = i + 1
        while j < len(toks) and toks[j - 1][-1] not in _PUNCT:
            if name_like(j):
                j += 1
            elif (
                _core(toks[j]) in _CONNECT
                and j + 1 < len(toks)
                and name_like(j + 1)
                and (toks[j][-1] not in _PUNCT)
            ):
                j += 2
            else:
                break
        out.append(" ".join(t.strip(_PUNCT) for t in toks[i:j]))
        i = j
    return out


def _words(text: str) -> set[str]:
    return {t.split("'")[0] for t in tokens(text)}


def _content(text: str) -> set[str]:
    return {t for t in _words(text) if t not in STOPWORDS and t not in FILLERS}


def question_entity(question: str, kg_entity: str | None = None) -> str | None:
    """The entity a question is about: the knowledge graph's parse, else its last name."""
    if kg_entity:
        return kg_entity
    found = [n for n in names(question) if not _content(n) <= {"ceo", "cfo", "cto"}]
    return found[-1] if found else None


def answer_entity(context: Context, person: bool = False) -> str | None:
    """The first name in the answer that the question did not already say ("Tim Cook"); for a
    person, a full name first ("... a 1997 American film directed by James Cameron")."""
    asked = _words(context.question) | _words(context.entity or "")
    new = [n for n in names(context.answer) if not _content(n) <= asked]
    full = [n for n in new if len(n.split()) > 1] if person else []
    return (full or new or [None])[0]


def _mention(question: str, entity: str) -> tuple[int, int] | None:
    """The token span of ``question`` that names ``entity`` ("apple" for "Apple Inc.")."""
    toks, want = question.split(), _words(entity)
    best: tuple[int, int, int] | None = None  # (length, start, end)
    for s in range(len(toks)):
        for e in range(s + 1, min(len(toks), s + 6) + 1):
            span = [_core(t).split("'")[0] for t in toks[s:e]]
            if not set(span) <= want or not set(span) - STOPWORDS:
                break
            if best is None or (e - s, s) >= best[:2]:
                best = (e - s, s, e)
    if best is not None:
        return best[1], best[2]
    scored = [
        (
            difflib.SequenceMatcher(None, " ".join(map(_core, toks[s:e])), entity.lower()).ratio(),
            s,
            e,
        )
        for s in range(len(toks))
        for e in range(s + 1, min(len(toks), s + 4) + 1)
    ]
    score, s, e = max(scored, default=(0.0, 0, 0))
    return (s, e) if score >= 0.7 else None


def _person(previous: Context) -> str | None:
    """Who "he" or "she" is: the answer to a "who" question asked through a role ("who is the
    ceo of apple" -> Tim Cook), else the question's own entity ("when was Obama born")."""
    toks = [t for t in tokens(previous.question) if t not in FILLERS]
    role = _content(previous.question) - _words(previous.entity or "")
    if toks[:1] == ["who"] and role and (name := answer_entity(previous, person=True)):
        return name
    return previous.entity or question_entity(previous.question) or answer_entity(previous)


def _thing(previous: Context) -> str | None:
    """What "it" or "they" is: the question's entity, as the graph or the answer spells it."""
    if entity := previous.entity or question_entity(previous.question):
        return entity
    asked = _content(previous.question)
    said = [n for n in names(previous.answer) if _content(n) and _content(n) <= asked]
    return said[0] if said else answer_entity(previous)  # "who directed oppenheimer"


def _replace_pronouns(text: str, previous: Context) -> str | None:
    """``text`` with its pronouns replaced by the entity they stand for; None when it has none."""
    if _GENERIC_IT.search(text):
        return None
    toks, changed = text.split(), False
    for k, tok in enumerate(toks):
        core, word = _core(tok), tok.strip(_PUNCT)
        table = _PERSON if core in _PERSON else _THING if core in _THING else None
        if table is None or (k and word[:1].isupper()):  # "Let It Be", a title
            continue
        if question_entity(" ".join(toks[:k])):  # "do the Celtics play their games": named here
            return None
        entity = _person(previous) if table is _PERSON else _thing(previous)
        if not entity:
            return None
        tail = tok[len(tok.rstrip(_PUNCT)) :]
        toks[k], changed = entity + table[core] + tail, True
    return " ".join(toks) if changed else None


def _substitute(previous: Context, other: str) -> str | None:
    """The previous question asked about ``other`` instead ("what about France?")."""
    if _YEAR.search(other) and not _content(_YEAR.sub("", other)):  # "and in 2010?"
        if _YEAR.search(previous.question):
            return _YEAR.sub(_YEAR.search(other).group(), previous.question, count=1)
        return f"{previous.question.rstrip('?.! ')} {other}"
    entity = previous.entity or question_entity(previous.question)
    span = _mention(previous.question, entity) if entity else None
    if span is None:
        return None
    toks = previous.question.split()
    s, e = span
    tail = toks[e - 1][len(toks[e - 1].rstrip(_PUNCT)) :]
    return " ".join([*toks[:s], other + tail, *toks[e:]])


def resolve_followup(question: str, previous: Context | None) -> str:
    """A standalone question for ``question``, given the last turn (unchanged when it already
    stands alone, or when nothing in the last turn says what it refers to)."""
    if previous is None or not question.strip():
        return question
    toks = question.split()
    opened = 0
    while opened < len(toks) - 1 and _core(toks[opened]) in _OPENERS | {"um", "uh"}:
        opened += 1
    body = " ".join(toks[opened:]).strip()
    bare = body.rstrip("?.! ")
    m = _ABOUT.match(bare)
    other = (m.group(1) or m.group(2)).strip() if m else None
    if other is None and opened and _core(toks[opened]) not in _QUESTION and len(bare.split()) <= 4:
        other = bare  # "and France?", "and its population?"
    if other is not None:
        attribute = _replace_pronouns(other, previous)
        if attribute is not None:  # "what about his age" -> "what is Tim Cook's age"
            return f"what is {attribute}"
        first = other.split()[0].lower()
        if first in {"the", "a", "an"} and len(other.split()) > 1 and other.split()[1].islower():
            entity = _thing(previous)  # "what about the population?"
            return f"what is {other} of {entity}" if entity else question
        return _substitute(previous, other) or question
    return _replace_pronouns(body, previous) or question
