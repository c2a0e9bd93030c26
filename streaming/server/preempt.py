"""Preemptive answers: start answering at the user's first pause, before the end of turn.

When the VAD reports a pause and the latest hypothesis already has a *sufficient* tool result in
hand (the reflector's test, with no new call and no side effect), the answer text and the audio
of its first sentence are prepared at speculative priority. At end of turn the preparation is
committed if the final transcript asks the same thing (the same query words, or more of them) over
the same evidence;
otherwise it is discarded and the turn is answered as usual. Speech resuming cancels it.

Speculative prefill is the LLM's share of the same idea, and starts earlier: at every partial
whose evidence is already in hand, the prompt's prefix (instructions and facts; the question
comes last) is evaluated into the model's cache, so that at end of turn only the question's
tokens remain to be read. A newer prefill supersedes the one in flight (docs/decisions.md).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

import numpy as np

from streaming.answer.answerer import AnswerSentence
from streaming.rag.lookup import Lookup
from streaming.rag.predictor import apply_corrections, make_query, query_key
from streaming.server.engine import Engine
from tools.search import Hit
from voice.models import Priority
from voice.tts import split_for_speech

log = logging.getLogger(__name__)


def _ids(hits: list[Hit]) -> tuple[str, ...]:
    return tuple(h.doc.id for h in hits)


@dataclass
class Prepared:
    key: str
    evidence: tuple[str, ...]
    sentences: list[AnswerSentence] = field(default_factory=list)
    first_audio: list[np.ndarray] = field(default_factory=list)


class Preemptor:
    def __init__(self, engine: Engine, lookup: Lookup) -> None:
        self.engine = engine
        self.lookup = lookup
        self._task: asyncio.Task | None = None
        self._prepared: Prepared | None = None
        self.started = self.discarded = 0
        self._prefill_task: asyncio.Task | None = None
        self._prefill_key: tuple[str, tuple[str, ...]] | None = None
        self.prefills = self.prefilled_tokens = 0

    def start(self, text: str) -> bool:
        """Prepare an answer for ``text`` if a sufficient result is already in hand."""
        self.cancel()
        hits = self.lookup.peek(text)
        if not hits:
            return False
        question = apply_corrections(text)
        prepared = Prepared(query_key(make_query(question)), _ids(hits))
        self._prepared = prepared
        self._task = asyncio.create_task(self._prepare(prepared, question, hits))
        self.started += 1
        return True

    def prefill(self, text: str) -> bool:
        """Start prefilling the LLM for ``text`` if its evidence is in hand; False if not (no
        LLM, no sufficient result yet, or the same question and evidence already prefilled)."""
        if getattr(self.engine.answerer.backend, "prefill", None) is None:
            return False
        hits = self.lookup.peek(text)
        if not hits:
            return False
        question = apply_corrections(text)
        key = (query_key(make_query(question)), _ids(hits))
        if key == self._prefill_key:
            return False
        self.stop_prefill()
        self._prefill_key = key
        self._prefill_task = asyncio.create_task(self._prefill(question, hits))
        self.prefills += 1
        return True

    def stop_prefill(self) -> None:
        """Cancel the prefill in flight; the chunks it already evaluated stay reusable."""
        if self._prefill_task is not None and not self._prefill_task.done():
            self._prefill_task.cancel()
        self._prefill_task, self._prefill_key = None, None

    async def _prefill(self, question: str, hits: list[Hit]) -> None:
        try:
            self.prefilled_tokens += await self.engine.answerer.prefill(question, hits)
        except Exception:  # a prefill only ever saves time; the answer works without it
            log.exception("speculative prefill failed")

    def close(self) -> None:
        self.cancel()
        self.stop_prefill()

    def cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self.discarded += 1
        self._task, self._prepared = None, None

    async def take(self, question: str, hits: list[Hit]) -> Prepared | None:
        """The prepared answer if it still fits the final question and evidence, else None."""
        task, prepared = self._task, self._prepared
        self._task, self._prepared = None, None
        if task is None or prepared is None:
            return None
        final_key = query_key(make_query(question))
        same_question = prepared.key == final_key or set(prepared.key.split()) <= set(
            final_key.split()
        )
        fits = same_question and prepared.evidence == _ids(hits)
        if not fits:
            task.cancel()
            self.discarded += 1
            return None
        try:
            await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise
            return None
        except Exception:
            log.exception("preemptive answer failed")
            return None
        return prepared

    async def _prepare(self, prepared: Prepared, question: str, hits: list[Hit]) -> None:
        async for sentence in self.engine.answerer.answer(question, hits):
            prepared.sentences.append(sentence)
        if prepared.sentences:
            tts = self.engine.tts
            for piece in split_for_speech(prepared.sentences[0].text):
                audio = await tts.worker.run(Priority.SPECULATIVE, tts.synthesize, piece)
                prepared.first_audio.append(audio)
