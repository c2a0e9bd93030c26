"""Speculative prefill: the prompt prefix (instructions + facts) goes into the LLM's cache while
the user talks; the answer then reads only the question's tokens and says the same thing."""

import importlib.util
from types import SimpleNamespace

import pytest
from aiohttp import web
from conftest import serve_routes

from streaming.answer import llm as llm_module
from streaming.answer.answerer import Answerer, build_messages
from streaming.answer.llm import OpenAiBackend
from streaming.server.preempt import Preemptor
from tests.test_answer import INDEX

QUESTION = "what is the capital of australia"
needs_llama = pytest.mark.skipif(
    importlib.util.find_spec("llama_cpp") is None, reason="llama-cpp-python not installed"
)


@pytest.fixture(scope="module")
def smollm2():
    return llm_module.LlamaCppBackend()


async def spoken(answerer, question=QUESTION):
    return " ".join([s.text async for s in answerer.answer(question, INDEX.search(question))])


def facts_for(answerer, question=QUESTION):
    _, chosen = answerer.choose(question, INDEX.search(question))
    return [c.text for c in chosen[: answerer.n_facts]]


@needs_llama
def test_the_prefix_is_token_for_token_the_start_of_the_real_prompt(smollm2):
    facts = facts_for(Answerer(smollm2))
    prefix = smollm2.prefix_tokens(build_messages("", facts))
    rendered = smollm2._formatter(messages=build_messages(QUESTION, facts)).prompt
    full = smollm2.llm.tokenize(rendered.encode(), add_bos=False, special=True)
    assert 40 < len(prefix) < len(full) and full[: len(prefix)] == prefix


@needs_llama
async def test_a_prefilled_answer_equals_the_cold_one_and_reads_only_the_question(smollm2):
    answerer = Answerer(smollm2)
    await smollm2.forget()
    cold = await spoken(answerer)
    cold_tokens = smollm2.last_prompt_tokens
    await smollm2.forget()
    prefilled = await answerer.prefill(QUESTION, INDEX.search(QUESTION))
    assert prefilled > 40
    assert await answerer.prefill(QUESTION, INDEX.search(QUESTION)) == 0  # already cached
    warm = await spoken(answerer)
    assert warm == cold and "Canberra" in warm  # greedy decoding: the same answer
    assert smollm2.last_prompt_tokens == cold_tokens - prefilled  # only the question was read
    assert smollm2.last_prompt_tokens < 20


@needs_llama
async def test_a_stopped_prefill_keeps_the_chunks_it_evaluated(smollm2, monkeypatch):
    class StopAfterOneChunk:
        checks = 0

        def is_set(self):
            self.checks += 1
            return self.checks > 1

    answerer = Answerer(smollm2)
    await smollm2.forget()
    cold = await spoken(answerer)
    cold_tokens = smollm2.last_prompt_tokens
    monkeypatch.setattr(llm_module, "PREFILL_CHUNK", 16)
    await smollm2.forget()
    tokens = smollm2.prefix_tokens(build_messages("", facts_for(answerer)))
    assert smollm2._prefill(tokens, StopAfterOneChunk()) == 16
    assert await spoken(answerer) == cold
    assert smollm2.last_prompt_tokens == cold_tokens - 16


class RecordingBackend:
    name = "recording"

    def __init__(self):
        self.prefixes = []

    async def prefill(self, prefix):
        self.prefixes.append(prefix)
        return 7

    async def stream(self, messages, max_tokens):
        yield "The capital of Australia is Canberra."


def preemptor(backend, hits):
    engine = SimpleNamespace(answerer=Answerer(backend))
    return Preemptor(engine, SimpleNamespace(peek=lambda text: hits))  # type: ignore[arg-type]


async def test_the_preemptor_prefills_once_per_question_and_evidence():
    backend = RecordingBackend()
    p = preemptor(backend, INDEX.search(QUESTION))
    assert p.prefill(QUESTION)
    assert not p.prefill(QUESTION)  # the same question over the same evidence: nothing new
    await p._prefill_task
    assert p.prefills == 1 and p.prefilled_tokens == 7
    content = backend.prefixes[0][-1]["content"]
    assert "Canberra" in content and content.endswith("Question: ")  # the question comes last
    assert QUESTION not in content
    assert p.prefill("what is the capital of australia called")  # new words: a new prefill
    p.close()
    assert p._prefill_task is None


async def test_no_prefill_without_evidence_or_without_an_llm():
    assert not preemptor(RecordingBackend(), None).prefill(QUESTION)
    assert not preemptor(None, INDEX.search(QUESTION)).prefill(QUESTION)


async def test_openai_prefill_is_a_one_token_request_with_the_prefix():
    seen = {}

    async def completions(request):
        seen.update(await request.json())
        return web.json_response({"choices": [], "usage": {"prompt_tokens": 93}})

    async with serve_routes(("POST", "/v1/chat/completions", completions)) as url:
        backend = OpenAiBackend(f"{url}/v1", "m")
        assert (
            await backend.prefill(build_messages("", ["The capital of Austria is Vienna."])) == 93
        )
        assert await OpenAiBackend(f"{url}/v1", "m", prefill=False).prefill([{}]) == 0
    assert seen["max_tokens"] == 1 and not seen.get("stream")
    assert seen["messages"][-1]["content"].endswith("Vienna.\n\nQuestion:")
