"""Streaming ASR: partial hypotheses while the user talks, a final at turn end, over any ``Asr``.

The model is shared (``voice.interfaces.Asr``: whisper in voice/whisper.py). ``StreamingTranscriber``
is one per session: it buffers the turn's audio, asks for a partial decode every ``partial_interval_ms`` of new audio
(never more than one in flight), splits hypotheses into a stable prefix and an unstable tail with
LocalAgreement-2, and starts a *tentative final* decode as soon as the VAD sees a pause, so the
final transcript is usually ready when the end of turn is declared.

Partials may come from a smaller, faster model than the final (``partial_asr``: tiny.en while the
final is base): speculation then gets a hypothesis every ~320 ms for ~100 ms of CPU each, and a
partial from that model is never taken as the final; the tentative final at the pause is always
decoded by the final model.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

import numpy as np

from voice.settings import AsrSettings

from .interfaces import MAX_HOTWORD_CHARS, Asr
from .local_agreement import LocalAgreement
from .workers import Priority

log = logging.getLogger(__name__)
RATE = 16_000
MIN_DECODE_SAMPLES = RATE * 3 // 10  # whisper hallucinates on slivers of audio
COVER_PAD = RATE * 64 // 1000  # a partial covers the speech if it has this much audio past its end


def hotword_text(names: Iterable[str]) -> str:
    """Names as one hotword string: disambiguators dropped ("Dune (novel)"), no repeats."""
    seen: dict[str, str] = {}
    for name in names:
        name = " ".join(re.sub(r"\([^)]*\)", " ", name).split())
        if name:
            seen.setdefault(name.lower(), name)
    return ", ".join(seen.values())[:MAX_HOTWORD_CHARS]


@dataclass(frozen=True)
class Partial:
    stable: str
    tail: str
    audio_ms: int  # turn audio covered by this hypothesis (ms since stream start)
    model: str = ""  # the ASR model that decoded it


class StreamingTranscriber:
    """Per-session streaming state over a shared ``Asr`` (and an optional faster one for
    partials, on its own worker)."""

    def __init__(
        self,
        asr: Asr,
        on_partial: Callable[[Partial], Awaitable[None]],
        partial_interval_ms: int = AsrSettings.partial_interval_ms,
        final_beam_size: int = AsrSettings.final_beam_size,
        partial_asr: Asr | None = None,
    ) -> None:
        self.asr = asr
        self.partial_asr = partial_asr or asr
        self._separate = self.partial_asr is not asr  # its partials are never the final
        self._partial_model = self.partial_asr.name
        self.on_partial = on_partial
        self.interval = partial_interval_ms * RATE // 1000
        self.final_beam_size = final_beam_size
        self._chunks: list[np.ndarray] = []
        self._samples = 0
        self._start_ms = 0
        self._last_partial_at = 0
        self._partial_task: asyncio.Task | None = None
        self._partial_job: tuple[int, asyncio.Task] | None = None
        self._paused = False
        self._tentative: tuple[int, asyncio.Task] | None = None
        self._agreement = LocalAgreement()
        self._hotwords = ""  # names from the speculative results bias the decodes
        self._partial_hotwords = ""  # what the latest partial decode was biased with
        self.decode_ms: float | None = None  # wall time of the turn's last final-model decode
        self.active = False

    # --- turn lifecycle -------------------------------------------------------------------
    def start_turn(self, preroll: np.ndarray, start_ms: int) -> None:
        self.cancel()
        self._chunks, self._samples = [preroll], preroll.size
        self._start_ms = start_ms
        self._last_partial_at = 0
        self._paused = False
        self._agreement.reset()
        self._hotwords = ""
        self.decode_ms = None
        self.active = True

    def set_hotwords(self, names: Iterable[str]) -> None:
        """Entity names and titles already found for this turn bias the next decodes (of a
        model that takes hotwords). A partial that covers the speech is reused as the final only
        if it had the same hotwords."""
        if self.asr.capabilities.hotwords:
            self._hotwords = hotword_text(names)

    def push(self, frame: np.ndarray) -> None:
        if not self.active:
            return
        self._chunks.append(frame)
        self._samples += frame.size
        due = self._samples - self._last_partial_at >= self.interval
        if (
            due
            and not self._paused
            and self._partial_task is None  # one in flight; a tick that finds it busy is skipped
            and self._samples >= MIN_DECODE_SAMPLES
            and not self._final_running()
        ):
            self._last_partial_at = self._samples
            job = asyncio.create_task(
                self.partial_asr.decode(self._snapshot(), Priority.PARTIAL_ASR, 1, self._hotwords)
            )
            self._partial_job, self._partial_hotwords = (self._samples, job), self._hotwords
            self._partial_task = asyncio.create_task(self._partial(job, self._samples))

    def pause(self, speech_end_ms: int) -> None:
        """The VAD heard a short silence: decode what we have as the likely final.

        If a partial decode by the final model already covers all the speech (plus a little
        padding) and was biased with the current hotwords, its result is the final; otherwise a
        new decode by the final model starts at final-ASR priority."""
        if not self.active or self._tentative is not None:
            return
        self._paused = True
        speech_end = (speech_end_ms - self._start_ms) * RATE // 1000 + COVER_PAD
        covered = (
            not self._separate
            and self._partial_job is not None
            and self._partial_job[0] >= speech_end
        )
        if covered and self._partial_hotwords == self._hotwords:  # decoded with the same bias
            self._tentative = self._partial_job
            return
        task = asyncio.create_task(self._decode_final(self._snapshot()))
        self._tentative = (self._samples, task)

    def resume(self) -> None:
        """Speech came back: the tentative final no longer covers the turn."""
        self._paused = False
        if self._tentative is not None:
            if self._partial_job is None or self._tentative[1] is not self._partial_job[1]:
                self._tentative[1].cancel()
            self._tentative = None

    @property
    def tentative(self) -> asyncio.Task | None:
        """The tentative final decode since the last pause, if any (the end-of-turn policy
        reads its text: it covers all the speech so far)."""
        return self._tentative[1] if self._tentative is not None else None

    async def finish(self) -> tuple[str, bool]:
        """Final transcript of the turn; True when the tentative final decode was reused."""
        self.active = False
        tentative, self._tentative = self._tentative, None
        if self._partial_task is not None:
            self._partial_task.cancel()
            self._partial_task = None
        if self._partial_job is not None and (
            tentative is None or tentative[1] is not self._partial_job[1]
        ):
            self._partial_job[1].cancel()
        self._partial_job = None
        if tentative is not None:
            try:
                return await tentative[1], True
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise
        return await self._decode_final(self._snapshot()), False

    def cancel(self) -> None:
        for pair in (self._partial_job, self._tentative):
            if pair is not None:
                pair[1].cancel()
        if self._partial_task is not None:
            self._partial_task.cancel()
        self._partial_task, self._partial_job, self._tentative = None, None, None
        self.active = False

    # --- decoding -------------------------------------------------------------------------
    def _final_running(self) -> bool:
        """A separate partial model stands back while the final model serves a final (any
        session's): on two cores the two would only slow each other down."""
        return self._separate and self.asr.busy == Priority.FINAL_ASR

    def _snapshot(self) -> np.ndarray:
        audio = np.concatenate(self._chunks) if len(self._chunks) > 1 else self._chunks[0]
        self._chunks = [audio]
        return audio

    async def _decode_final(self, audio: np.ndarray) -> str:
        if audio.size < MIN_DECODE_SAMPLES:
            audio = np.concatenate([audio, np.zeros(MIN_DECODE_SAMPLES - audio.size, np.float32)])
        t0 = time.perf_counter()
        text = await self.asr.decode(
            audio, Priority.FINAL_ASR, self.final_beam_size, self._hotwords
        )
        self.decode_ms = (time.perf_counter() - t0) * 1000  # queue wait included
        return text

    async def _partial(self, job: asyncio.Task, samples: int) -> None:
        try:
            text = await asyncio.shield(job)
            if not self.active:
                return
            stable, tail = self._agreement.update(text.split())
            await self.on_partial(
                Partial(
                    " ".join(stable),
                    " ".join(tail),
                    self._start_ms + samples * 1000 // RATE,
                    self._partial_model,
                )
            )
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("partial decode failed")
        finally:
            if self._partial_task is asyncio.current_task():
                self._partial_task = None
