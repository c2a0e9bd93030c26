"""Speculative prefill: LLM time to first token with and without the prompt prefix in the cache.

On N demo questions whose answer goes to the LLM (the answerer has a fitting candidate that is
not a composed KG answer), each model answers every question three ways, with greedy decoding:
- ``cold``: the state a session is in after the previous question (its system prompt is
  already cached, its facts are not): the whole facts block and the question are evaluated;
- ``prefilled``: the prefix (instructions + facts) prefilled first, as while the user talks,
  so only the question's tokens remain; the answer text must equal the cold one;
- ``partial``: prefilled from the facts for the question without its last word (what a
  partial transcript gives), then the full question: how often the speculative prefix holds.
Every answer passes the answerer's guard; the rule judge scores the spoken text (the extractive
reader on the same questions for reference). Prints a table; writes
benchmarks/results/prefill.json.
Usage: python benchmarks/prefill.py [--models smollm2,qwen-coder-0.5b] [--limit 30]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.answers import evidence, toolset  # noqa: E402
from streaming.answer.answerer import Answerer, build_messages  # noqa: E402
from streaming.answer.llm import LlamaCppBackend  # noqa: E402
from streaming.eval.judge import judge, score  # noqa: E402
from streaming.server.config import Config  # noqa: E402
from tools.corpus import load_questions  # noqa: E402


class Timed:
    """Wraps a backend: the time of each stream's first token and the prompt tokens it read."""

    def __init__(self, backend: LlamaCppBackend) -> None:
        self.backend, self.name = backend, backend.name
        self.first_ms: float | None = None

    async def prefill(self, prefix):
        return await self.backend.prefill(prefix)

    async def stream(self, messages, max_tokens):
        t0, self.first_ms = time.perf_counter(), None
        async for delta in self.backend.stream(messages, max_tokens):
            if self.first_ms is None:
                self.first_ms = (time.perf_counter() - t0) * 1000
            yield delta


async def answer(answerer: Answerer, question: str, hits) -> dict:
    t0, first, said = time.perf_counter(), None, []
    async for sentence in answerer.answer(question, hits):
        first = first or (time.perf_counter() - t0) * 1000
        said.append(sentence)
    timed = answerer.backend
    return {
        "text": " ".join(s.text for s in said),
        "source": said[0].source,
        "ttft_ms": timed.first_ms,
        "first_sentence_ms": first,
        "prompt_tokens": timed.backend.last_prompt_tokens,
    }


async def run_model(model: str, questions, hits_per_q, threads: int) -> dict:
    backend = LlamaCppBackend(model, threads)
    answerer = Answerer(Timed(backend), max_tokens=Config().max_answer_tokens)
    rows = []
    for q, hits in zip(questions, hits_per_q, strict=True):
        cold = await answer(answerer, q.query, hits)  # the cache holds the previous question
        await backend.forget()
        t0 = time.perf_counter()
        prefilled_tokens = await answerer.prefill(q.query, hits)
        prefill_ms = (time.perf_counter() - t0) * 1000
        warm = await answer(answerer, q.query, hits)
        await backend.forget()
        await answerer.prefill(q.query.rsplit(" ", 1)[0], hits)  # facts for a partial
        _, chosen = answerer.choose(q.query, hits)
        facts = [c.text for c in chosen[: answerer.n_facts]]
        t0 = time.perf_counter()
        async for _ in backend.stream(build_messages(q.query, facts), 1):
            break
        partial = {
            "ttft_ms": (time.perf_counter() - t0) * 1000,
            "prompt_tokens": backend.last_prompt_tokens,
        }
        verdict = judge(cold["text"], q.gold, q.question_type, question=q.query)
        rows.append(
            {
                "id": q.id,
                "type": q.question_type,
                "question": q.query,
                "gold": q.answer,
                "cold": cold,
                "prefilled": {**warm, "prefill_tokens": prefilled_tokens, "prefill_ms": prefill_ms},
                "partial": partial,
                "same_text": cold["text"] == warm["text"],
                "outcome": verdict.outcome,
            }
        )
        print(f"  {q.id:<16} cold {cold['ttft_ms']:6.0f} ms ({cold['prompt_tokens']:3d} tok)  "
              f"prefilled {warm['ttft_ms']:5.0f} ms ({warm['prompt_tokens']:2d} tok)  "
              f"partial {partial['prompt_tokens']:3d} tok  same={rows[-1]['same_text']}  "
              f"{verdict.outcome:<12} {cold['text'][:60]!r}", flush=True)  # fmt: skip
    return summarize(model, rows)


def p50(rows, *path) -> float:
    values = []
    for r in rows:
        for key in path:
            r = r[key]
        values.append(r)
    return statistics.median(values)


def summarize(model: str, rows: list[dict]) -> dict:
    from streaming.eval.judge import Verdict

    crag = score([Verdict(r["outcome"], "") for r in rows])
    return {
        "model": model,
        "n": len(rows),
        "crag": crag,
        "llm_share": sum(r["cold"]["source"] == "llm" for r in rows) / len(rows),
        "same_text": sum(r["same_text"] for r in rows),
        "partial_prefix_held": sum(r["partial"]["prompt_tokens"] < 30 for r in rows),
        "p50": {
            "cold_ttft_ms": p50(rows, "cold", "ttft_ms"),
            "prefilled_ttft_ms": p50(rows, "prefilled", "ttft_ms"),
            "partial_ttft_ms": p50(rows, "partial", "ttft_ms"),
            "cold_first_sentence_ms": p50(rows, "cold", "first_sentence_ms"),
            "prefilled_first_sentence_ms": p50(rows, "prefilled", "first_sentence_ms"),
            "cold_prompt_tokens": p50(rows, "cold", "prompt_tokens"),
            "prefilled_prompt_tokens": p50(rows, "prefilled", "prompt_tokens"),
            "prefill_tokens": p50(rows, "prefilled", "prefill_tokens"),
            "prefill_ms": p50(rows, "prefilled", "prefill_ms"),
        },
        "rows": rows,
    }


async def extractive(questions, hits_per_q) -> dict:
    answerer, outcomes = Answerer(None), []
    for q, hits in zip(questions, hits_per_q, strict=True):
        text = " ".join([s.text async for s in answerer.answer(q.query, hits)])
        outcomes.append(judge(text, q.gold, q.question_type, question=q.query))
    return {"model": "extractive", "n": len(outcomes), "crag": score(outcomes)}


def print_table(results: list[dict]) -> None:
    print(f"\n{'backend':<18}{'n':>4}{'acc':>6}{'hall':>6}{'score':>7}"
          f"{'TTFT cold':>11}{'prefilled':>11}{'partial':>9}{'1st sent. cold':>16}{'prefilled':>11}"
          f"{'prompt tok':>12}{'prefill':>14}{'same':>6}{'held':>6}")  # fmt: skip
    for r in results:
        c = r["crag"]
        line = f"{r['model']:<18}{r['n']:>4}{c['accuracy']:>6.0%}{c['hallucination']:>6.0%}"
        line += f"{c['score']:>+7.0%}"
        if "p50" in r:
            p = r["p50"]
            line += (f"{p['cold_ttft_ms']:>8.0f} ms{p['prefilled_ttft_ms']:>8.0f} ms"
                     f"{p['partial_ttft_ms']:>6.0f} ms{p['cold_first_sentence_ms']:>13.0f} ms"
                     f"{p['prefilled_first_sentence_ms']:>8.0f} ms"
                     f"{p['cold_prompt_tokens']:>6.0f}→{p['prefilled_prompt_tokens']:<4.0f}"
                     f"{p['prefill_tokens']:>5.0f} in {p['prefill_ms']:>3.0f}ms"
                     f"{r['same_text']:>4}/{r['n']}{r['partial_prefix_held']:>4}/{r['n']}")  # fmt: skip
        print(line)
    print("P50s; TTFT = the LLM's first token; 'same' = prefilled answer text equals cold; "
          "'held' = a partial's prefix still served the final question (< 30 prompt tokens left)")  # fmt: skip


async def main_async(args) -> list[dict]:
    questions = load_questions()
    tools = await toolset(Config(search_url="local", kg_latency="none"))
    try:
        hits = await evidence(questions, tools)
    finally:
        await tools.close()
    probe = Answerer(None)
    eligible = []
    for q, h in zip(questions, hits, strict=True):
        _, chosen = probe.choose(q.query, h)
        if chosen and chosen[0].source != "kg":  # the questions the LLM would answer
            eligible.append((q, h))
    step = max(1, len(eligible) // args.limit)
    picked = eligible[::step][: args.limit]
    qs, hs = [q for q, _ in picked], [h for _, h in picked]
    print(f"{len(picked)} of {len(eligible)} LLM-answered demo questions (every {step}th)")
    results = [await extractive(qs, hs)]
    for model in args.models.split(","):
        print(f"## {model}")
        results.append(await run_model(model, qs, hs, args.threads))
    return results


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="smollm2")
    ap.add_argument("--limit", type=int, default=30)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "prefill.json"))
    args = ap.parse_args()
    results = asyncio.run(main_async(args))
    print_table(results)
    out = Path(args.out)
    out.write_text(json.dumps(results, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
