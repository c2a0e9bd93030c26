"""Voice activity detection: Silero VAD v6 (ONNX, from faster-whisper's assets) + turn detection.

``SileroVad`` holds the shared ONNX session; each audio stream gets a ``VadStream`` that carries
the LSTM state and 64-sample context between 512-sample frames. ``TurnDetector`` is pure logic
over per-frame probabilities and is what tests drive with scripted probabilities.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import onnxruntime

from voice.settings import AudioSettings

from .endpoint import Endpoint, FixedEndpoint
from .model_files import silero_model_path
from .workers import ModelWorker, Priority

FRAME = 512  # samples at 16 kHz = 32 ms
FRAME_MS = 32
_CONTEXT = 64


class SileroVad:
    """The shared Silero model (a ``voice.interfaces.Vad``). ``InferenceSession.run`` is
    thread-safe; state lives in streams.

    ``worker`` is the model's own thread: sessions run their frames there, off the event loop.
    """

    def __init__(self, path: str | None = None) -> None:
        self.worker = ModelWorker("vad")
        opts = onnxruntime.SessionOptions()
        opts.inter_op_num_threads = 1
        opts.intra_op_num_threads = 1
        opts.log_severity_level = 4
        self.session = onnxruntime.InferenceSession(
            path or silero_model_path(), providers=["CPUExecutionProvider"], sess_options=opts
        )

    def new_stream(self) -> VadStream:
        return VadStream(self.session, self.worker)


class VadStream:
    """Speech probability per 512-sample frame, with state carried between calls."""

    def __init__(self, session: onnxruntime.InferenceSession, worker: ModelWorker) -> None:
        self._session = session
        self._worker = worker
        self.reset()

    def reset(self) -> None:
        self._h = np.zeros((1, 1, 128), np.float32)
        self._c = np.zeros((1, 1, 128), np.float32)
        self._context = np.zeros(_CONTEXT, np.float32)

    def prob(self, frame: np.ndarray) -> float:
        if frame.shape != (FRAME,):
            raise ValueError(f"VAD frames must be {FRAME} samples, got {frame.shape}")
        x = np.concatenate([self._context, frame.astype(np.float32, copy=False)])[None, :]
        out, self._h, self._c = self._session.run(None, {"input": x, "h": self._h, "c": self._c})
        self._context = frame[-_CONTEXT:].astype(np.float32, copy=True)
        return float(np.asarray(out).reshape(-1)[0])

    def probs(self, frames: list[np.ndarray]) -> list[float]:
        """Probabilities of consecutive frames, in order (one worker job per websocket message)."""
        return [self.prob(frame) for frame in frames]

    async def probabilities(self, frames: list[np.ndarray]) -> list[float]:
        """``probs`` on the VAD's worker, at final-ASR priority (listening never waits)."""
        return await self._worker.run(Priority.FINAL_ASR, self.probs, frames)


VadKind = Literal["speech_start", "probe", "pause", "resume", "end_of_turn"]


@dataclass(frozen=True)
class VadEvent:
    """``audio_ms`` is when the event was decided; ``speech_ms`` marks the speech edge it names."""

    kind: VadKind
    audio_ms: int
    speech_ms: int


class TurnDetector:
    """Hysteresis state machine over frame probabilities.

    - ``speech_start`` once ``min_speech_ms`` of voiced frames accumulate (speech_ms = onset);
    - ``pause`` after ``early_final_ms`` of silence (a cue to start a tentative final decode);
    - ``resume`` when speech comes back after a pause;
    - ``probe`` once per silence at the endpoint's ``probe_ms`` (a cue to ask Smart Turn);
    - ``end_of_turn`` when the endpoint policy says so (speech_ms = last voiced sample): by
      default after ``end_of_turn_ms`` of silence; a ``SemanticEndpoint`` decides from what was
      said (voice/endpoint.py).
    """

    def __init__(
        self,
        threshold: float = AudioSettings.vad_threshold,
        neg_threshold: float = AudioSettings.vad_neg_threshold,
        end_of_turn_ms: int = AudioSettings.end_of_turn_ms,
        min_speech_ms: int = AudioSettings.min_speech_ms,
        early_final_ms: int = AudioSettings.early_final_ms,
        endpoint: Endpoint | None = None,
    ) -> None:
        self.threshold = threshold
        self.neg_threshold = neg_threshold
        self.end_of_turn_ms = end_of_turn_ms
        self.min_speech_ms = min_speech_ms
        self.early_final_ms = early_final_ms
        self.endpoint = endpoint or FixedEndpoint(end_of_turn_ms)
        self.frames = 0
        self.in_speech = False
        self._onset_ms: int | None = None
        self._voiced_ms = 0
        self._last_voiced_ms = 0
        self._paused = False
        self._probed = False

    @property
    def audio_ms(self) -> int:
        return self.frames * FRAME_MS

    def update(self, prob: float) -> list[VadEvent]:
        start_ms = self.audio_ms
        self.frames += 1
        now = self.audio_ms
        if not self.in_speech:
            return self._idle(prob, start_ms, now)
        return self._speaking(prob, now)

    def _idle(self, prob: float, start_ms: int, now: int) -> list[VadEvent]:
        if prob < self.threshold:
            if prob < self.neg_threshold:
                self._onset_ms, self._voiced_ms = None, 0
            return []
        if self._onset_ms is None:
            self._onset_ms = start_ms
        self._voiced_ms += FRAME_MS
        if self._voiced_ms < self.min_speech_ms:
            return []
        self.in_speech, self._paused, self._probed = True, False, False
        self._last_voiced_ms = now
        self.endpoint.reset()
        return [VadEvent("speech_start", now, self._onset_ms)]

    def _speaking(self, prob: float, now: int) -> list[VadEvent]:
        if prob >= self.neg_threshold and (prob >= self.threshold or not self._paused):
            self._last_voiced_ms = now
            if self._probed or self._paused:  # the signals described a shorter turn
                self._probed = False
                self.endpoint.reset()
            if self._paused:
                self._paused = False
                return [VadEvent("resume", now, now - FRAME_MS)]
            return []
        silence = now - self._last_voiced_ms
        if self.endpoint.decide(silence, self._last_voiced_ms):
            self.in_speech, self._paused = False, False
            self._onset_ms, self._voiced_ms = None, 0
            return [VadEvent("end_of_turn", now, self._last_voiced_ms)]
        events = []
        probe = self.endpoint.probe_ms
        if probe is not None and silence >= probe and not self._probed:
            self._probed = True
            events.append(VadEvent("probe", now, self._last_voiced_ms))
        if silence >= self.early_final_ms and not self._paused:
            self._paused = True
            events.append(VadEvent("pause", now, self._last_voiced_ms))
        return events
