"""One turn's answer: evidence from the lookup, sentences from the answerer (or the answer the
preemptor prepared at the first pause), each sentence spoken by TTS into the outbox.

The answer is one task; barge-in cancels it and the outbox drops whatever it had queued.
With ``acknowledge`` on, a short spoken acknowledgement ("Let me check.", synthesized once per
voice) goes out when the evidence is still out ``acknowledge_after_ms`` after the final
transcript; it is answer data of the same generation, so barge-in drops it like the answer.

When every tool call the turn waited for failed (errors, deadlines; not merely empty results),
the answer is a short spoken apology (``TOOLS_DOWN``, source ``tools_down``), not "I don't know".
An answer that started always ends with ``answer_done``: if a stage raises mid-answer (TTS),
it goes out with ``complete: false`` before the session's ``turn_failed`` error and metrics.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

import numpy as np

from streaming.answer.answerer import TOOLS_DOWN, AnswerSentence
from streaming.answer.sufficiency import evidence_suffices
from streaming.events import AnswerDelta, AnswerDone
from streaming.rag.context import Context, question_entity, resolve_followup
from streaming.rag.lookup import Lookup, LookupOutcome
from streaming.server.engine import Engine
from streaming.server.metrics import TurnMarks
from streaming.server.outbox import Outbox
from streaming.server.preempt import Preemptor, Prepared
from tools.language.understood import Understood, understand
from voice.audio import float32_to_pcm16, resample
from voice.interfaces import Tts
from voice.workers import Priority

T = TypeVar("T")
_ACKS: weakref.WeakKeyDictionary[Any, dict[str, np.ndarray]] = weakref.WeakKeyDictionary()


async def acknowledgement_audio(tts: Tts, text: str) -> np.ndarray:
    """``text`` spoken by ``tts``, synthesized once per voice and kept, without sampling noise
    (a prompt that sounds the same every time, like a recorded one)."""
    cache = _ACKS.setdefault(tts, {})
    if text not in cache:
        cache[text] = await tts.speak(text, Priority.ANSWER, exact=True)
    return cache[text]


def tools_failed(lookup: Lookup) -> bool:
    """True when every call this turn's evidence waited for failed (an error or its deadline),
    so no evidence could come back; calls that came back empty are not failures."""
    chosen = [c for c in lookup.calls if c.used and c.turn == lookup.turn]
    return bool(chosen) and all(c.state == "failed" for c in chosen)


async def _replay(items: list[T]) -> AsyncIterator[T]:
    for item in items:
        yield item


@dataclass
class _Said:
    """What an answer has sent so far: its sentences' texts and audio length (ms)."""

    texts: list[str] = field(default_factory=list)
    audio_ms: int = 0


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
        config = engine.config
        self.acknowledge = config.acknowledge  # the session may override
        self.acknowledge_after_s = config.acknowledge_after_ms / 1000
        self.acknowledge_text = config.acknowledge_text

    def understand(self, text: str, followup: bool = True) -> Understood:
        """``text`` as the question meant, understood once: corrections applied and, with
        ``followup``, a follow-up ("and when was he born?") rewritten against the last turn.
        Partials and the final both go through it."""
        if not followup:
            return understand(text)
        return understand(text, lambda meant: resolve_followup(meant, self.context))

    async def _entity(self, question: str) -> str | None:
        """The entity ``question`` is about, for the next turn's follow-ups."""
        return question_entity(question, await self.lookup.subject(question))

    async def answer(self, question: str, marks: TurnMarks, audio_ms: int) -> None:
        """Resolve the evidence, speak the answer, and fill ``marks`` as each stage completes."""
        if marks.final is None:
            marks.final = marks.eot
        generation = self.outbox.new_answer()
        # "austria, no, australia" asks about australia; "and when was he born?" about Tim Cook
        understood = self.understand(question)
        question = understood.text
        outcome = await self._acknowledging(
            # the answer starts with the first sufficient evidence, not the slowest tool
            self.lookup.resolve(
                understood, audio_ms, partial(evidence_suffices, self.engine.answerer, question)
            ),
            generation,
            marks,
        )
        marks.retrieved = time.monotonic()
        marks.tool_wait_ms, marks.query = outcome.tool_wait_ms, outcome.query
        marks.lookup = outcome.stats
        tools_down = not outcome.hits and tools_failed(self.lookup)
        if tools_down:  # whatever was prepared at the pause had no evidence either
            self.preemptor.cancel()
        prepared = None if tools_down else await self.preemptor.take(question, outcome.hits)
        marks.preempted = prepared is not None
        marks.preempt_commit = "answer" if prepared else None
        if tools_down:
            sentences = _replay([AnswerSentence(TOOLS_DOWN, "tools_down")])
        elif prepared:
            sentences = _replay(prepared.sentences)
        else:
            sentences = self.engine.answerer.answer(question, outcome.hits)
        said = _Said()
        try:
            await self._speak(sentences, prepared, generation, marks, said)
        except Exception:  # the answer started: close it for the client before the error
            if said.texts:
                marks.answer = " ".join(said.texts)
                done = AnswerDone(marks.answer, said.audio_ms, generation, complete=False)
                self.outbox.send(done, generation)
            raise
        spoken = said.texts
        self.outbox.send(AnswerDone(" ".join(spoken), said.audio_ms, generation), generation)
        await self.outbox.drained()
        marks.first_answer_audio = self.outbox.first_answer_audio_at
        marks.preempt_discarded_cpu_ms = self.preemptor.discarded_cpu_ms
        if outcome.audit is not None:
            try:
                marks.reuse_differs = await asyncio.wait_for(outcome.audit, self.audit_timeout_s)
            except TimeoutError:
                marks.reuse_differs = None
        marks.answer = " ".join(spoken)
        self.context = Context(question, await self._entity(question), marks.answer)

    async def _speak(
        self,
        sentences: AsyncIterator[AnswerSentence],
        prepared: Prepared | None,
        generation: int,
        marks: TurnMarks,
        said: _Said,
    ) -> None:
        """Send each sentence's text and audio, recording in ``said`` what went out."""
        tts = self.engine.tts
        async for sentence in sentences:
            if marks.first_sentence is None:
                marks.first_sentence = time.monotonic()
            marks.answer_source = sentence.source
            self.outbox.send(
                AnswerDelta(sentence.text + " ", sentence.source, generation), generation
            )
            early = None
            if not said.texts:  # the first sentence: audio prepared at the pause, if it is this one
                early = prepared
                if not prepared and (early := await self.preemptor.first_audio_for(sentence.text)):
                    marks.preempted, marks.preempt_commit = True, "audio"
            said.texts.append(sentence.text)
            # under load another session's first audio goes before this answer's later pieces
            first = Priority.ANSWER if len(said.texts) == 1 else Priority.ANSWER_REST
            pieces = (
                early.audio() if early else tts.stream(sentence.text, first, Priority.ANSWER_REST)
            )
            async for audio in pieces:
                pcm = float32_to_pcm16(resample(audio, tts.rate, self.out_rate))
                self.outbox.send_audio(pcm, self.out_rate, generation)
                said.audio_ms += len(pcm) * 500 // self.out_rate

    async def _acknowledging(
        self, lookup: Awaitable[LookupOutcome], generation: int, marks: TurnMarks
    ) -> LookupOutcome:
        """The lookup's outcome; with ``acknowledge`` on, the acknowledgement is spoken first
        if the outcome is not in hand ``acknowledge_after_s`` after the final transcript."""
        if not self.acknowledge:
            return await lookup
        task = asyncio.ensure_future(lookup)
        voice = asyncio.ensure_future(acknowledgement_audio(self.engine.tts, self.acknowledge_text))
        try:
            done, _ = await asyncio.wait({task}, timeout=self.acknowledge_after_s)
            if not done:
                audio = await voice
                if not task.done():
                    pcm = float32_to_pcm16(resample(audio, self.engine.tts.rate, self.out_rate))
                    self.outbox.send_audio(pcm, self.out_rate, generation, answer=False)
                    marks.acknowledged = True
            return await task
        finally:
            task.cancel()  # no-op once done; a barge-in while waiting cancels the lookup too
            # the voice is left to finish: it fills the cache for the next turn
            voice.add_done_callback(lambda f: f.cancelled() or f.exception())
