"""Typed answer quality through the server's own tools: BM25 search + knowledge graph -> answerer.

Each demo question goes through ``ToolSet`` (the server's tools: local BM25 search and the KG
tool, no latency) and a ``Lookup`` (strategy ``final``), exactly as a typed turn would, then the
answerer; the rule judge scores it. Questions are split by the parity of their number: even ids
are the tuning half (where the answerer's confidence threshold was chosen), odd ids the report
half. Prints accuracy / hallucination / missing / CRAG score overall and by question type for
each half and backend; writes benchmarks/results/answers.json.
Usage: python benchmarks/answers.py [--backends extractive,llama] [--limit N] [--out FILE]
       [--sweep 0.3,0.4,...]  (extractive scores per threshold; the tuning half decides)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import sys
import time
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from streaming.answer.answerer import Answerer  # noqa: E402
from streaming.answer.llm import make_backend  # noqa: E402
from streaming.eval.judge import Verdict, breakdown, judge, score  # noqa: E402
from streaming.rag.lookup import Lookup  # noqa: E402
from streaming.server.config import Config  # noqa: E402
from streaming.server.toolset import ToolSet  # noqa: E402
from tools.corpora import load_packs  # noqa: E402
from tools.corpus import load_questions  # noqa: E402
from tools.kg.graph import KnowledgeGraph  # noqa: E402
from tools.search.bm25 import Bm25Index  # noqa: E402


def half(question_id: str) -> str:
    """ "tune" for even-numbered ids (finance-q002), "report" for odd ones."""
    digits = re.findall(r"\d+", question_id)
    return "tune" if digits and int(digits[-1]) % 2 == 0 else "report"


async def toolset(config: Config) -> ToolSet:
    """The server's ToolSet over an engine with only what the tools need (no audio models)."""
    docs = load_packs(config.knowledge, config.corpus or None)
    engine = SimpleNamespace(config=config, docs=docs, index=Bm25Index(docs), kg=None)
    if config.kg:
        engine.kg = KnowledgeGraph.build(docs)
    return await ToolSet(engine).start()  # type: ignore[arg-type]


async def evidence(questions, tools: ToolSet) -> list[list]:
    """Each question's evidence, resolved as a typed turn would be (strategy ``final``), as of
    the question's own ``query_time`` (ages and "years ago" do not drift with the calendar)."""
    out = []
    for q in questions:
        session = await tools.for_session(None, q.query_time or None)
        lookup = Lookup(
            session.tools,
            lambda _event: None,
            "final",
            top_ids=session.top_ids,
        )
        out.append((await lookup.resolve(q.query, 0)).hits)
        lookup.close()
    return out


async def run(backend_name: str, questions, hits_per_q, min_confidence: float | None = None):
    config = Config(llm_backend=backend_name)
    answerer = Answerer(make_backend(config), max_tokens=config.max_answer_tokens)
    if min_confidence is not None:
        answerer.min_confidence = min_confidence
    rows = []
    for q, hits in zip(questions, hits_per_q, strict=True):
        t0 = time.perf_counter()
        first, sentences = None, []
        async for s in answerer.answer(q.query, hits):
            first = first or (time.perf_counter() - t0) * 1000
            sentences.append(s)
        text = " ".join(s.text for s in sentences)
        verdict = judge(text, q.gold, q.question_type, question=q.query)
        rows.append(
            {
                "id": q.id,
                "half": half(q.id),
                "type": q.question_type,
                "question": q.query,
                "gold": q.answer,
                "answer": text,
                "source": sentences[0].source,
                "outcome": verdict.outcome,
                "reason": verdict.reason,
                "first_ms": first,
            }
        )
    out = summarize(backend_name, rows)
    out["min_confidence"] = answerer.min_confidence
    return out


def summarize(backend_name: str, rows: list[dict]) -> dict:
    out: dict = {"backend": backend_name, "n": len(rows)}
    for name in ("tune", "report", "all"):
        part = [r for r in rows if name == "all" or r["half"] == name]
        verdicts = [Verdict(r["outcome"], "") for r in part]
        out[name] = {
            "crag": score(verdicts),
            "by_type": breakdown(verdicts, [r["type"] for r in part]),
            "idk_share": sum(r["source"] == "idk" for r in part) / max(1, len(part)),
        }
    out["first_sentence_p50_ms"] = statistics.median(r["first_ms"] for r in rows)
    out["sources"] = {s: sum(r["source"] == s for r in rows) for s in {r["source"] for r in rows}}
    out["rows"] = rows
    return out


def print_table(result: dict) -> None:
    print(f"\n## {result['backend']}, min_confidence {result['min_confidence']:g}  (first sentence P50 {result['first_sentence_p50_ms']:.2f} ms,"
          f" sources {result['sources']})")  # fmt: skip
    header = f"{'':<20}" + "".join(f"{h:>30}" for h in ("tune (even ids)", "report (odd)", "all"))
    print(header)
    print(f"{'':<20}" + f"{'n   acc  hall  miss  score':>30}" * 3)
    types = sorted(result["all"]["by_type"])
    for label in ["overall", *types]:
        cells = []
        for name in ("tune", "report", "all"):
            c = result[name]["crag"] if label == "overall" else result[name]["by_type"].get(label)
            if c is None:
                cells.append(f"{'-':>30}")
                continue
            cells.append(
                f"{c['n']:>9}{c['accuracy']:>6.0%}{c['hallucination']:>6.0%}"
                f"{c['missing']:>6.0%}{c['score']:>+7.0%}".rjust(30)
            )
        print(f"{label:<20}" + "".join(cells))


async def main_async(args) -> list[dict]:
    questions = load_questions()
    questions = questions[: args.limit] if args.limit else questions
    config = Config(search_url="local", kg_latency="none", knowledge=args.knowledge)
    tools = await toolset(config)
    try:
        hits = await evidence(questions, tools)
    finally:
        await tools.close()
    if args.sweep:  # choose the threshold on the tuning half only
        print(f"{'min_confidence':>15}{'tune score':>12}{'tune halluc.':>14}{'report score':>14}")
        for t in [float(x) for x in args.sweep.split(",")]:
            r = await run("extractive", questions, hits, t)
            tune, report = r["tune"]["crag"], r["report"]["crag"]
            print(f"{t:>15.2f}{tune['score']:>+12.1%}{tune['hallucination']:>14.1%}"
                  f"{report['score']:>+14.1%}")  # fmt: skip
    return [await run(b, questions, hits) for b in args.backends.split(",")]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backends", default="extractive")
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--knowledge", default=Config.knowledge, help="knowledge packs (Config)")
    ap.add_argument("--sweep", default="", help="thresholds to try, e.g. 0.3,0.4,0.5")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "answers.json"))
    args = ap.parse_args()
    results = asyncio.run(main_async(args))
    for r in results:
        print_table(r)
    print("rule judge (streaming/eval/judge.py); every question, false premises included")
    out = Path(args.out)
    out.write_text(json.dumps(results, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
