"""One turn's answer: evidence from the lookup, sentences from the answerer (or the answer the
preemptor prepared at the first pause), each sentence spoken by TTS into the outbox.

The answer is one task; barge-in cancels it and the outbox drops whatever it had queued.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import TypeVar

from streaming.events import AnswerDelta, AnswerDone
from streaming.rag.context import Context, question_entity, resolve_followup
from streaming.rag.lookup import Lookup
from streaming.rag.predictor import apply_corrections
from streaming.server.engine import Engine
from streaming.server.metrics import TurnMarks
from streaming.server.outbox import Outbox
from streaming.server.preempt import Preemptor
from tools.offload import off_loop
from voice.audio import float32_to_pcm16, resample

T = TypeVar("T")


async def _replay(items: list[T]) -> AsyncIterator[T]:
    for item in items:
        yield item


class Answering:
    """Answers the turns of one session; owns nothing but references to its collaborators."""

    def __init__(
        self,
        engine: Engine,
        lookup: Lookup,
        preemptor: Preemptor,
        outbox: Outbox,
        out_rate: int,
        audit_timeout_s: float,
    ) -> None:
        self.engine, self.lookup, self.preemptor, self.outbox = engine, lookup, preemptor, outbox
        self.out_rate, self.audit_timeout_s = out_rate, audit_timeout_s
        self.context: Context | None = None  # the last answered turn, for follow-ups

    def standalone(self, text: str) -> str:
        """``text`` as the question meant: corrections applied, a follow-up ("and when was he
        born?") rewritten against the last turn. Partials and the final both go through it."""
        return resolve_followup(apply_corrections(text), self.context)

    async def _entity(self, question: str) -> str | None:
        """The entity ``question`` is about, for the next turn's follow-ups."""
        kg = self.engine.kg if self.lookup.kg_parse is not None else None
        try:
            parsed = await off_loop(kg.parse, question) if kg is not None else None
        except Exception:  # no entity costs a follow-up, never the turn
            parsed = None
        return question_entity(question, getattr(parsed, "entity", None))

    async def answer(self, question: str, marks: TurnMarks, audio_ms: int) -> None:
        """Resolve the evidence, speak the answer, and fill ``marks`` as each stage completes."""
        if marks.final is None:
            marks.final = marks.eot
        generation = self.outbox.new_answer()
        # "austria, no, australia" asks about australia; "and when was he born?" about Tim Cook
        question = self.standalone(question)
        outcome = await self.lookup.resolve(question, audio_ms)
        marks.retrieved = time.monotonic()
        marks.tool_wait_ms, marks.query = outcome.tool_wait_ms, outcome.query
        marks.lookup = outcome.stats
        prepared = await self.preemptor.take(question, outcome.hits)
        marks.preempted = prepared is not None
        sentences = (
            _replay(prepared.sentences)
            if prepared
            else self.engine.answerer.answer(question, outcome.hits)
        )
        tts, spoken, audio_ms_out = self.engine.tts, [], 0
        async for sentence in sentences:
            if marks.first_sentence is None:
                marks.first_sentence = time.monotonic()
            marks.answer_source = sentence.source
            self.outbox.send(
                AnswerDelta(sentence.text + " ", sentence.source, generation), generation
            )
            if prepared and not spoken and prepared.first_audio:
                pieces = _replay(prepared.first_audio)
            else:
                pieces = tts.stream(sentence.text)
            spoken.append(sentence.text)
            async for audio in pieces:
                pcm = float32_to_pcm16(resample(audio, tts.rate, self.out_rate))
                self.outbox.send_audio(pcm, self.out_rate, generation)
                audio_ms_out += len(pcm) * 500 // self.out_rate
        self.outbox.send(AnswerDone(" ".join(spoken), audio_ms_out, generation), generation)
        await self.outbox.drained()
        if outcome.audit is not None:
            try:
                marks.reuse_differs = await asyncio.wait_for(outcome.audit, self.audit_timeout_s)
            except TimeoutError:
                marks.reuse_differs = None
        marks.answer = " ".join(spoken)
        self.context = Context(question, await self._entity(question), marks.answer)
