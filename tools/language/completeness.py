"""Is this (partial) transcript a complete question? A cheap text-only score in [0, 1] (pure).

The end-of-turn policy (``voice/endpoint.py``) reads it at each pause: a transcript that ends in
a filler, a conjunction, a preposition, an article, an auxiliary or a bare question frame ("what
is the") is a speaker in mid-thought, so the turn should wait; a question with a wh-word or an
auxiliary up front and content after its verb is most likely complete, so the turn may end early.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

FILLERS = {"um", "uh", "erm", "er", "hmm", "mm", "uhm", "umm", "ah", "eh"}
CONJUNCTIONS = {"and", "or", "but", "so", "because", "then", "if", "than", "nor", "while"}
PREPOSITIONS = {
    "of", "in", "on", "at", "to", "for", "from", "with", "by", "about", "into", "between",
    "during", "after", "before", "since", "over", "under", "as", "against", "among", "per",
}  # fmt: skip
ARTICLES = {"the", "a", "an", "my", "your", "his", "its", "their", "our"}
AUXILIARIES = {
    "is", "are", "was", "were", "be", "been", "do", "does", "did", "has", "have", "had",
    "can", "could", "will", "would", "should", "shall", "may", "might", "must", "am",
}  # fmt: skip
WH_WORDS = {"what", "who", "whom", "whose", "which", "where", "when", "why", "how"}
# multi-word trailers that leave the thought open whatever the last word is
OPEN_ENDINGS = ("you know", "i mean", "sort of", "kind of", "let me think", "let's see", "i think")
# a preposition a wh-question may end on ("what arena do the celtics play their home games in")
STRANDABLE = {"in", "on", "at", "to", "for", "from", "with", "about", "by"}
# what whisper makes of a cut-off article at a pause: "who directed the" -> "Who directed that?"
DANGLING_PRONOUNS = {"that", "this", "it", "them", "there", "these", "those"}
IMPERATIVES = {"tell", "name", "give", "list", "show", "explain", "describe", "find"}
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


@dataclass(frozen=True)
class Completeness:
    """``score``: 0 = surely unfinished, 1 = a finished question; ``reason`` says why."""

    score: float
    reason: str
    cut_off: bool = False  # may end on a cut-off word: only a sure audio model may end the turn

    @property
    def complete(self) -> bool:
        return self.score >= 0.7

    @property
    def incomplete(self) -> bool:
        return self.score <= 0.3


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower().replace("’", "'"))


def completeness(text: str) -> Completeness:
    """Score how finished ``text`` sounds as a spoken question or request."""
    ws = words(text)
    if not ws:
        return Completeness(0.0, "empty")
    last = ws[-1]
    tail = " ".join(ws[-3:])
    if any(tail.endswith(e) for e in OPEN_ENDINGS):
        return Completeness(0.1, f"open ending '{tail}'")
    for group, name in (
        (FILLERS, "filler"),
        (CONJUNCTIONS, "conjunction"),
        (PREPOSITIONS, "preposition"),
        (ARTICLES, "article"),
    ):
        if last in group:
            if group is PREPOSITIONS and _stranded(ws):
                return Completeness(0.5, f"a wh-question may end on '{last}'")
            return Completeness(0.05, f"trailing {name} '{last}'")
    if last in WH_WORDS or (last in AUXILIARIES and not _embedded_question(ws)):
        return Completeness(0.1, f"trailing '{last}'")
    content = [w for w in ws if w not in FILLERS]
    if not content:
        return Completeness(0.05, "fillers only")
    shape = _question_shape(content)
    if shape.complete and last in DANGLING_PRONOUNS and len(content) <= 5:
        # short and ending on a pronoun: as likely a cut-off "the" as a finished question
        return Completeness(0.5, f"'{last}' may be a cut-off article", cut_off=True)
    return shape


def _stranded(ws: list[str]) -> bool:
    """A wh-question whose auxiliary has a subject of two or more words before the trailing
    preposition ("what city was he born in") may end on it; "what is the capital of" may not."""
    if ws[-1] not in STRANDABLE or not set(ws[:2]) & WH_WORDS:  # "so what city ..." too
        return False
    aux = next((i for i, w in enumerate(ws) if w in AUXILIARIES), None)
    if aux is None:
        return False
    return len(ws) - aux - 2 >= 2 and ws[-2] not in ARTICLES | PREPOSITIONS


def _embedded_question(ws: list[str]) -> bool:
    """ "... what the capital of australia is": a wh-word, a subject of two or more words, then
    the verb last. "what is", "how old is" are not."""
    wh = max((i for i, w in enumerate(ws[:-1]) if w in WH_WORDS), default=None)
    if wh is None:
        return False
    between = ws[wh + 1 : -1]
    return len(between) >= 2 and between[0] not in AUXILIARIES


def _question_shape(ws: list[str]) -> Completeness:
    """The shape of a filler-free transcript that does not end on an open word."""
    if len(ws) == 1:
        return Completeness(0.4, "one word")
    wh = next((i for i, w in enumerate(ws) if w in WH_WORDS), None)
    if wh is not None:
        if ws[-1] in AUXILIARIES and _embedded_question(ws):
            return Completeness(0.8, "embedded question, its verb last")
        after = ws[wh + 1 :]
        verb = next((i for i, w in enumerate(after) if w in AUXILIARIES), None)
        if verb is not None:
            rest = after[verb + 1 :]
            if not rest:
                return Completeness(0.15, "wh-question without content after its verb")
            return Completeness(0.9, "wh-question with content after its verb")
        if len(after) >= 2:  # "who directed titanic", "how many moons does mars have"
            return Completeness(0.8, "wh-question with a verb phrase")
        return Completeness(0.3, "wh-word and one word")
    if ws[0] in AUXILIARIES and len(ws) >= 3:  # "is paris the capital of france"
        return Completeness(0.85, "yes/no question")
    if ws[0] in IMPERATIVES or ws[:2] == ["could", "you"]:
        return Completeness(0.75 if len(ws) >= 3 else 0.3, "request")
    return Completeness(0.6 if len(ws) >= 3 else 0.4, "statement")
