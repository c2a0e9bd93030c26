"""Answer quality without audio: retrieval + answerer over the demo QA set, per backend.

Prints, per backend, the share of answers containing a gold answer, the "I don't know" share,
time to the first sentence, and the CRAG score of the rule judge (accuracy, hallucination, score
over every question, false premises included); writes benchmarks/results/answers.json.
Usage: python benchmarks/answers.py [--backends llama,extractive] [--limit N] [--out FILE]
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

from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from streaming.answer.answerer import Answerer  # noqa: E402
from streaming.answer.llm import make_backend  # noqa: E402
from streaming.eval.judge import Verdict, judge, score  # noqa: E402
from streaming.server.config import Config  # noqa: E402
from tools.corpus import load_documents, load_questions  # noqa: E402
from tools.search import Bm25Index  # noqa: E402


def norm(s: str) -> str:
    return re.sub(r"[^a-z0-9 ]", "", s.lower().replace(",", ""))


def contains_gold(answer: str, gold: list[str]) -> bool:
    return any(norm(g) and norm(g) in norm(answer) for g in gold)


async def run(backend_name: str, questions, index) -> dict:
    backend = make_backend(Config(llm_backend=backend_name))
    answerer = Answerer(backend)
    rows = []
    for q in tqdm(questions, desc=backend_name, file=sys.stderr):
        hits = index.search(q.query, 3)
        t0 = time.perf_counter()
        first, sentences = None, []
        async for s in answerer.answer(q.query, hits):
            first = first or (time.perf_counter() - t0) * 1000
            sentences.append(s)
        text = " ".join(s.text for s in sentences)
        rows.append(
            {
                "id": q.id,
                "type": q.question_type,
                "answer": text,
                "source": sentences[0].source,
                "gold": contains_gold(text, q.gold),
                "outcome": judge(text, q.gold, q.question_type).outcome,
                "first_ms": first,
            }
        )
    n = len(rows)
    answerable = [r for r in rows if r["type"] != "false_premise"]
    return {
        "crag": score([Verdict(r["outcome"], "") for r in rows]),
        "backend": backend_name,
        "n": n,
        "gold_share": sum(r["gold"] for r in answerable) / len(answerable),
        "idk_share": sum(r["source"] == "idk" for r in rows) / n,
        "llm_share": sum(r["source"] == "llm" for r in rows) / n,
        "first_sentence_p50_ms": statistics.median(r["first_ms"] for r in rows),
        "rows": rows,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backends", default="llama,extractive")
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "answers.json"))
    args = ap.parse_args()
    questions = load_questions()
    questions = questions[: args.limit] if args.limit else questions
    index = Bm25Index(load_documents())
    results = [asyncio.run(run(b, questions, index)) for b in args.backends.split(",")]
    print(f"\n{'backend':<12}{'n':>5}{'gold':>8}{'idk':>8}{'llm used':>10}{'first p50':>11}"
          f"{'accuracy':>10}{'halluc.':>9}{'score':>8}")  # fmt: skip
    for r in results:
        c = r["crag"]
        print(
            f"{r['backend']:<12}{r['n']:>5}{r['gold_share']:>8.0%}{r['idk_share']:>8.0%}"
            f"{r['llm_share']:>10.0%}{r['first_sentence_p50_ms']:>9.0f}ms"
            f"{c['accuracy']:>10.1%}{c['hallucination']:>9.1%}{c['score']:>8.1%}"
        )
    print("gold: answerable questions whose answer contains a gold answer; the CRAG columns "
          "cover every question, false premises included")  # fmt: skip
    out = Path(args.out)
    out.write_text(json.dumps(results, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
