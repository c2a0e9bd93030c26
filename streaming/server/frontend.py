"""The audio front end of a session: checked PCM16 in, 32 ms frames with their VAD events out.

Each websocket message is validated (size, sample alignment, rate limit), resampled to 16 kHz,
cut into Silero's 512-sample frames and scored on the VAD model's worker thread, never on the
event loop. The turn detector (pure) then turns probabilities into speech events, and a short
pre-roll keeps the audio just before speech onset for the transcriber.

A turn's audio is capped (``max_turn_ms``): past the cap the detector is fed silence until its
endpoint ends the turn (so every turn ends, whatever the endpoint policy) and until the speaker
really pauses (``end_of_turn_ms`` of silence), so the capped turn is answered, not barged in on
by its own continuation. The frame that crossed the cap says so (``capped``).
"""

from __future__ import annotations

import collections
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import numpy as np

from voice.audio import ASR_RATE, StreamResampler, pcm16_to_float32
from voice.interfaces import Vad
from voice.vad import FRAME, FRAME_MS, TurnDetector, VadEvent


class RateLimiter:
    """Token bucket in milliseconds of audio: bursts up to ``burst_ms``, refills at ``rate``x."""

    def __init__(self, rate: float, burst_ms: float = 3000) -> None:
        self.rate, self.burst = rate, burst_ms
        self.tokens, self.t = burst_ms, time.monotonic()

    def allow(self, cost_ms: float) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.t) * 1000 * self.rate)
        self.t = now
        if self.tokens < cost_ms:
            return False
        self.tokens -= cost_ms
        return True


class AudioRejected(Exception):
    """A frame the front end drops; ``code`` and the message go back as an ``error`` event."""

    def __init__(self, code: str, message: str, throttle_s: float = 0.0) -> None:
        super().__init__(message)
        self.code, self.message, self.throttle_s = code, message, throttle_s


@dataclass(frozen=True)
class Frame:
    """One 32 ms frame at 16 kHz, whether the detector is in speech after it, and its events."""

    samples: np.ndarray
    in_speech: bool
    events: list[VadEvent]
    capped: bool = False  # this frame took the turn past max_turn_ms: it is being ended


class AudioFrontEnd:
    def __init__(
        self,
        vad: Vad,
        detector: TurnDetector,
        in_rate: int,
        max_frame_bytes: int,
        max_audio_rate: float,
        preroll_frames: int,
        max_turn_ms: int = 0,
    ) -> None:
        self.vad, self.detector = vad, detector
        self.max_turn_ms = max_turn_ms
        self._onset_ms = 0
        self._muted = False  # past the cap: the detector hears silence until a real pause
        self._silent_ms = 0  # the current run of frames under the detector's neg_threshold
        self.in_rate, self.max_frame_bytes = in_rate, max_frame_bytes
        self.max_audio_rate = max_audio_rate
        self._stream = vad.new_stream()
        self._resampler = StreamResampler(in_rate, ASR_RATE)
        self._pending = np.zeros(0, np.float32)
        self._limiter = RateLimiter(max_audio_rate)
        self.preroll: collections.deque[np.ndarray] = collections.deque(maxlen=preroll_frames)

    def check(self, data: bytes) -> None:
        """Raise ``AudioRejected`` for a frame that must be dropped."""
        if len(data) > self.max_frame_bytes:
            raise AudioRejected("frame_too_large", f"audio frame over {self.max_frame_bytes} bytes")
        if len(data) % 2:
            raise AudioRejected("bad_audio", "PCM16 frames need an even number of bytes")
        duration_ms = len(data) / 2 / self.in_rate * 1000
        if not self._limiter.allow(max(duration_ms, 2.0)):
            raise AudioRejected(
                "rate_limited",
                f"audio arrives faster than {self.max_audio_rate}x real time; frames dropped",
                1.0,
            )

    async def push(self, data: bytes) -> AsyncIterator[Frame]:
        """Checked PCM16 at the input rate -> the complete frames it finishes, in order.

        The frames are scored in one job on the VAD worker; the detector then advances one frame
        per item taken, so the caller handles each frame's events before the next is counted.
        """
        self.check(data)
        samples = self._resampler.push(pcm16_to_float32(data))
        self._pending = np.concatenate([self._pending, samples])
        n = self._pending.size // FRAME
        if n == 0:
            return
        chunks = [self._pending[i * FRAME : (i + 1) * FRAME] for i in range(n)]
        self._pending = self._pending[n * FRAME :]
        probs = await self._stream.probabilities(chunks)
        for chunk, prob in zip(chunks, probs, strict=True):
            events = self.detector.update(self._heard(prob))
            self.preroll.append(chunk)
            yield Frame(chunk, self.detector.in_speech, events, self._cap(events))

    def _heard(self, prob: float) -> float:
        """The probability the detector is given: the real one, or 0 while muted by the cap."""
        quiet = prob < self.detector.neg_threshold
        self._silent_ms = self._silent_ms + FRAME_MS if quiet else 0
        if self._muted and not self.detector.in_speech:
            self._muted = self._silent_ms < self.detector.end_of_turn_ms
        return 0.0 if self._muted else prob

    def _cap(self, events: list[VadEvent]) -> bool:
        """Track the turn's onset; True on the frame that takes it past ``max_turn_ms``."""
        for event in events:
            if event.kind == "speech_start":
                self._onset_ms = event.speech_ms
        if not self.max_turn_ms or self._muted or not self.detector.in_speech:
            return False
        self._muted = self.detector.audio_ms - self._onset_ms >= self.max_turn_ms
        return self._muted

    def take_preroll(self, now_ms: int) -> tuple[np.ndarray, int]:
        """The kept audio up to ``now_ms``, and the audio time (ms) at which it starts."""
        audio = np.concatenate(list(self.preroll))
        return audio, now_ms - len(audio) * 1000 // ASR_RATE

    @staticmethod
    def preroll_frames(speech_pad_ms: int, min_speech_ms: int) -> int:
        return (speech_pad_ms + min_speech_ms) // FRAME_MS + 1
