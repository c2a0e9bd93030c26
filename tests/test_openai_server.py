"""The ``openai`` LLM backend against a real OpenAI-compatible server: llama.cpp's own
``llama_cpp.server`` serving the bundled SmolLM2, driven through a real voice session.

Skipped when ``llama-cpp-python[server]`` is not installed (``scripts/setup.sh`` installs it).
"""

from __future__ import annotations

import asyncio
import importlib.util
import socket
import subprocess
import sys
import time

import aiohttp
import pytest

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        importlib.util.find_spec("llama_cpp") is None
        or importlib.util.find_spec("uvicorn") is None,
        reason="llama-cpp-python[server] is not installed",
    ),
]
READY_TIMEOUT_S = 180  # loading SmolLM2 takes ~1 s; a busy CI box gets slack


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _wait_ready(url: str, proc: asyncio.subprocess.Process) -> None:
    """Poll ``/v1/models`` until the server answers; fail as soon as the process dies."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            if proc.returncode is not None:
                pytest.fail(f"llama_cpp.server exited with {proc.returncode}")
            try:
                async with http.get(f"{url}/v1/models") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)  # readiness polling, not synchronisation
    pytest.fail("llama_cpp.server did not become ready")


@pytest.fixture(scope="module")
async def llama_server(tmp_path_factory):
    from streaming.answer.llm_files import smollm2_path

    port = _free_port()
    log_path = tmp_path_factory.mktemp("llama") / "server.log"
    log = log_path.open("w")  # noqa: ASYNC230, SIM115 - opened once, closed below
    cmd = ["-m", "llama_cpp.server", "--model", smollm2_path()]
    cmd += ["--host", "127.0.0.1", "--port", str(port), "--n_threads", "1"]
    cmd += ["--n_ctx", "2048", "--model_alias", "smollm2"]
    proc = await asyncio.create_subprocess_exec(
        sys.executable, *cmd, stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    try:
        await _wait_ready(url, proc)
        yield url, log_path
    finally:
        proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except TimeoutError:
            proc.kill()
            await proc.wait()
        log.close()


async def test_openai_backend_answers_through_a_real_llama_cpp_server(llama_server):
    from streaming.client.connection import VoiceClient
    from streaming.server.app import bound_port, start_server
    from streaming.server.config import Config
    from streaming.server.engine import Engine

    url, log_path = llama_server
    config = Config.from_env(
        llm_backend="openai", openai_base_url=f"{url}/v1", openai_model="smollm2", kg=False
    )
    engine = await asyncio.to_thread(Engine.load, config)
    assert engine.llm is not None and engine.llm.name == "openai"
    runner = await start_server(engine, "127.0.0.1", 0)
    try:
        ws_url = f"ws://127.0.0.1:{bound_port(runner)}/ws"
        async with VoiceClient(ws_url, options={"strategy": "final"}) as client:
            log = await client.ask_text("where is berkshire hathaway headquartered", timeout=120)
    finally:
        await runner.cleanup()
    metrics = log.first("turn_metrics")["metrics"]
    assert metrics["answer"], metrics
    assert log.of("answer_delta"), "no answer text came back"
    assert log.answer_audio.size > 0, "the answer was not spoken"
    # The request really went to the model server and streamed back (uvicorn's access log) ...
    assert 'POST /v1/chat/completions HTTP/1.1" 200' in log_path.read_text()
    # ... and whatever the guard kept, the spoken answer is grounded in the bundled evidence.
    assert "omaha" in metrics["answer"].lower(), metrics["answer"]
