"""Scripted fakes of the model interfaces (voice/interfaces.py, the answer layer's LlmBackend)
and of a tool and a websocket, for fast unit tests of the session, the turn and the preemptor.
Tests only: the end-to-end tests keep the real models.

Every fake answers at once and the same way every time; a test that needs a stage to be slow
holds it with an ``asyncio.Event`` it releases itself, never with a sleep."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable

import numpy as np
from toolkit import plugins

from streaming.answer.answerer import Answerer
from streaming.answer.llm import Messages
from streaming.server.config import Config
from streaming.server.engine import Engine
from streaming.server.toolset import SessionTools
from tools.corpus import Document
from tools.result import Hit, SearchResult
from tools.search.bm25 import Bm25Index
from voice.interfaces import AsrCapabilities, TimedWord
from voice.tts import split_for_speech
from voice.workers import Priority

RATE = 16_000
WHISPER_LIKE = AsrCapabilities(hotwords=True, word_timestamps=True)  # no batching: one at a time
AUSTRALIA = Document(
    "australia",
    "Australia",
    "Canberra is the capital of Australia. Sydney is the largest city of Australia.",
)
HAMLET = Document("hamlet", "Hamlet", "Hamlet is a tragedy written by William Shakespeare.")


class ScriptedAsr:
    """Hears ``text`` as spoken at ``seconds_per_word`` from the start of its audio: a decode
    returns the words said by then (all of them once the audio is long enough). Records every
    decode as ``(priority, seconds of audio, hotwords)``."""

    def __init__(
        self,
        text: str,
        seconds_per_word: float = 0.25,
        name: str = "scripted",
        capabilities: AsrCapabilities = WHISPER_LIKE,
    ) -> None:
        self.text, self.seconds_per_word = text, seconds_per_word
        self.name, self.capabilities = name, capabilities
        self.decodes: list[tuple[Priority | None, float, str]] = []

    @property
    def busy(self) -> Priority | None:
        return None  # a decode here ends before anyone could look

    def transcribe(self, audio: np.ndarray, beam_size: int = 1, hotwords: str = "") -> str:
        words = self.text.split()
        said = int(audio.size / RATE / self.seconds_per_word)
        return " ".join(words[: max(0, said)])

    async def decode(
        self, audio: np.ndarray, priority: Priority, beam_size: int = 1, hotwords: str = ""
    ) -> str:
        self.decodes.append((priority, audio.size / RATE, hotwords))
        return self.transcribe(audio, beam_size, hotwords)

    def words(self, audio: np.ndarray) -> list[TimedWord]:
        step = round(self.seconds_per_word * 1000)
        said = self.transcribe(audio).split()
        return [TimedWord(w, i * step, (i + 1) * step) for i, w in enumerate(said)]


class LoudVad:
    """Speech wherever the audio is loud: a frame's probability is 1 above ``level`` RMS, else 0."""

    def __init__(self, level: float = 0.01) -> None:
        self.level = level

    def new_stream(self) -> LoudVadStream:
        return LoudVadStream(self.level)


class LoudVadStream:
    def __init__(self, level: float) -> None:
        self.level = level

    async def probabilities(self, frames: list[np.ndarray]) -> list[float]:
        await asyncio.sleep(0)  # the result comes back through the loop, as a worker's does
        return [float(np.sqrt(np.mean(f**2)) > self.level) for f in frames]


class ScriptedEndOfTurn:
    """Smart Turn that always answers ``probability``; records the seconds of audio asked about."""

    def __init__(self, probability: float) -> None:
        self.value = probability
        self.asked: list[float] = []

    async def probability(self, audio: np.ndarray) -> float:
        self.asked.append(audio.size / RATE)
        return self.value


class SilentTts:
    """Speaks silence: ``seconds_per_word`` of zeros per word at ``rate``. Records every piece
    as ``(text, priority)``; while ``hold`` is set to an unset event, pieces wait for it
    (``asked`` is set when the first piece is asked for)."""

    def __init__(
        self, rate: int = 22_050, seconds_per_word: float = 0.2, cpu_ms: float = 5.0
    ) -> None:
        self.rate, self.seconds_per_word, self.cpu_ms = rate, seconds_per_word, cpu_ms
        self.pieces: list[tuple[str, Priority]] = []
        self.hold: asyncio.Event | None = None
        self.asked = asyncio.Event()

    def samples(self, text: str) -> int:
        return round(len(text.split()) * self.seconds_per_word * self.rate)

    def duration_ms(self, text: str) -> float:
        return len(text.split()) * self.seconds_per_word * 1000

    def synthesize(
        self,
        text: str,
        length_scale: float | None = None,
        noise_scale: float | None = None,
        noise_w_scale: float | None = None,
    ) -> np.ndarray:
        return np.zeros(self.samples(text), np.float32)

    async def speak(
        self,
        text: str,
        priority: Priority,
        exact: bool = False,
        on_cpu: Callable[[float], None] | None = None,
    ) -> np.ndarray:
        self.asked.set()
        if self.hold is not None:
            await self.hold.wait()
        self.pieces.append((text, priority))
        if on_cpu is not None:
            on_cpu(self.cpu_ms)
        return self.synthesize(text)

    async def stream(
        self, text: str, priority: Priority = Priority.ANSWER, rest: Priority | None = None
    ) -> AsyncIterator[np.ndarray]:
        for i, piece in enumerate(split_for_speech(text)):
            yield await self.speak(piece, priority if i == 0 else rest or priority)


class ScriptedLlm:
    """An LlmBackend that always says ``reply`` (a word per chunk); records its prompts."""

    name = "scripted"

    def __init__(self, reply: str) -> None:
        self.reply = reply
        self.prompts: list[Messages] = []
        self.prefixes: list[Messages] = []

    async def stream(self, messages: Messages, max_tokens: int) -> AsyncIterator[str]:
        self.prompts.append(messages)
        for word in self.reply.split(" "):
            yield word + " "

    async def prefill(self, prefix: Messages) -> int:
        self.prefixes.append(prefix)
        return len(prefix[-1]["content"].split())


class ScriptedSearch:
    """A search tool's backend: the documents sharing a word with the query, instantly. While
    ``hold`` is unset its answers wait; with ``error`` every call fails."""

    def __init__(self, docs: list[Document], error: str | None = None) -> None:
        self.docs, self.error = docs, error
        self.hold = asyncio.Event()
        self.hold.set()
        self.queries: list[str] = []

    async def __call__(self, query: str, deadline_s: float = 3.0) -> SearchResult:
        self.queries.append(query)
        await self.hold.wait()
        if self.error:
            return SearchResult(query, [], 1.0, self.error)
        words = set(query.lower().split())
        hits = [
            Hit(d, 1.0, d.text)
            for d in self.docs
            if words & set(d.text.lower().rstrip(".").split())
        ]
        return SearchResult(query, hits, 1.0)

    def tools(self) -> SessionTools:
        """This search as a session's only tool."""
        return SessionTools(plugins({"search": self}), None)


class RecordingSocket:
    """The websocket an ``Outbox`` writes to: events (decoded) and audio bytes, in order;
    ``audio`` is set at the first audio bytes."""

    def __init__(self) -> None:
        self.sent: list[dict | bytes] = []
        self.audio = asyncio.Event()

    async def send_str(self, data: str) -> None:
        self.sent.append(json.loads(data))

    async def send_bytes(self, data: bytes) -> None:
        self.sent.append(data)
        self.audio.set()

    @property
    def events(self) -> list[dict]:
        return [item for item in self.sent if isinstance(item, dict)]

    def of(self, kind: str) -> list[dict]:
        return [e for e in self.events if e["type"] == kind]

    def audio_bytes(self) -> int:
        return sum(len(item) for item in self.sent if isinstance(item, bytes))


def fake_engine(
    asr: ScriptedAsr | None = None,
    tts: SilentTts | None = None,
    smart_turn: ScriptedEndOfTurn | None = None,
    llm: ScriptedLlm | None = None,
    **settings: object,
) -> Engine:
    """An engine of fakes, as ``Engine.load`` would hand its models to every session."""
    config = Config().replace(**settings)
    docs = [AUSTRALIA, HAMLET]
    return Engine(
        config=config,
        vad=LoudVad(),
        asr=asr or ScriptedAsr("what is the capital of australia"),
        tts=tts or SilentTts(),
        llm=llm,
        docs=docs,
        index=Bm25Index(docs),
        answerer=Answerer(llm, config.min_answer_confidence, config.max_answer_tokens),
        smart_turn=smart_turn,
    )


def speech(seconds: float, level: float = 0.1, seed: int = 0) -> np.ndarray:
    """Loud noise: speech to ``LoudVad``."""
    return (np.random.default_rng(seed).standard_normal(int(seconds * RATE)) * level).astype(
        np.float32
    )


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * RATE), np.float32)


def pcm16_messages(audio: np.ndarray, ms: int = 100) -> list[bytes]:
    """``audio`` as the websocket messages a client sends (PCM16, ``ms`` each)."""
    pcm = (np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes()
    step = RATE * ms // 1000 * 2
    return [pcm[i : i + step] for i in range(0, len(pcm), step)]
