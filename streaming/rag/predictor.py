"""Stream-RAG prediction as pure logic: partial transcripts in, tool actions out.

Nothing here touches a model, a socket or a clock: tests drive it with scripted
``(audio_ms, text)`` timelines. ``Lookup`` executes the actions.

- ``make_query``: rule-based query generation (fillers and self-corrections removed).
- ``Predictor``: the ``final``, ``fixed-interval`` and ``triggered`` strategies.
- ``reflect``: at end of turn, the earliest speculative call sufficient for the final query.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from tools.text import FILLERS, STOPWORDS, stem, tokens

KgKey = tuple[str, str]
KgParser = Callable[[str], KgKey | None]
# "austria, no, australia" / "austria, I mean australia" / "sorry, australia"
_CORRECTION = re.compile(
    r"(?:[,.?!;]\s*(?:no|nope|sorry|i mean|rather|actually)\b[,.!]?"
    r"|\b(?:no|nope|sorry)[,.!]|\bi mean\b,?|\bscratch that\b[,.]?)\s+",
    re.I,
)
_MORE_MARKERS = re.compile(r"^(?:(?:no|nope|sorry|i mean|rather|actually|wait)\b[,.!]?\s*)+", re.I)
_REPEAT = re.compile(r"\b(\w+)(?:\s+\1\b)+", re.I)  # stutters: "the the"


def apply_corrections(text: str) -> str:
    """Rewrite a spoken self-correction: the words after the marker replace as many content
    words before it. "capital of austria, no, australia" -> "capital of australia"."""
    text = _REPEAT.sub(r"\1", text)
    while (m := _CORRECTION.search(text)) is not None and m.start() > 0:
        before, after = text[: m.start()], _MORE_MARKERS.sub("", text[m.end() :])
        fix = [w for w in after.split() if w.lower().strip(",.?!") not in STOPWORDS]
        if not fix:
            text = before
            break
        words = before.rstrip(" ,.?!-").split()
        replaced, i = 0, len(words) - 1
        while i >= 0 and replaced < len(fix):
            if words[i].lower().strip(",.?!") not in STOPWORDS:
                replaced += 1
            i -= 1
        text = " ".join(words[: i + 1] + after.split())
    return text


def make_query(text: str) -> str:
    """Search query from speech: corrections applied, stopwords and fillers dropped, order kept."""
    words, seen = [], set()
    for tok in tokens(apply_corrections(text)):
        if tok in STOPWORDS or tok in FILLERS:
            continue
        key = stem(tok)
        if key not in seen:
            seen.add(key)
            words.append(tok)
    return " ".join(words)


def query_key(query: str) -> str:
    """Order-insensitive normal form: two queries with the same key return the same results."""
    return " ".join(sorted({stem(t) for t in query.split()}))


@dataclass(frozen=True)
class Fire:
    tool: str
    query: str
    key: str
    audio_ms: int
    supersedes: str | None = None  # key of the in-flight call this one replaces (triggered)


@dataclass
class Predictor:
    """Decides, per partial hypothesis, which tool calls to fire.

    ``fixed-interval`` queries at every partial whose query changed (the runner runs them in
    parallel up to a bound and caches them); ``triggered`` fires only on a meaningful change (at
    least ``min_words`` content words, and a new word set) and supersedes the previous call.
    """

    strategy: str = "final"
    kg_parse: KgParser | None = None
    min_words: int = 2
    _last: dict[str, str] = field(default_factory=dict)

    def reset(self) -> None:
        self._last.clear()

    def on_partial(self, text: str, audio_ms: int) -> list[Fire]:
        if self.strategy == "final":
            return []
        query = make_query(text)
        if not query:
            return []
        actions = []
        key = query_key(query)
        words = len(query.split())
        enough = words >= (self.min_words if self.strategy == "triggered" else 1)
        if enough and key != self._last.get("search"):
            prev = self._last.get("search") if self.strategy == "triggered" else None
            actions.append(Fire("search", query, key, audio_ms, prev))
            self._last["search"] = key
        text = apply_corrections(text)
        kg = self.kg_parse(text) if self.kg_parse else None
        if kg is not None:
            kg_key = "|".join(kg)
            if kg_key != self._last.get("kg"):
                prev = self._last.get("kg") if self.strategy == "triggered" else None
                actions.append(Fire("kg", text, kg_key, audio_ms, prev))
                self._last["kg"] = kg_key
        return actions


@dataclass(frozen=True)
class CallView:
    """What the reflector needs to know about a cached call."""

    id: str
    tool: str
    query: str
    key: str
    audio_ms: int
    ok: bool  # finished with results, or still running (not cancelled, not failed)


def reflect(
    tool: str,
    final_query: str,
    final_key: str,
    calls: list[CallView],
    same_results: Callable[[str, str], bool] | None = None,
) -> CallView | None:
    """The earliest call of ``tool`` sufficient for the final query, or None.

    Sufficient means an equal key (the same normalized query, or for the knowledge graph the same
    entity and attribute), or, for search, the same top-k from a cheap local check."""
    for call in sorted((c for c in calls if c.tool == tool and c.ok), key=lambda c: c.audio_ms):
        if call.key == final_key:
            return call
        if tool == "search" and same_results is not None and same_results(call.query, final_query):
            return call
    return None
