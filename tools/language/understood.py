"""The question as meant: one transcript understood once, read by every later stage.

``understand`` applies spoken self-corrections (and, given one, a follow-up rewrite against the
previous turn) and derives the search words; the result is immutable, so the predictor, every
tool's planner, the fan-out and the reflector read the same value instead of re-deriving it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

from tools.language.corrections import apply_corrections, make_query, query_key

# counts calls of ``understand``: tests assert a partial is understood once
PARSES = {"count": 0}


@dataclass(frozen=True)
class Understood:
    """A transcript (partial or final) as the question meant."""

    raw: str  # what the ASR heard
    text: str  # corrections applied, a follow-up made standalone
    query: str  # the search words of ``text`` (stopwords and fillers dropped, order kept)

    @cached_property
    def key(self) -> str:
        """The order-insensitive normal form of ``query``."""
        return query_key(self.query)

    @property
    def words(self) -> list[str]:
        return self.query.split()

    def rewritten(self, text: str) -> Understood:
        """The same utterance meant as ``text`` (a completed name: no corrections left to do)."""
        return Understood(self.raw, text, make_query(text))


def understand(raw: str, rewrite: Callable[[str], str] | None = None) -> Understood:
    """``raw`` understood: corrections applied, then ``rewrite`` (a follow-up made standalone)."""
    PARSES["count"] += 1
    text = apply_corrections(raw)
    if rewrite is not None:
        text = rewrite(text)
    # make_query applies corrections itself; ``text`` has none left, so this is one pass
    return Understood(raw, text, make_query(text))
