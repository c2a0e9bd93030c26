"""LLM backends that stream text: embedded llama.cpp, or any OpenAI-compatible HTTP endpoint."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
from collections.abc import AsyncIterator
from typing import Protocol

import aiohttp

from voice.models import ModelWorker, Priority, smollm2_path

log = logging.getLogger(__name__)
Messages = list[dict[str, str]]


class LlmBackend(Protocol):
    name: str

    def stream(self, messages: Messages, max_tokens: int) -> AsyncIterator[str]: ...


class LlamaCppBackend:
    """llama-cpp-python in-process. Generation runs on the LLM worker thread and stops as soon as
    the consuming task is cancelled (checked between tokens)."""

    name = "llama"

    def __init__(self, model_path: str = "", threads: int = 2) -> None:
        from llama_cpp import Llama

        self.path = model_path or smollm2_path()
        self.llm = Llama(model_path=self.path, n_ctx=2048, n_threads=threads, verbose=False)
        self.worker = ModelWorker("llm")

    def _generate(self, messages: Messages, max_tokens: int, push, stop: threading.Event) -> None:
        for chunk in self.llm.create_chat_completion(
            messages, max_tokens=max_tokens, temperature=0.0, stream=True
        ):
            if stop.is_set():
                break
            delta = chunk["choices"][0]["delta"].get("content")
            if delta:
                push(delta)
        push(None)

    async def stream(self, messages: Messages, max_tokens: int) -> AsyncIterator[str]:
        loop = asyncio.get_running_loop()
        q: asyncio.Queue[str | None] = asyncio.Queue()
        stop = threading.Event()

        def push(item: str | None) -> None:
            loop.call_soon_threadsafe(q.put_nowait, item)

        job = asyncio.ensure_future(
            self.worker.run(Priority.ANSWER, self._generate, messages, max_tokens, push, stop)
        )
        try:
            while (item := await q.get()) is not None:
                yield item
            await job
        finally:
            stop.set()
            if not job.done():
                job.cancel()


class OpenAiBackend:
    """Any OpenAI-compatible ``/chat/completions`` endpoint (vLLM, llama.cpp server, Ollama)."""

    name = "openai"

    def __init__(self, base_url: str, model: str, api_key_env: str = "OPENAI_API_KEY") -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key = os.environ.get(api_key_env, "")

    async def stream(self, messages: Messages, max_tokens: int) -> AsyncIterator[str]:
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        body = {
            "model": self.model,
            "messages": messages,
            "max_tokens": max_tokens,
            "temperature": 0,
            "stream": True,
        }
        timeout = aiohttp.ClientTimeout(total=30, sock_connect=3)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            async with http.post(
                f"{self.base_url}/chat/completions", json=body, headers=headers
            ) as resp:
                resp.raise_for_status()
                async for raw in resp.content:
                    line = raw.decode("utf-8", "replace").strip()
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        return
                    choices = json.loads(data).get("choices") or [{}]
                    delta = (choices[0].get("delta") or {}).get("content")
                    if delta:
                        yield delta


def make_backend(config) -> LlmBackend | None:
    """The configured backend, or None for the purely extractive answerer."""
    if config.llm_backend == "extractive":
        return None
    if config.llm_backend == "openai":
        return OpenAiBackend(config.openai_base_url, config.openai_model, config.openai_api_key_env)
    if config.llm_backend == "llama":
        return LlamaCppBackend(config.llm_model_path, config.llm_threads)
    raise ValueError(f"unknown llm_backend {config.llm_backend!r}")
