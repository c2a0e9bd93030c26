"""What every tool call returns: a ``SearchResult`` of ``Hit``s (a passage, or a composed answer).

A composed answer (knowledge-graph reasoning, the calculator) is a hit with ``answer=True``,
spoken as it is and first; any other hit is a passage the reader splits into sentences.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .corpus import Document


@dataclass(frozen=True)
class Hit:
    doc: Document
    score: float
    snippet: str
    answer: bool = False  # a composed answer (KG reasoning), to be spoken as it is, first

    def as_dict(self) -> dict:
        return {
            "id": self.doc.id,
            "title": self.doc.title,
            "url": self.doc.url,
            "snippet": self.snippet,
            "score": round(self.score, 3),
        }


@dataclass
class SearchResult:
    query: str
    hits: list[Hit]
    elapsed_ms: float
    error: str | None = None
    meta: dict = field(default_factory=dict)
