"""The answer: fuse the question and retrieved evidence into a short spoken reply.

Order of preference, sentence by sentence:
1. "I don't know" when the evidence does not cover the question (CRAG scores a miss 0 and a
   hallucination -1, so abstaining beats guessing);
2. the LLM's sentence, if the faithfulness guard passes it (every number and name in it occurs in
   the evidence);
3. otherwise the evidence sentence that best matches the question, read as it is, or introduced
   with "I'm not sure, but here is what I found" when it cannot be the answer by its form: a count
   question whose sentence holds no count, or a question that needs arithmetic (an age, a number
   of years between two dates, a sum over several entities). Reading a fact is not computing one.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

from streaming.answer.llm import LlmBackend
from tools.search import Hit
from tools.text import STOPWORDS, content_words, overlap, split_sentences, tokens

log = logging.getLogger(__name__)
IDK = "I don't know."
_IDK_PATTERNS = re.compile(
    r"\b(i don'?t know|not sure|cannot answer|can'?t answer|no information)\b", re.I
)
_SENTENCE_END = re.compile(r"([.!?])(\s|$)")
HEDGE = "I'm not sure, but here is what I found."
_COUNT_QUESTION = re.compile(r"\bhow (many|much)\b", re.I)
_ARITHMETIC = re.compile(
    r"\bhow old\b|\bhow many years\b|\byears? (ago|after|before|apart|passed|separate|between)\b"
    r"|\bhow (much|many) (more|less|fewer|taller|longer|shorter|bigger|larger|higher|older)\b",
    re.I,
)
_SUM = re.compile(r"\b(combined|in total|together|altogether)\b", re.I)
_COUNT_WORDS = set(
    "one two three four five six seven eight nine ten eleven twelve dozen hundred thousand "
    "million billion trillion".split()
)
SYSTEM_PROMPT = (
    "You are a voice assistant. Answer the question in one short sentence, using only the facts "
    "given. If the facts do not contain the answer, say: I don't know."
)


@dataclass(frozen=True)
class AnswerSentence:
    text: str
    source: str  # "llm" | "extractive" | "hedge" | "idk"


def ranked_sentences(question: str, hits: list[Hit]) -> list[str]:
    """Evidence sentences, best match to the question first (earlier documents win ties).

    Each is prefixed with its document's title when the sentence does not name it, so that a
    sentence read alone still says what it is about."""
    scored = []
    for rank, hit in enumerate(hits):
        for i, sentence in enumerate(split_sentences(hit.doc.text)):
            score = overlap(question, f"{hit.doc.title} {sentence}") + overlap(question, sentence)
            scored.append((score - 0.05 * rank - 0.001 * i, sentence))
    scored.sort(key=lambda x: -x[0])
    return [s for _, s in scored]


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


def has_count(sentence: str) -> bool:
    """A number that is not a year (a count, an amount), in digits or words."""
    for tok in re.findall(r"\d[\d,.]*|[A-Za-z]+", sentence):
        if tok[0].isdigit():
            value = tok.replace(",", "").rstrip(".")
            if not (len(value) == 4 and value.isdigit() and 1000 <= int(value) <= 2100):
                return True
        elif tok.lower() in _COUNT_WORDS:
            return True
    return False


def cannot_be_the_answer(question: str, sentence: str) -> bool:
    """True when ``sentence`` cannot answer ``question`` by its form: the question needs
    arithmetic, sums over several entities, or asks for a count the sentence does not hold."""
    if _ARITHMETIC.search(question):
        return True
    if _COUNT_QUESTION.search(question):
        if _SUM.search(question) and re.search(r"\band\b", question):
            return True
        return not has_count(sentence)
    return False


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
        min_evidence_score: float = 0.34,
        max_tokens: int = 48,
        max_sentences: int = 2,
        n_facts: int = 3,
    ) -> None:
        self.n_facts = n_facts
        self.backend = backend
        self.min_evidence_score = min_evidence_score
        self.max_tokens = max_tokens
        self.max_sentences = max_sentences

    def relevance(self, question: str, hits: list[Hit]) -> float:
        return max((overlap(question, f"{h.doc.title} {h.doc.text}") for h in hits), default=0.0)

    async def answer(self, question: str, hits: list[Hit]) -> AsyncIterator[AnswerSentence]:
        if not hits or self.relevance(question, hits) < self.min_evidence_score:
            yield AnswerSentence(IDK, "idk")
            return
        facts = ranked_sentences(question, hits)[: self.n_facts]
        hedged = cannot_be_the_answer(question, facts[0])
        fallback = AnswerSentence(facts[0], "extractive")
        if self.backend is None:
            if hedged:
                yield AnswerSentence(HEDGE, "hedge")
            yield fallback
            return
        evidence = " ".join(facts)
        said = 0
        try:
            async for sentence in self._llm_sentences(question, facts):
                if not is_faithful(sentence, evidence):
                    log.info("guard rejected %r", sentence)
                    break
                said += 1
                yield AnswerSentence(sentence, "llm")
                if said >= self.max_sentences:
                    break
        except Exception:  # a dead endpoint degrades to the extractive answer
            log.exception("LLM backend failed")
        if said == 0:
            if hedged:
                yield AnswerSentence(HEDGE, "hedge")
            yield fallback

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
