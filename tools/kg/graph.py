"""The knowledge graph: the fact store and the reasoning built on it, behind one object.

``KnowledgeGraph`` is ``FactGraph`` (``tools.kg.facts``: entities, aliases, facts, the one-fact
parse) plus ``kg_key``, which needs the reasoning (``tools.kg.reason``). Keeping it here, above
both, is what lets the modules import in one direction only: names, values -> facts -> base ->
arith -> reason -> graph -> tool.
"""

from __future__ import annotations

from .facts import FactGraph
from .names import norm
from .reason import reason


class KnowledgeGraph(FactGraph):
    """The graph the server builds (``KnowledgeGraph.build(docs)``) and the tools query."""

    def kg_key(self, text: str) -> tuple[str, str] | None:
        """Normalized (entity, attribute) of a question, to compare two queries cheaply; for a
        question the graph answers by reasoning, every entity it used and what it concluded, so
        a partial's answer is reused only for a final that reasons the same."""
        if (r := reason(self, text)) is not None:
            return r.key
        q = self.parse(text)
        return None if q is None else (norm(q.entity), q.attribute)
