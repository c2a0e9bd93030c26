"""Preemptive answers: start answering at the user's first pause, before the end of turn.

When the VAD reports a pause, the latest hypothesis's answer is prepared at speculative priority
(the answer text and the audio of its first sentence) as soon as a *sufficient* tool result is in
hand (the reflector's test, with no new call and no side effect): at once if one already is,
otherwise when one of the turn's calls still in flight lands while the silence lasts. At end of
turn the preparation is committed whole if the final transcript asks the same thing (the same
query words, or more of them) over the same evidence; otherwise the turn is answered as usual,
and the prepared first audio is still spoken if the answer's first sentence is the prepared one
word for word (the final only worded the question differently). Speech resuming cancels it.
Every preparation thrown away is counted, with the CPU it cost (docs/decisions.md). The first
audio waits for the decode on the critical path (``gate``: the tentative final in flight), so
the preparation's TTS never slows the transcript the turn is waiting for; a restart for the same
question over the same evidence keeps the preparation under way.

Speculative prefill is the LLM's share of the same idea, and starts earlier: at every partial
whose evidence is already in hand, the prompt's prefix (instructions and facts; the question
comes last) is evaluated into the model's cache, so that at end of turn only the question's
tokens remain to be read. A newer prefill supersedes the one in flight (docs/decisions.md).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from streaming.answer.answerer import AnswerSentence
from streaming.rag.lookup import Lookup
from streaming.server.engine import Engine
from tools.language.corrections import apply_corrections, make_query, query_key
from tools.result import Hit
from voice.tts import split_for_speech
from voice.workers import Priority

log = logging.getLogger(__name__)


def _ids(hits: list[Hit]) -> tuple[str, ...]:
    return tuple(h.doc.id for h in hits)


@dataclass
class Prepared:
    """One preparation: its answer's sentences, then its first sentence's audio, piece by piece.

    A committed preparation hands over as soon as its *text* is done (``text_done``); the turn
    streams ``audio()`` while the rest of the first sentence is still being synthesized, now at
    answer priority, as the normal path would: waiting for the whole sentence cost up to a second
    on long first sentences (docs/decisions.md)."""

    key: str
    evidence: tuple[str, ...]
    sentences: list[AnswerSentence] = field(default_factory=list)
    first_audio: list[np.ndarray] = field(default_factory=list)
    cpu_ms: float = 0.0  # answer steps on the loop thread + TTS in its worker thread
    committed: bool = False  # its remaining pieces are synthesized at answer priority
    audio_done: bool = False
    text_done: asyncio.Event = field(default_factory=asyncio.Event)
    more: asyncio.Event = field(default_factory=asyncio.Event)  # a piece landed, or the end
    task: asyncio.Task | None = None

    def spent(self, cpu_ms: float) -> None:
        """CPU time of its work (a TTS piece counts from the worker thread when it ends)."""
        self.cpu_ms += cpu_ms

    async def audio(self) -> AsyncIterator[np.ndarray]:
        """The first sentence's pieces as they land; a failed synthesis raises here."""
        sent = 0
        try:
            while True:
                self.more.clear()
                while sent < len(self.first_audio):
                    yield self.first_audio[sent]
                    sent += 1
                if self.audio_done:
                    break
                await self.more.wait()
            task = self.task
            if task is not None and task.done() and not task.cancelled() and task.exception():
                raise task.exception()  # type: ignore[misc]
        finally:
            if not self.audio_done and self.task is not None:
                self.task.cancel()  # the consumer stopped (barge-in): stop synthesizing


class Preemptor:
    def __init__(
        self,
        engine: Engine,
        lookup: Lookup,
        gate: Callable[[], asyncio.Future[Any] | None] | None = None,
    ) -> None:
        self.engine = engine
        self.lookup = lookup
        self.gate = gate  # -> the critical-path decode in flight, which the TTS waits for
        self._task: asyncio.Task | None = None
        self._prepared: Prepared | None = None
        self._spare: tuple[asyncio.Task, Prepared] | None = None  # for its first audio only
        self.started = self.discarded = 0
        self.committed = self.committed_audio = 0
        self._folded = 0.0
        self._thrown: list[Prepared] = []  # discarded, until their last piece of work is counted
        self._prefill_task: asyncio.Task | None = None
        self._prefill_key: tuple[str, tuple[str, ...]] | None = None
        self.prefills = self.prefilled_tokens = 0

    def start(self, text: str) -> bool:
        """Prepare an answer for ``text`` now if a sufficient result is in hand (True), else as
        soon as one of the turn's calls in flight lands with one, until cancelled (False)."""
        question = apply_corrections(text)
        key = query_key(make_query(question))
        hits = self.lookup.peek(text) if key else []
        prepared = self._prepared
        if hits and prepared is not None and (prepared.key, prepared.evidence) == (key, _ids(hits)):
            return True  # the same question over the same evidence: keep what is under way
        self.cancel()
        if not key:
            return False
        if hits:
            self._begin(key, question, hits)
            return True
        if self._in_flight():
            self._task = asyncio.create_task(self._when_evidence(text, key, question))
        return False

    def _in_flight(self) -> list[asyncio.Task]:
        """The tasks of this turn's tool calls still running (the lookup's own calls)."""
        turn = self.lookup.turn
        return [
            c.task
            for c in self.lookup.calls
            if c.state == "running" and c.task is not None and c.turn == turn
        ]

    async def _when_evidence(self, text: str, key: str, question: str) -> None:
        while True:
            hits = self.lookup.peek(text)
            if hits:
                self._begin(key, question, hits, replaces=asyncio.current_task())
                return
            running = self._in_flight()
            if not running:
                return  # nothing more can land before the end of turn
            await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)

    def _begin(
        self, key: str, question: str, hits: list[Hit], replaces: asyncio.Task | None = None
    ) -> None:
        if replaces is not None and self._task is not replaces:
            return  # cancelled or superseded meanwhile
        prepared = Prepared(key, _ids(hits))
        self._prepared = prepared
        self._task = prepared.task = asyncio.create_task(self._prepare(prepared, question, hits))
        self.started += 1

    def prefill(self, text: str) -> bool:
        """Start prefilling the LLM for ``text`` if its evidence is in hand; False if not (no
        LLM, no sufficient result yet, or the same question and evidence already prefilled)."""
        if self.engine.answerer.backend is None:
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
        self._drop_spare()
        self.stop_prefill()

    def cancel(self) -> None:
        """Speech resumed (or a new turn began): whatever is being prepared is thrown away."""
        if self._task is not None:
            if self._prepared is not None:
                self._discard(self._task, self._prepared)
            else:  # still waiting for evidence: nothing was prepared
                self._task.cancel()
        self._task, self._prepared = None, None

    def _discard(self, task: asyncio.Task, prepared: Prepared) -> None:
        task.cancel()
        self.discarded += 1
        prepared.sentences, prepared.first_audio = [], []
        self._thrown.append(prepared)
        if len(self._thrown) > 8:  # long sessions: fold the oldest into a number
            self._folded += self._thrown.pop(0).cpu_ms

    @property
    def discarded_cpu_ms(self) -> float:
        """CPU spent on preparations thrown away; a TTS piece that was already running when
        one was discarded still finishes, and still counts."""
        return self._folded + sum(p.cpu_ms for p in self._thrown)

    def _drop_spare(self) -> None:
        spare, self._spare = self._spare, None
        if spare is not None:
            self._discard(*spare)

    async def take(self, question: str, hits: list[Hit]) -> Prepared | None:
        """The prepared answer if it still fits the final question and evidence, else None
        (then a preparation that exists is kept for ``first_audio_for``)."""
        self._drop_spare()
        task, prepared = self._task, self._prepared
        self._task, self._prepared = None, None
        if task is None:
            return None
        if prepared is None:  # the evidence never landed before the end of turn
            task.cancel()
            return None
        final_key = query_key(make_query(question))
        same_question = prepared.key == final_key or set(prepared.key.split()) <= set(
            final_key.split()
        )
        if not (same_question and prepared.evidence == _ids(hits)):
            self._spare = (task, prepared)
            return None
        if await self._text_of(task, prepared) is None:
            return None
        prepared.committed = True
        self.committed += 1
        return prepared

    async def first_audio_for(self, text: str) -> Prepared | None:
        """The prepared first audio when the answer's first sentence is ``text`` word for word
        (the final worded the question differently, the answer came out the same); else None."""
        spare, self._spare = self._spare, None
        if spare is None:
            return None
        task, prepared = spare
        if prepared.sentences and prepared.sentences[0].text != text:
            self._discard(task, prepared)
            return None
        if not prepared.sentences and not task.done():  # no text yet: not worth a wait
            self._discard(task, prepared)
            return None
        if await self._text_of(task, prepared) is None:
            return None
        if not prepared.sentences or prepared.sentences[0].text != text:
            self._discard(task, prepared)
            return None
        prepared.committed = True
        self.committed_audio += 1
        return prepared

    async def _text_of(self, task: asyncio.Task, prepared: Prepared) -> Prepared | None:
        """``prepared`` once its text is done (its audio may still be coming), or None if the
        preparation failed or was cancelled first."""
        done = asyncio.ensure_future(prepared.text_done.wait())
        try:
            await asyncio.wait([task, done], return_when=asyncio.FIRST_COMPLETED)
        finally:
            done.cancel()
        if prepared.text_done.is_set():
            return prepared
        try:
            await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise
        except Exception:
            log.exception("preemptive answer failed")
        return None

    async def _prepare(self, prepared: Prepared, question: str, hits: list[Hit]) -> None:
        try:
            steps = self.engine.answerer.answer(question, hits).__aiter__()
            while True:
                t0 = time.thread_time()
                try:
                    sentence = await steps.__anext__()
                except StopAsyncIteration:
                    break
                finally:
                    prepared.cpu_ms += (time.thread_time() - t0) * 1000
                prepared.sentences.append(sentence)
            prepared.text_done.set()
            if prepared.sentences:
                await self._after_gate()
                tts = self.engine.tts
                for piece in split_for_speech(prepared.sentences[0].text):
                    first = not prepared.first_audio
                    priority = (  # committed: the user is waiting for these pieces now
                        (Priority.ANSWER if first else Priority.ANSWER_REST)
                        if prepared.committed
                        else Priority.SPECULATIVE
                    )
                    audio = await tts.speak(piece, priority, on_cpu=prepared.spent)
                    prepared.first_audio.append(audio)
                    prepared.more.set()
        finally:
            prepared.audio_done = True
            prepared.more.set()

    async def _after_gate(self) -> None:
        """Wait (without taking its result or its failure) for the critical decode in flight."""
        pending = self.gate() if self.gate is not None else None
        if pending is not None and not pending.done():
            await asyncio.wait([pending])
