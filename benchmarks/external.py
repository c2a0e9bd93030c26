"""Typed answers on question sets no one here wrote (``../shared/qa``, ``../shared/crag``).

Each question goes through the same path as a typed turn (a ``Lookup`` with strategy ``final``,
then the answerer) and is scored the CRAG way by the rule judge, plus exact match and token F1
of the answer (as HotpotQA and NQ report them; our answers are sentences, so EM is low by
construction). Every set is split in two by a stable hash of the question id: the *tune* half
may be looked at and tuned on, the *report* half is what a closing note quotes; never put a
report-half question in a test, a rule or a word list.

Sets (``--sets``, comma-separated):
- ``hotpot-task1``: HotpotQA distractor, each question over its own 10 paragraphs;
- ``hotpot-pool``: the same questions over the 994-paragraph pool (retrieval needed);
- ``crag-pages``: the 25 real CRAG questions (10 official examples, subset15), each over its
  own pages;
- ``nq``: NQ-open dev against the server's own tools (most answers are not in the corpus: "I
  don't know" is right there, so hallucination is the figure that matters).
Usage: python benchmarks/external.py [--sets ...] [--limit N] [--out FILE]
Writes benchmarks/results/external.json.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import re
import statistics
import string
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from streaming.answer.answerer import Answerer  # noqa: E402
from streaming.eval.crag import load_crag  # noqa: E402
from streaming.eval.judge import judge, score  # noqa: E402
from streaming.rag.lookup import Lookup  # noqa: E402
from streaming.server.config import Config  # noqa: E402
from tools.corpus import Document, Question  # noqa: E402
from tools.plugins.search import SearchTool  # noqa: E402
from tools.search.bm25 import Bm25Index, LocalSearchTool  # noqa: E402
from tools.search.evidence import evidence_documents  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared"
SETS = ("hotpot-task1", "hotpot-pool", "crag-pages", "nq")


def half(question_id: str) -> str:
    """ "tune" or "report", by a stable hash of the id (the same split in every run)."""
    return "tune" if hashlib.sha1(question_id.encode()).digest()[0] % 2 == 0 else "report"


# --- EM and token F1 as SQuAD / HotpotQA / NQ compute them -----------------------------------
def _squad_normalize(text: str) -> str:
    text = "".join(c for c in text.lower() if c not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def exact_match(prediction: str, golds: list[str]) -> float:
    return float(any(_squad_normalize(prediction) == _squad_normalize(g) for g in golds))


def token_f1(prediction: str, golds: list[str]) -> float:
    def f1(gold: str) -> float:
        p, g = _squad_normalize(prediction).split(), _squad_normalize(gold).split()
        common = sum((Counter(p) & Counter(g)).values())
        if not common:
            return 0.0
        precision, recall = common / len(p), common / len(g)
        return 2 * precision * recall / (precision + recall)

    return max((f1(g) for g in golds), default=0.0)


# --- the sets --------------------------------------------------------------------------------
def _hotpot_rows() -> list[dict]:
    return json.loads((SHARED / "qa" / "hotpotqa" / "questions.json").read_text())


def _paragraph(title: str, sentences: list[str], i: int) -> Document:
    return Document(f"p{i}", title, " ".join(s.strip() for s in sentences))


def hotpot(pool: bool) -> list[tuple[Question, Bm25Index]]:
    rows = _hotpot_rows()
    shared = None
    if pool:
        corpus = json.loads((SHARED / "qa" / "hotpotqa" / "corpus.json").read_text())
        docs = [_paragraph(t, s, i) for i, (t, s) in enumerate(corpus.items())]
        shared = Bm25Index(docs)
    out = []
    for row in rows:
        q = Question(row["_id"], row["question"], row["answer"], [row["answer"]],
                     "comparison" if row.get("type") == "comparison" else "multi-hop")  # fmt: skip
        index = shared or Bm25Index(
            [_paragraph(t, s, i) for i, (t, s) in enumerate(row["context"])]
        )
        out.append((q, index))
    return out


def crag_pages() -> list[tuple[Question, Bm25Index]]:
    questions = load_crag(SHARED / "crag" / "dev_data.jsonl.bz2")
    questions += load_crag(SHARED / "crag" / "subset15" / "questions.jsonl")
    return [(q, Bm25Index(docs)) for q in questions if (docs := evidence_documents(q))]


def nq() -> list[Question]:
    rows = [json.loads(line) for line in (SHARED / "qa" / "nq_open" / "NQ-open.dev.jsonl").open()]
    ids = [hashlib.sha1(r["question"].encode()).hexdigest()[:12] for r in rows]
    return [Question(i, r["question"], r["answer"][0], r["answer"], "simple") for i, r in zip(ids, rows, strict=True)]  # fmt: skip


# --- running ---------------------------------------------------------------------------------
async def answer(question: Question, tools: dict, answerer: Answerer) -> tuple[str, float]:
    lookup = Lookup(tools, lambda _event: None, "final", deadline_s=30)
    t0 = time.perf_counter()
    hits = (await lookup.resolve(question.query, 0)).hits
    lookup.close()
    text = " ".join([s.text async for s in answerer.answer(question.query, hits)])
    return text, (time.perf_counter() - t0) * 1000


async def server_tools(config: Config):  # type: ignore[no-untyped-def]
    """NQ: the server's own tools (search and the knowledge graph), no simulated latency."""
    from benchmarks.answers import toolset

    ts = await toolset(config)
    return ts, (await ts.for_session()).tools


async def run_set(
    name: str, limit: int, answerer: Answerer, k: int, knowledge: str = Config.knowledge
) -> list[dict]:
    if name == "nq":
        config = Config(search_url="local", kg_latency="none", knowledge=knowledge)
        ts, tools = await server_tools(config)
        items = [(q, None) for q in nq()]
    else:
        ts = None
        items = hotpot(name == "hotpot-pool") if name.startswith("hotpot") else crag_pages()
    rows = []
    for q, index in items[: limit or None]:
        if index is not None:
            tools = {"search": SearchTool(LocalSearchTool(index, k))}
        text, ms = await answer(q, tools, answerer)
        verdict = judge(text, q.gold, q.question_type, question=q.query)
        rows.append({
            "id": q.id, "half": half(q.id), "question": q.query, "gold": q.gold,
            "answer": text, "outcome": verdict.outcome, "reason": verdict.reason,
            "em": exact_match(text, q.gold), "f1": token_f1(text, q.gold), "ms": ms,
        })  # fmt: skip
    if ts is not None:
        await ts.close()
    return rows


def summary(rows: list[dict]) -> dict:
    from streaming.eval.judge import Verdict

    s = score([Verdict(r["outcome"], "") for r in rows])
    s["em"] = round(statistics.fmean(r["em"] for r in rows), 4) if rows else 0.0
    s["f1"] = round(statistics.fmean(r["f1"] for r in rows), 4) if rows else 0.0
    s["counts"] = dict(Counter(r["outcome"] for r in rows))
    return s


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sets", default=",".join(SETS))
    ap.add_argument("--limit", type=int, default=0, help="first N questions of each set")
    ap.add_argument("--top-k", type=int, default=3)
    ap.add_argument("--knowledge", default=Config.knowledge, help="packs for nq (Config)")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "external.json"))
    args = ap.parse_args()
    if not SHARED.is_dir():
        sys.exit(f"no {SHARED}: the external sets are not here")
    answerer = Answerer(None)
    results = {}
    print(f"{'set':14} {'half':7} {'n':>5} {'correct':>8} {'wrong':>6} {'idk':>5} "
          f"{'score':>7} {'EM':>6} {'F1':>6}")  # fmt: skip
    for name in args.sets.split(","):
        rows = asyncio.run(run_set(name, args.limit, answerer, args.top_k, args.knowledge))
        results[name] = {"rows": rows}
        for part in ("tune", "report", "all"):
            chosen = [r for r in rows if part == "all" or r["half"] == part]
            s = summary(chosen)
            results[name][part] = s
            c = s["counts"]
            print(f"{name:14} {part:7} {s['n']:5} {c.get('correct', 0):8} "
                  f"{c.get('hallucinated', 0):6} {c.get('missing', 0):5} {s['score']:+7.1%} "
                  f"{s['em']:6.1%} {s['f1']:6.1%}")  # fmt: skip
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1))
    print(f"rule judge; halves by sha1(id); wrote {out}")


if __name__ == "__main__":
    main()
