"""The model interfaces the pipeline is written against: ASR, VAD, end of turn, TTS.

Each is a small ``typing.Protocol``. The bundled models satisfy them (``WhisperAsr`` in
voice/whisper.py, ``SileroVad``, ``SmartTurn``, ``PiperTts``); the engine
(streaming/server/engine.py) is the one place that constructs them from settings and passes them
in; the unit tests drive the session with scripted fakes of them (tests/fakes.py). Blocking
inference runs on each model's own worker thread (voice/workers.py): the ``async`` methods are
the way in from the event loop, with the ``Priority`` a job waits in line at. The LLM's
interface is the answer layer's own (``streaming.answer.llm.LlmBackend``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from .workers import Priority

MAX_HOTWORD_CHARS = 200  # about 40 tokens of names: a longer prompt costs decode time


@dataclass(frozen=True)
class AsrCapabilities:
    """What an ASR model can do beyond transcribing; callers check before they ask."""

    hotwords: bool = False  # decodes can be biased towards names (``hotwords``)
    word_timestamps: bool = False  # ``words`` times each word (the eval's oracle bound)
    batching: bool = False  # concurrent ``decode`` calls of one priority share one model call


@dataclass(frozen=True)
class TimedWord:
    word: str
    start_ms: int
    end_ms: int


class Asr(Protocol):
    """Speech recognition of 16 kHz float32 mono audio (English)."""

    name: str
    capabilities: AsrCapabilities

    @property
    def busy(self) -> Priority | None:
        """The priority of the decode running on the model now; None when it is idle."""
        ...

    def transcribe(self, audio: np.ndarray, beam_size: int = 1, hotwords: str = "") -> str:
        """Blocking decode. ``hotwords`` (names, at most ``MAX_HOTWORD_CHARS``) bias it when
        ``capabilities.hotwords``; otherwise they are ignored."""
        ...

    async def decode(
        self, audio: np.ndarray, priority: Priority, beam_size: int = 1, hotwords: str = ""
    ) -> str:
        """``transcribe`` on the model's worker, after the waiting jobs of higher priority."""
        ...

    def words(self, audio: np.ndarray) -> list[TimedWord]:
        """Blocking: the words with their times; only when ``capabilities.word_timestamps``."""
        ...


class VadStream(Protocol):
    """One audio stream's voice activity state, carried from call to call."""

    async def probabilities(self, frames: list[np.ndarray]) -> list[float]:
        """Speech probability of each consecutive 512-sample frame, in order."""
        ...


class Vad(Protocol):
    """Voice activity detection; the state of each stream lives in its ``VadStream``."""

    def new_stream(self) -> VadStream: ...


class EndOfTurnModel(Protocol):
    """An audio end-of-turn classifier (Smart Turn v3): has the speaker finished?"""

    async def probability(self, audio: np.ndarray) -> float:
        """P(the turn is complete) for the turn's 16 kHz float32 audio, ending now."""
        ...


class Tts(Protocol):
    """Speech synthesis; ``rate`` is the sample rate of the audio it makes."""

    rate: int

    def synthesize(
        self,
        text: str,
        length_scale: float | None = None,
        noise_scale: float | None = None,
        noise_w_scale: float | None = None,
    ) -> np.ndarray:
        """Blocking: the audio of ``text`` (None scales: the voice's own)."""
        ...

    async def speak(
        self,
        text: str,
        priority: Priority,
        exact: bool = False,
        on_cpu: Callable[[float], None] | None = None,
    ) -> np.ndarray:
        """One piece, synthesized on the model's worker. ``exact``: without sampling noise, so
        the same text is the same audio every time (a fixed prompt). ``on_cpu`` gets the CPU
        milliseconds the synthesis took, even when the caller stopped waiting for it."""
        ...

    def stream(
        self, text: str, priority: Priority = Priority.ANSWER, rest: Priority | None = None
    ) -> AsyncIterator[np.ndarray]:
        """The audio of each speech piece of ``text`` (voice/tts.py ``split_for_speech``), one
        piece at a time; pieces after the first at ``rest``."""
        ...
