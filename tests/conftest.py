"""Shared fixtures: real models loaded once per test session, a real server on a free localhost
port, and spoken questions generated at test time with piper (and espeak-ng where installed)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from voice.audio import decode_file, resample

SHARED = Path(__file__).resolve().parents[2] / "shared"
CRAG_DIR = SHARED / "crag"


@pytest.fixture(scope="session")
def engine():
    from streaming.server.config import Config
    from streaming.server.engine import Engine

    # The product's default configuration; STREAMRAG_* variables (e.g. STREAMRAG_LLM_BACKEND)
    # run the same suite against another setup.
    eng = Engine.load(Config.from_env())
    eng.warm_up()
    return eng


@pytest.fixture(scope="session")
def docs():
    """The bundled knowledge base, loaded once."""
    from tools.corpus import load_documents

    return load_documents()


@pytest.fixture(scope="session")
def kg(docs):
    """The knowledge graph over the bundled knowledge base, built once."""
    from tools.kg.graph import KnowledgeGraph

    return KnowledgeGraph.build(docs)


class RunningServer:
    def __init__(self, runner, port: int) -> None:
        self.runner = runner
        self.port = port
        self.http_url = f"http://127.0.0.1:{port}"
        self.ws_url = f"ws://127.0.0.1:{port}/ws"


@pytest.fixture(scope="session")
async def server(engine):
    """The shared server, started for evaluation (eval_mode: the eval harness's audit,
    evidence and pace_audio options; tests/test_security.py checks a default one) and with room
    for the sessions that back-to-back tests still have closing (tests/test_admission.py checks
    max_sessions)."""
    from dataclasses import replace

    from streaming.server.app import bound_port, start_server

    config = engine.config.replace(eval_mode=True, max_sessions=64)
    eval_engine = replace(engine, config=config)
    runner = await start_server(eval_engine, "127.0.0.1", 0)
    yield RunningServer(runner, bound_port(runner))
    await runner.cleanup()


@pytest.fixture(scope="session")
def audio_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("speech")


@pytest.fixture(scope="session")
def speech(engine, audio_cache) -> Callable[..., np.ndarray]:
    """``speech(text, voice="piper", lead_s=0.5)`` -> 16 kHz float32 audio of ``text`` spoken."""

    def make(text: str, voice: str = "piper", lead_s: float = 0.5, length_scale: float = 1.0):
        key = hashlib.sha1(f"{voice}|{length_scale}|{text}".encode()).hexdigest()[:16]
        path = audio_cache / f"{key}.npy"
        if path.exists():
            audio = np.load(path)
        elif voice == "piper":
            # no sampling noise: the same text is the same audio in every run, so a test's
            # transcript does not depend on a draw (piper's default noise misheard
            # "Australia" in about 1 synthesis of 12)
            raw = engine.tts.synthesize_exact(text, length_scale)
            audio = resample(raw, engine.tts.rate, 16000)
            np.save(path, audio)
        else:
            audio = espeak(text, voice)
            np.save(path, audio)
        return np.concatenate([np.zeros(int(lead_s * 16000), np.float32), audio])

    return make


def espeak(text: str, voice: str = "en-us") -> np.ndarray:
    exe = shutil.which("espeak-ng")
    if exe is None:
        pytest.skip("espeak-ng is not installed")
    with tempfile.TemporaryDirectory() as tmp:
        wav = os.path.join(tmp, "out.wav")
        subprocess.run([exe, "-v", voice, "-s", "165", "-w", wav, text], check=True)
        return decode_file(wav, 16000)


@contextlib.asynccontextmanager
async def serve_routes(*routes: tuple[str, str, Callable]):
    """A throwaway local HTTP server for peers we talk to (an LLM endpoint, a search API)."""
    from aiohttp import web

    app = web.Application()
    for method, path, handler in routes:
        app.router.add_route(method, path, handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"
    finally:
        await runner.cleanup()
