"""Knowledge-graph reasoning over the 190 demo questions: how many get a reasoned answer, by type,
and how the rule judge scores those answers (the rest are left to the plain facts / search).

Typed questions, each with its own ``query_time``; no tools, no latency: ``kg_reason.reason``
alone. Writes benchmarks/results/kg_reason.json (per-type counts and every reasoned sentence).
Usage: python benchmarks/kg_reason.py [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from streaming.eval.judge import judge  # noqa: E402
from tools.corpus import load_documents, load_questions  # noqa: E402
from tools.kg.graph import KnowledgeGraph  # noqa: E402
from tools.kg.reason import reason  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "kg_reason.json"))
    args = ap.parse_args()
    kg = KnowledgeGraph.build(load_documents())
    rows, table, times = [], {}, []
    for q in load_questions():
        t0 = time.perf_counter()
        r = reason(kg, q.query, q.query_time)
        times.append((time.perf_counter() - t0) * 1000)
        t = table.setdefault(q.question_type, Counter(questions=0))
        t["questions"] += 1
        if r is None:
            continue
        v = judge(r.text, q.gold, q.question_type, question=q.query)
        t["reasoned"] += 1
        t[v.outcome] += 1
        rows.append({"id": q.id, "type": q.question_type, "question": q.query, "kind": r.kind,
                     "answer": r.text, "gold": q.answer, "outcome": v.outcome, "reason": v.reason})  # fmt: skip
    total = sum(table.values(), Counter())
    print(f"{'type':<20}{'questions':>10}{'reasoned':>10}{'correct':>9}{'halluc.':>9}")
    for name, t in [*sorted(table.items()), ("all", total)]:
        print(f"{name:<20}{t['questions']:>10}{t['reasoned']:>10}{t['correct']:>9}"
              f"{t['hallucinated']:>9}")  # fmt: skip
    times.sort()
    p50, p90 = times[len(times) // 2], times[int(len(times) * 0.9)]
    print(f"reason() cold per question: P50 {p50:.2f} ms, P90 {p90:.2f} ms")
    out = {"by_type": {k: dict(v) for k, v in table.items()}, "all": dict(total),
           "reason_ms": {"p50": round(p50, 2), "p90": round(p90, 2)}, "answers": rows}  # fmt: skip
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
