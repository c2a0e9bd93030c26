"""Small text helpers shared by search, the predictor and the answer guard."""

from __future__ import annotations

import re
import unicodedata

STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further had
    has have having he her here hers herself him himself his how i if in into is it its itself just
    me more most my myself no nor not now of off on once only or other our ours ourselves out over
    own same she should so some such than that the their theirs them themselves then there these
    they this those through to too under until up very was we were what when where which while who
    whom why will with would you your yours yourself yourselves tell me please know can could
    us also i'd i'm what's who's whats whos it's""".split()
)
NUMBER_WORDS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen twenty"
).split()  # NUMBER_WORDS[n] is the word for n
FILLERS = frozenset("um uh erm er ah hmm uhm mm like so well okay ok actually basically".split())
_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")


def tokens(text: str) -> list[str]:
    """Lowercase word tokens, with number separators removed (``1,000`` -> ``1000``)."""
    text = unicodedata.normalize("NFKD", text.lower()).encode("ascii", "ignore").decode()
    text = re.sub(r"(?<=\d),(?=\d{3})", "", text)
    return _TOKEN.findall(text)


def stem(word: str) -> str:
    """A deliberately light stemmer: plural and possessive endings only."""
    if word.endswith("'s"):
        word = word[:-2]
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def content_words(text: str) -> list[str]:
    """Stemmed tokens without stopwords and fillers, in order."""
    return [stem(t) for t in tokens(text) if t not in STOPWORDS and t not in FILLERS]


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.split(text.strip()) if s.strip()]


def overlap(query: str, text: str) -> float:
    """Share of the query's distinct content words found in ``text`` (0..1)."""
    q = set(content_words(query))
    if not q:
        return 0.0
    return len(q & set(content_words(text))) / len(q)


DISMISSALS = frozenset(
    "stop wait hold cancel never mind nevermind quiet shut enough thank thanks okay ok fine "
    "great cool alright right yes yeah no nope sorry hello hi hey bye goodbye pause".split()
)


def is_dismissal(text: str) -> bool:
    """True for turns like "wait, stop please" or "thanks": nothing to look up or answer."""
    words = [t for t in tokens(text) if t not in STOPWORDS and t not in FILLERS]
    return all(w in DISMISSALS for w in words)
