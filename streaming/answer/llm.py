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

from streaming.answer.llm_files import MODELS
from streaming.answer.settings import AnswerSettings
from voice.workers import ModelWorker, Priority

log = logging.getLogger(__name__)
Messages = list[dict[str, str]]


class LlmBackend(Protocol):
    """A streaming LLM (the answer layer's model interface; the engine builds it from settings
    with ``make_backend``)."""

    name: str

    def stream(self, messages: Messages, max_tokens: int) -> AsyncIterator[str]: ...

    async def prefill(self, prefix: Messages) -> int:
        """Evaluate ``prefix`` (a prompt whose last message stops where the question will go)
        into the model's cache ahead of ``stream``; the number of tokens evaluated. Backends
        that cannot cache a prefix return 0."""
        ...


# Appended to the last message when a prompt is rendered for its prefix: the prefix is the
# rendered text before it (a private-use character no template or question contains).
_CUT = "\ue000"
PREFILL_CHUNK = 64  # tokens per llama.cpp decode while prefilling; cancellation is checked between


def _stable(prefix_text: str) -> str:
    """A prefix without its trailing space: BPE tokenizers glue a word's leading space to it,
    so "Question: " would end in a token the real prompt (" who") does not have."""
    return prefix_text.rstrip(" ")


class LlamaCppBackend:
    """llama-cpp-python in-process. Generation runs on the LLM worker thread and stops as soon as
    the consuming task is cancelled (checked between tokens)."""

    name = "llama"

    def __init__(
        self,
        model_path: str = AnswerSettings.llm_model_path,
        threads: int = AnswerSettings.llm_threads,
        prefill: bool = AnswerSettings.llm_prefill,
    ) -> None:
        from llama_cpp import Llama
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        self.path = MODELS[model_path or "smollm2"]() if model_path in ("", *MODELS) else model_path
        self.llm = Llama(model_path=self.path, n_ctx=2048, n_threads=threads, verbose=False)
        self.worker = ModelWorker("llm")
        # The same template create_chat_completion renders, so a prefilled prefix is token for
        # token the start of the real prompt (llama-cpp-python reuses the longest common token
        # prefix of consecutive prompts: Llama.generate, checked on 0.3.36 in tests/test_prefill.py)
        template = self.llm.metadata.get("tokenizer.chat_template")
        self._formatter = None
        if prefill and template and self.llm.chat_format == "chat_template.default":
            special = [self.llm.token_eos(), self.llm.token_bos()]
            eos, bos = (
                self.llm.detokenize([t], special=True).decode() if t >= 0 else "" for t in special
            )
            self._formatter = Jinja2ChatFormatter(template=template, eos_token=eos, bos_token=bos)
        self.evaluated = 0  # tokens llama.cpp decoded, all calls (prompt, prefill and generation)
        self.last_prompt_tokens = 0  # prompt tokens the last stream() decoded before its 1st token
        self._decode = self.llm.eval
        self.llm.eval = self._counted_eval  # count what generate() really decodes

    def _counted_eval(self, tokens) -> None:
        self.evaluated += len(tokens)
        self._decode(tokens)

    def _generate(self, messages: Messages, max_tokens: int, push, stop: threading.Event) -> None:
        start, first = self.evaluated, True
        for chunk in self.llm.create_chat_completion(
            messages, max_tokens=max_tokens, temperature=0.0, stream=True
        ):
            if first:
                self.last_prompt_tokens, first = self.evaluated - start, False
            if stop.is_set():
                break
            delta = chunk["choices"][0]["delta"].get("content")
            if delta:
                push(delta)
        push(None)

    def prefix_tokens(self, prefix: Messages) -> list[int]:
        """The tokens of the chat prompt for ``prefix`` up to the end of its last message's text."""
        if self._formatter is None or not prefix:
            return []
        cut = [*prefix[:-1], {**prefix[-1], "content": _stable(prefix[-1]["content"]) + _CUT}]
        text = self._formatter(messages=cut).prompt.split(_CUT)[0]
        return self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)

    def _prefill(self, tokens: list[int], stop: threading.Event) -> int:
        """Decode what of ``tokens`` the cache lacks, in chunks; give way to any waiting job."""
        from llama_cpp import Llama

        have = Llama.longest_token_prefix(self.llm._input_ids.tolist(), tokens)
        if have == len(tokens):
            return 0
        self.llm.n_tokens = have  # eval() drops the KV cache past n_tokens before decoding
        done = 0
        for i in range(have, len(tokens), PREFILL_CHUNK):
            if stop.is_set() or (done and self.worker.pending()):
                break  # superseded, or an answer waits: what is decoded stays reusable
            self.llm.eval(tokens[i : i + PREFILL_CHUNK])
            done += len(tokens[i : i + PREFILL_CHUNK])
        return done

    async def forget(self) -> None:
        """Empty the prompt cache, on the worker: after any generation still in flight."""
        await self.worker.run(Priority.ANSWER, self.llm.reset)

    async def prefill(self, prefix: Messages) -> int:
        tokens = self.prefix_tokens(prefix)
        if not tokens:
            return 0
        stop = threading.Event()
        try:
            return await self.worker.run(Priority.SPECULATIVE, self._prefill, tokens, stop)
        finally:
            stop.set()  # cancelled: the worker stops at the next chunk

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


class IncompleteStream(ConnectionError):
    """The endpoint's stream ended before ``[DONE]`` or a ``finish_reason``: mid-sentence."""


class OpenAiBackend:
    """Any OpenAI-compatible ``/chat/completions`` endpoint (vLLM, llama.cpp server, Ollama).

    ``timeout_s`` bounds the wait for the response and for each streamed chunk after it: an
    endpoint that hangs or stalls mid-answer raises (the answerer then falls back) instead of
    holding the turn; a stream that ends without ``[DONE]`` raises ``IncompleteStream``."""

    name = "openai"

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key_env: str = AnswerSettings.openai_api_key_env,
        prefill: bool = AnswerSettings.llm_prefill,
        timeout_s: float = AnswerSettings.llm_timeout_ms / 1000,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key = os.environ.get(api_key_env, "")
        self.prefill_enabled = prefill
        self.timeout_s = timeout_s

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    async def prefill(self, prefix: Messages) -> int:
        """A one-token request with the prefix: the server's prefix cache (llama.cpp server's
        ``cache_prompt``, on by default; vLLM's automatic prefix caching; llama_cpp.server's
        own prefix reuse) then holds it for the real request. The prompt tokens it reports."""
        if not self.prefill_enabled or not prefix:
            return 0
        prefix = [*prefix[:-1], {**prefix[-1], "content": _stable(prefix[-1]["content"])}]
        body = {"model": self.model, "messages": prefix, "max_tokens": 1, "temperature": 0}
        timeout = aiohttp.ClientTimeout(total=10, sock_connect=3)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            url = f"{self.base_url}/chat/completions"
            async with http.post(url, json=body, headers=self._headers()) as resp:
                resp.raise_for_status()
                usage = (await resp.json()).get("usage") or {}
        return int(usage.get("prompt_tokens") or 0)

    async def stream(self, messages: Messages, max_tokens: int) -> AsyncIterator[str]:
        headers = self._headers()
        body = {
            "model": self.model,
            "messages": messages,
            "max_tokens": max_tokens,
            "temperature": 0,
            "stream": True,
        }
        stall = min(self.timeout_s, 30.0)
        timeout = aiohttp.ClientTimeout(total=30, sock_connect=min(3.0, stall), sock_read=stall)
        finished = False
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
                    finished = finished or bool(choices[0].get("finish_reason"))
                    delta = (choices[0].get("delta") or {}).get("content")
                    if delta:
                        yield delta
        if not finished:
            raise IncompleteStream("the LLM stream ended before [DONE]")


def make_backend(config) -> LlmBackend | None:
    """The configured backend, or None for the purely extractive answerer."""
    if config.llm_backend == "extractive":
        return None
    if config.llm_backend == "openai":
        return OpenAiBackend(
            config.openai_base_url,
            config.openai_model,
            config.openai_api_key_env,
            config.llm_prefill,
            config.llm_timeout_ms / 1000,
        )
    if config.llm_backend == "llama":
        return LlamaCppBackend(config.llm_model_path, config.llm_threads, config.llm_prefill)
    raise ValueError(f"unknown llm_backend {config.llm_backend!r}")
