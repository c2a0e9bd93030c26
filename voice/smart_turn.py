"""Smart Turn v3 (audio end-of-turn classifier) and the feed of a session's semantic endpoint.

``SmartTurn`` runs the int8 ONNX model that ships inside the ``pipecat-ai`` wheel (BSD-2, installed
with ``--no-deps`` by scripts/setup.sh) on its own worker thread: the last <= 8 s of the turn's
16 kHz audio, zero-padded at the front, normalised to zero mean and unit variance, as 80-bin
Whisper log-mel features (faster-whisper's own ``FeatureExtractor``, no torch) -> the
probability that the speaker has finished. The engine loads it once (none, with one log line,
when the wheel is not installed: the endpoint then decides from the text alone) and hands it to
every session.

``TurnSignals`` is one per session: it keeps the recent audio, asks Smart Turn at the detector's
``probe`` event, and hands partial transcripts and the tentative final to the
``SemanticEndpoint``; results that arrive after speech resumed are dropped.
"""

from __future__ import annotations

import asyncio
import collections
import logging

import numpy as np

from .endpoint import SemanticEndpoint
from .interfaces import EndOfTurnModel
from .workers import ModelWorker, Priority

log = logging.getLogger(__name__)
RATE = 16_000
WINDOW = 8 * RATE  # the model sees the last 8 s
PRE_SPEECH_MS = 500  # audio kept before the onset, as pipecat feeds it


class SmartTurn:
    """The shared model (a ``voice.interfaces.EndOfTurnModel``); ``InferenceSession.run`` is
    thread-safe and it keeps no state."""

    def __init__(self, path: str, threads: int = 1) -> None:
        import onnxruntime
        from faster_whisper.feature_extractor import FeatureExtractor

        opts = onnxruntime.SessionOptions()
        opts.inter_op_num_threads = 1
        opts.intra_op_num_threads = threads
        opts.log_severity_level = 4
        self.session = onnxruntime.InferenceSession(
            path, providers=["CPUExecutionProvider"], sess_options=opts
        )
        self.input = self.session.get_inputs()[0].name  # "input_features", (batch, 80, 800)
        self.features = FeatureExtractor(feature_size=80, chunk_length=8)
        self.worker = ModelWorker("smart-turn")
        self.path = path

    def predict(self, audio: np.ndarray) -> float:
        """Blocking: P(turn complete) for 16 kHz float32 audio ending now."""
        x = np.asarray(audio, np.float32)[-WINDOW:]
        x = np.pad(x, (WINDOW - x.size, 0))
        x = (x - x.mean()) / np.sqrt(x.var() + 1e-7)
        mel = self.features(x, padding=0)[:, : WINDOW // 160]
        out = self.session.run(None, {self.input: mel[None].astype(np.float32)})
        return float(np.asarray(out[0]).reshape(-1)[0])

    async def probability(self, audio: np.ndarray) -> float:
        return await self.worker.run(Priority.FINAL_ASR, self.predict, audio)


class TurnSignals:
    """Feeds one session's ``SemanticEndpoint``; every method is a no-op without one."""

    def __init__(self, endpoint: object, smart: EndOfTurnModel | None) -> None:
        self.endpoint = endpoint if isinstance(endpoint, SemanticEndpoint) else None
        self.smart = smart if self.endpoint is not None else None
        self._audio: collections.deque[np.ndarray] = collections.deque()
        self._samples = 0  # samples held in _audio
        self._pushed = 0  # samples ever pushed: the audio clock
        self._onset = 0  # sample index of the turn's speech onset
        self._tasks: set[asyncio.Task] = set()

    def push(self, samples: np.ndarray) -> None:
        if self.smart is None:
            return
        self._audio.append(samples)
        self._samples += samples.size
        self._pushed += samples.size
        while self._audio and self._samples - self._audio[0].size >= WINDOW:
            self._samples -= self._audio.popleft().size

    def start_turn(self, onset_ms: int) -> None:
        self._onset = onset_ms * RATE // 1000

    def probe(self) -> None:
        """Silence began: ask Smart Turn about the turn so far (since onset - 500 ms)."""
        if self.smart is None or not self._audio:
            return
        audio = np.concatenate(list(self._audio))
        keep = self._pushed - max(0, self._onset - PRE_SPEECH_MS * RATE // 1000)
        self._spawn(self._smart(audio[-keep:] if keep > 0 else audio))

    def on_partial(self, text: str, audio_ms: int) -> None:
        if self.endpoint is not None:
            self.endpoint.on_text(text, audio_ms)

    def on_tentative(self, task: asyncio.Task | None, covers_ms: int) -> None:
        """The tentative final (started at the pause) covers all the speech so far."""
        if self.endpoint is not None and task is not None:
            self.endpoint.on_pending(covers_ms)
            self._spawn(self._tentative(task, covers_ms))

    def close(self) -> None:
        for task in self._tasks:
            task.cancel()

    def _spawn(self, coro) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _smart(self, audio: np.ndarray) -> None:
        assert self.endpoint is not None and self.smart is not None
        epoch = self.endpoint.epoch
        try:
            prob = await self.smart.probability(audio)
        except Exception:
            log.exception("smart turn failed; the transcript decides")
            return
        if self.endpoint.epoch == epoch:
            self.endpoint.on_smart(prob)

    async def _tentative(self, task: asyncio.Task, covers_ms: int) -> None:
        assert self.endpoint is not None
        epoch = self.endpoint.epoch
        try:
            text = await asyncio.shield(task)
        except (asyncio.CancelledError, Exception):
            if self.endpoint.epoch == epoch:
                self.endpoint.on_pending(None)  # no text will come: the other rules decide
            return
        if self.endpoint.epoch == epoch:
            self.endpoint.on_text(text, covers_ms, final=True)
