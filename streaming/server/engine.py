"""Models and indexes loaded once per process and shared by every session.

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
from tools.corpus import Document, load_documents
from tools.search import Bm25Index
from voice.asr import WhisperAsr
from voice.tts import PiperTts
from voice.vad import SileroVad

log = logging.getLogger(__name__)


@dataclass
class Engine:
    config: Config
    vad: SileroVad
    asr: WhisperAsr
    tts: PiperTts
    llm: LlmBackend | None
    docs: list[Document]
    index: Bm25Index
    answerer: Answerer
    kg: Any = None  # tools.kg.KnowledgeGraph, when enabled
    partial_asr: WhisperAsr | None = None  # a faster model for partials; None: asr makes them

    @classmethod
    def load(cls, config: Config) -> Engine:
        t0 = time.perf_counter()
        docs = load_documents(config.corpus or None)
        llm = make_backend(config)
        engine = cls(
            config=config,
            vad=SileroVad(),
            asr=WhisperAsr(config.asr_model, config.asr_threads, config.asr_window_pad_s),
            tts=PiperTts(config.tts_length_scale),
            llm=llm,
            docs=docs,
            index=Bm25Index(docs),
            answerer=Answerer(llm, config.min_answer_confidence, config.max_answer_tokens),
        )
        if config.partial_asr_model not in ("", "same", config.asr_model):
            engine.partial_asr = WhisperAsr(
                config.partial_asr_model,
                config.asr_threads,
                config.partial_window_pad_s,
                nice=config.partial_asr_nice,
            )
        if config.kg:
            from tools.kg import KnowledgeGraph

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
