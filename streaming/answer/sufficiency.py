"""When may the answer start: is the evidence in hand sufficient, with some tools still out?

The answerer decides, by the same rule it answers with (``Answerer.choose``): the evidence
suffices when it yields an answer rather than "I don't know", and nothing still out could
replace that answer. Which tools may compose an answer is theirs to declare
(``ToolSpec.composes``: the knowledge graph, the calculator).
- A composed answer wins over every other candidate, so it never waits.
- Any other answer waits for a composing tool's call still out: a composed answer from it would
  win (measured on the demo questions, search evidence read before the graph answered 9 of 47
  answerable questions differently: 4 worse, 2 better; docs/decisions.md).
- A tool that does not compose (search) never holds back an answer found in the graph's facts (the same demo
  questions: 98 answered so, none differently from waiting for the search).
"""

from __future__ import annotations

from streaming.answer.answerer import Answerer
from tools.result import Hit


def evidence_suffices(
    answerer: Answerer, question: str, hits: list[Hit], pending: frozenset[str]
) -> bool:
    """True when ``hits`` answer ``question`` as they would with the results of the composing
    tools still out (``pending``) added, as far as can be told before they arrive."""
    _, chosen = answerer.choose(question, hits)
    if not chosen:
        return False  # "I don't know" so far: what is still out may answer it
    return chosen[0].source == "composed" or not pending
