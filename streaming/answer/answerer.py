"""The answer: fuse the question and retrieved evidence into a short spoken reply.

Every candidate is checked against the analysed question (``fit.py``: it names the question's
entity, satisfies its conditions, carries a value of the expected type) and given a confidence.
Order of preference:
1. a composed answer sentence from knowledge-graph reasoning (``Hit.answer``) that fits, as is;
2. "I don't know" when no candidate reaches ``min_confidence``, or the question needs reasoning
   (a comparison, a multi-hop chain, arithmetic, a sum) that no composed answer did: reading one
   fact aloud cannot answer it, and CRAG scores a miss 0 but a wrong answer -1;
3. the LLM's sentence, if the faithfulness guard passes it (every number and name in it occurs in
   the evidence) and it fits the question as well;
4. otherwise the best fitting evidence sentence, read as it is.
There is no hedge ("I'm not sure, but ..." + a sentence): a sentence that cannot be the answer
is not said at all.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

from streaming.answer.fit import Fit, fit
from streaming.answer.llm import LlmBackend
from streaming.answer.settings import AnswerSettings
from tools.language.question import Question, analyze
from tools.language.text import STOPWORDS, content_words, overlap, split_sentences, tokens
from tools.result import Hit

log = logging.getLogger(__name__)
IDK = "I don't know."
# said instead of "I don't know" when every tool call of the turn failed (errors, deadlines):
# the user should hear that the sources are unreachable, not that the answer is unknown
TOOLS_DOWN = "Sorry, I can't reach my sources right now."
_IDK_PATTERNS = re.compile(
    r"\b(i don'?t know|not sure|cannot answer|can'?t answer|no information)\b", re.I
)
_SENTENCE_END = re.compile(r"([.!?])(\s|$)")
MIN_CONFIDENCE = AnswerSettings.min_answer_confidence
SYSTEM_PROMPT = (
    "You are a voice assistant. Answer the question in one short sentence, using only the facts "
    "given. If the facts do not contain the answer, say: I don't know."
)


@dataclass(frozen=True)
class AnswerSentence:
    text: str
    source: str  # "composed" | "llm" | "extractive" | "idk" | "tools_down" (``TOOLS_DOWN``)


def unsupported_terms(sentence: str, evidence: str) -> list[str]:
    """Numbers and capitalised names in ``sentence`` that do not occur in ``evidence``."""
    known = set(tokens(evidence))
    words = sentence.split()
    missing = []
    for i, raw in enumerate(words):
        for tok in tokens(raw):
            is_number = any(c.isdigit() for c in tok)
            is_name = raw[:1].isupper() and i > 0 and tok not in STOPWORDS
            if (is_number or is_name) and tok not in known and tok.rstrip("s") not in known:
                missing.append(tok)
    return missing


def is_faithful(sentence: str, evidence: str) -> bool:
    if _IDK_PATTERNS.search(sentence) or not content_words(sentence):
        return False
    if unsupported_terms(sentence, evidence):
        return False
    return overlap(sentence, evidence) >= 0.6


def cannot_be_the_answer(question: str, sentence: str) -> bool:
    """True when ``sentence`` cannot answer ``question`` by its form: the question needs
    reasoning (arithmetic, a comparison, a chain, a sum), or the sentence holds no value of the
    expected type (no count for "how many", no year for "what year", no name for "who")."""
    q = analyze(question)
    return q.needs_reasoning or not fit(q, sentence).value


@dataclass(frozen=True)
class Candidate:
    text: str
    source: str  # "composed" (an answer a tool composed) | "extractive"
    fit: Fit
    rank: int  # evidence order: earlier documents and sentences first

    @property
    def confidence(self) -> float:
        return self.fit.confidence


def candidates(q: Question, hits: list[Hit]) -> list[Candidate]:
    """Every evidence sentence with its fit, most confident first (evidence order breaks ties).

    A hit whose snippet is a composed answer (``Hit.answer``, KG reasoning) is one candidate
    as it is; the other hits give one candidate per sentence of their document."""
    context: dict[str, str] = {}
    for hit in hits:  # a KG fact carries one sentence; the search hit of its document all
        if len(hit.doc.text) > len(context.get(hit.doc.id, "")):
            context[hit.doc.id] = hit.doc.text
    out: list[Candidate] = []
    seen: set[str] = set()
    for hit in hits:
        title, ctx = hit.doc.title, context.get(hit.doc.id, "")
        if hit.answer:
            out.append(
                Candidate(hit.snippet, "composed", fit(q, hit.snippet, title, ctx, True), -1)
            )
            continue
        for sentence in split_sentences(hit.doc.text):
            if sentence not in seen:
                seen.add(sentence)
                out.append(
                    Candidate(sentence, "extractive", fit(q, sentence, title, ctx), len(out))
                )
    out.sort(key=lambda c: (c.source != "composed", -c.confidence, c.rank))
    return out


def build_messages(question: str, facts: list[str]) -> list[dict[str, str]]:
    """A short prompt: prompt tokens dominate time to first token on a 2-core CPU."""
    facts_text = "\n".join(f"- {f}" for f in facts)
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": f"Facts:\n{facts_text}\n\nQuestion: {question}"},
    ]


class Answerer:
    def __init__(
        self,
        backend: LlmBackend | None,
        min_confidence: float = MIN_CONFIDENCE,
        max_tokens: int = AnswerSettings.max_answer_tokens,
        max_sentences: int = 2,
        n_facts: int = 3,
    ) -> None:
        self.n_facts = n_facts
        self.backend = backend
        self.min_confidence = min_confidence
        self.max_tokens = max_tokens
        self.max_sentences = max_sentences

    def choose(self, question: str, hits: list[Hit]) -> tuple[Question, list[Candidate]]:
        """The analysed question and its candidates, best first; empty for "I don't know"
        (the best is below ``min_confidence``, or reasoning is needed and none was composed).
        A fitting composed KG answer, if any, is the only one."""
        q = analyze(question)
        found = candidates(q, hits)
        composed = [c for c in found if c.source == "composed" and c.confidence > 0]
        if composed:
            return q, composed[:1]
        if q.needs_reasoning or not found or found[0].confidence < self.min_confidence:
            return q, []
        return q, found

    async def answer(self, question: str, hits: list[Hit]) -> AsyncIterator[AnswerSentence]:
        q, chosen = self.choose(question, hits)
        if not chosen:
            yield AnswerSentence(IDK, "idk")
            return
        best = chosen[0]
        fallback = AnswerSentence(best.text, best.source)
        if self.backend is None or best.source == "composed":
            yield fallback
            return
        facts = [c.text for c in chosen[: self.n_facts]]
        evidence = " ".join(facts)
        titles = " ".join(dict.fromkeys(h.doc.title for h in hits))
        said = 0
        try:
            async for sentence in self._llm_sentences(question, facts):
                if not is_faithful(sentence, evidence):
                    log.info("guard rejected %r", sentence)
                    break
                if (
                    said == 0
                    and fit(q, sentence, titles, evidence).confidence < self.min_confidence
                ):
                    log.info("fit rejected %r", sentence)  # faithful, but not an answer
                    break
                said += 1
                yield AnswerSentence(sentence, "llm")
                if said >= self.max_sentences:
                    break
        except Exception:  # a dead endpoint degrades to the extractive answer
            log.exception("LLM backend failed")
        if said == 0:
            yield fallback

    async def prefill(self, question: str, hits: list[Hit]) -> int:
        """Speculative prefill: put the start of the prompt ``answer`` would send (instructions
        and facts; the question comes last) into the LLM's cache; the tokens evaluated."""
        if self.backend is None:
            return 0
        _, chosen = self.choose(question, hits)
        if not chosen or chosen[0].source == "composed":
            return 0  # "I don't know" or a composed answer: no LLM call to prepare
        facts = [c.text for c in chosen[: self.n_facts]]
        return await self.backend.prefill(build_messages("", facts))

    async def _llm_sentences(self, question: str, facts: list[str]) -> AsyncIterator[str]:
        assert self.backend is not None
        buffer = ""
        async for delta in self.backend.stream(build_messages(question, facts), self.max_tokens):
            buffer += delta
            while (m := _SENTENCE_END.search(buffer)) is not None:
                sentence, buffer = buffer[: m.end(1)].strip(), buffer[m.end() :]
                if sentence:
                    yield sentence
        if buffer.strip() and len(buffer.split()) >= 3:
            yield buffer.strip()
