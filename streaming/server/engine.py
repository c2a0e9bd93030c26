"""Models and indexes loaded once per process and shared by every session; the one place that
constructs a model.

``load_asr``, ``load_vad``, ``load_end_of_turn``, ``load_tts`` and ``make_backend`` (the LLM)
build each model from its settings; ``Engine.load`` builds the server's set with them, and the
evaluation (the clip builder, the oracle) loads its models through them too. Everything else is
handed models as the interfaces of voice/interfaces.py (and the answer layer's ``LlmBackend``)
and never names a concrete class, so the unit tests can hand the session scripted fakes.

Each blocking model has its own single-thread ``ModelWorker`` with a priority queue, so
concurrent sessions wait in line (final ASR before answers before partials) instead of
thrashing two cores.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from streaming.answer.answerer import Answerer
from streaming.answer.llm import LlmBackend, make_backend
from streaming.server.config import Config
from tools.corpora import load_packs
from tools.corpus import Document
from tools.search.bm25 import Bm25Index
from voice.interfaces import Asr, EndOfTurnModel, Tts, Vad
from voice.model_files import smart_turn_model_path
from voice.smart_turn import SmartTurn
from voice.tts import PiperTts
from voice.vad import SileroVad
from voice.whisper import WhisperAsr

log = logging.getLogger(__name__)


def load_asr(model: str, **options: Any) -> Asr:
    """Whisper ``model`` (tiny.en, base or a CTranslate2 folder); ``options`` are
    ``WhisperAsr``'s (threads, window_pad_s, nice)."""
    return WhisperAsr(model, **options)


def load_vad() -> Vad:
    return SileroVad()


def load_end_of_turn() -> EndOfTurnModel | None:
    """Smart Turn v3, or None (one log line) when pipecat-ai's wheel is not installed."""
    path = smart_turn_model_path()
    if path is None:
        log.warning(
            "Smart Turn v3 not found (pip install --no-deps pipecat-ai); "
            "end of turn decides from the transcript alone"
        )
        return None
    return SmartTurn(path)


def load_tts(**options: Any) -> Tts:
    """The piper voice; ``options`` are ``PiperTts``'s (length_scale)."""
    return PiperTts(**options)


@dataclass
class Engine:
    config: Config
    vad: Vad
    asr: Asr
    tts: Tts
    llm: LlmBackend | None
    docs: list[Document]
    index: Bm25Index
    answerer: Answerer
    kg: Any = None  # tools.kg.KnowledgeGraph, when enabled
    partial_asr: Asr | None = None  # a faster model for partials; None: asr makes them
    smart_turn: EndOfTurnModel | None = None  # None: not installed, or smart_turn off

    @classmethod
    def load(cls, config: Config) -> Engine:
        t0 = time.perf_counter()
        docs = load_packs(config.knowledge, config.corpus or None)
        llm = make_backend(config)
        engine = cls(
            config=config,
            vad=load_vad(),
            asr=load_asr(
                config.asr_model, threads=config.asr_threads, window_pad_s=config.asr_window_pad_s
            ),
            tts=load_tts(length_scale=config.tts_length_scale),
            llm=llm,
            docs=docs,
            index=Bm25Index(docs),
            answerer=Answerer(llm, config.min_answer_confidence, config.max_answer_tokens),
            smart_turn=load_end_of_turn() if config.smart_turn else None,
        )
        if config.partial_asr_model not in ("", "same", config.asr_model):
            engine.partial_asr = load_asr(
                config.partial_asr_model,
                threads=config.asr_threads,
                window_pad_s=config.partial_window_pad_s,
                nice=config.partial_asr_nice,
            )
        if config.kg:
            from tools.kg.graph import KnowledgeGraph

            engine.kg = KnowledgeGraph.build(docs)
        log.info(
            "engine ready in %.1fs: asr=%s partials=%s llm=%s docs=%d",
            time.perf_counter() - t0,
            config.asr_model,
            engine.partial_asr.name if engine.partial_asr else config.asr_model,
            config.llm_backend,
            len(docs),
        )
        return engine

    def warm_up(self) -> None:
        """Run each model once so the first user does not pay for lazy initialisation."""
        import numpy as np

        self.asr.transcribe(np.zeros(16000, np.float32))
        if self.partial_asr is not None:
            self.partial_asr.transcribe(np.zeros(16000, np.float32))
        self.tts.synthesize("Ready.")
        self.index.search("warm up")
