"""Streaming ASR on faster-whisper: partial hypotheses while the user talks, a final at turn end.

``WhisperAsr`` is the shared, blocking model. ``StreamingTranscriber`` is one per session: it
buffers the turn's audio, asks for a partial decode every ``partial_interval_ms`` of new audio
(never more than one in flight), splits hypotheses into a stable prefix and an unstable tail with
LocalAgreement-2, and starts a *tentative final* decode as soon as the VAD sees a pause, so the
final transcript is usually ready when the end of turn is declared.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import numpy as np

from .local_agreement import LocalAgreement
from .models import ModelWorker, Priority, whisper_model_dir

log = logging.getLogger(__name__)
RATE = 16_000
MIN_DECODE_SAMPLES = RATE * 3 // 10  # whisper hallucinates on slivers of audio


class WhisperAsr:
    """A CTranslate2 Whisper model loaded from a local folder, greedy, English."""

    def __init__(self, model: str = "tiny.en", threads: int = 2) -> None:
        from faster_whisper import WhisperModel

        self.path = whisper_model_dir(model)
        self.name = model
        self.model = WhisperModel(
            self.path, device="cpu", compute_type="int8", cpu_threads=threads, num_workers=1
        )
        self.worker = ModelWorker("asr")

    def transcribe(self, audio: np.ndarray, beam_size: int = 1) -> str:
        """Blocking decode of 16 kHz float32 audio. No-speech filters are off: synthetic and quiet
        voices scored as "no speech" lose whole turns, and the VAD already gates speech."""
        segments, _ = self.model.transcribe(
            audio,
            language="en",
            beam_size=beam_size,
            temperature=0.0,
            without_timestamps=True,
            condition_on_previous_text=False,
            vad_filter=False,
            no_speech_threshold=None,
            log_prob_threshold=None,
            compression_ratio_threshold=None,
        )
        return " ".join(s.text.strip() for s in segments).strip()

    async def decode(self, audio: np.ndarray, priority: Priority, beam_size: int = 1) -> str:
        return await self.worker.run(priority, self.transcribe, audio, beam_size)


@dataclass(frozen=True)
class Partial:
    stable: str
    tail: str
    audio_ms: int  # turn audio covered by this hypothesis (ms since stream start)
    decode_ms: float


class StreamingTranscriber:
    """Per-session streaming state over a shared ``WhisperAsr``."""

    def __init__(
        self,
        asr: WhisperAsr,
        on_partial: Callable[[Partial], Awaitable[None]],
        partial_interval_ms: int = 700,
        final_beam_size: int = 1,
    ) -> None:
        self.asr = asr
        self.on_partial = on_partial
        self.interval = partial_interval_ms * RATE // 1000
        self.final_beam_size = final_beam_size
        self._chunks: list[np.ndarray] = []
        self._samples = 0
        self._start_ms = 0
        self._last_partial_at = 0
        self._partial_task: asyncio.Task | None = None
        self._tentative: tuple[int, asyncio.Task] | None = None
        self._agreement = LocalAgreement()
        self.active = False

    # --- turn lifecycle -------------------------------------------------------------------
    def start_turn(self, preroll: np.ndarray, start_ms: int) -> None:
        self.cancel()
        self._chunks, self._samples = [preroll], preroll.size
        self._start_ms = start_ms
        self._last_partial_at = 0
        self._agreement.reset()
        self.active = True

    def push(self, frame: np.ndarray) -> None:
        if not self.active:
            return
        self._chunks.append(frame)
        self._samples += frame.size
        due = self._samples - self._last_partial_at >= self.interval
        if due and self._partial_task is None and self._samples >= MIN_DECODE_SAMPLES:
            self._last_partial_at = self._samples
            self._partial_task = asyncio.create_task(self._partial(self._snapshot(), self._samples))

    def pause(self) -> None:
        """The VAD heard a short silence: start decoding what we have as the likely final."""
        if self.active and self._tentative is None:
            task = asyncio.create_task(self._decode_final(self._snapshot()))
            self._tentative = (self._samples, task)

    def resume(self) -> None:
        """Speech came back: the tentative final no longer covers the turn."""
        if self._tentative is not None:
            self._tentative[1].cancel()
            self._tentative = None

    async def finish(self) -> tuple[str, bool]:
        """Final transcript of the turn; True when the tentative final decode was reused."""
        self.active = False
        if self._partial_task is not None:
            self._partial_task.cancel()
            self._partial_task = None
        if self._tentative is not None:
            _, task = self._tentative
            self._tentative = None
            try:
                return await task, True
            except asyncio.CancelledError:
                if asyncio.current_task() and asyncio.current_task().cancelling():
                    raise
        return await self._decode_final(self._snapshot()), False

    def cancel(self) -> None:
        for task in (self._partial_task, self._tentative[1] if self._tentative else None):
            if task is not None:
                task.cancel()
        self._partial_task, self._tentative, self.active = None, None, False

    # --- decoding -------------------------------------------------------------------------
    def _snapshot(self) -> np.ndarray:
        audio = np.concatenate(self._chunks) if len(self._chunks) > 1 else self._chunks[0]
        self._chunks = [audio]
        return audio

    async def _decode_final(self, audio: np.ndarray) -> str:
        if audio.size < MIN_DECODE_SAMPLES:
            audio = np.concatenate([audio, np.zeros(MIN_DECODE_SAMPLES - audio.size, np.float32)])
        return await self.asr.decode(audio, Priority.FINAL_ASR, self.final_beam_size)

    async def _partial(self, audio: np.ndarray, samples: int) -> None:
        try:
            t0 = time.perf_counter()
            text = await self.asr.decode(audio, Priority.PARTIAL_ASR)
            if not self.active:
                return
            stable, tail = self._agreement.update(text.split())
            await self.on_partial(
                Partial(
                    " ".join(stable),
                    " ".join(tail),
                    self._start_ms + samples * 1000 // RATE,
                    (time.perf_counter() - t0) * 1000,
                )
            )
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("partial decode failed")
        finally:
            if self._partial_task is asyncio.current_task():
                self._partial_task = None
