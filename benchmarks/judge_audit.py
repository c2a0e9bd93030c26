"""Audit the rule judge against hand labels: agreement overall and by question type, a confusion
matrix, and every disagreement.

The labels (``benchmarks/judge_audit/labels.jsonl``, one judged answer per line: id, source,
question_type, question, gold, prediction, label, note) were written by reading each answer; see
``benchmarks/judge_audit/README.md`` for the rubric. Writes benchmarks/results/judge_audit.json.
Usage: python benchmarks/judge_audit.py [--labels FILE] [--judge PATH_TO_judge.py] [--out FILE]
(``--judge`` audits another version of the judge, e.g. ``git show HEAD:streaming/eval/judge.py``.)
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from streaming.eval import judge as judge_module  # noqa: E402

HERE = Path(__file__).resolve().parent
OUTCOMES = ("correct", "missing", "hallucinated")


def load_judge(path: str | None):
    if not path:
        return judge_module.judge
    spec = importlib.util.spec_from_file_location("audited_judge", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module.judge


def verdict(judge, row: dict):
    try:
        return judge(row["prediction"], row["gold"], row["question_type"], question=row["question"])
    except TypeError:  # an older judge without the question
        return judge(row["prediction"], row["gold"], row["question_type"])


def audit(rows: list[dict], judge) -> dict:
    confusion: dict[str, Counter] = {label: Counter() for label in OUTCOMES}
    by_type: dict[str, list[bool]] = defaultdict(list)
    by_source: dict[str, list[bool]] = defaultdict(list)
    disagreements = []
    for row in rows:
        v = verdict(judge, row)
        ok = v.outcome == row["label"]
        confusion[row["label"]][v.outcome] += 1
        by_type[row["question_type"]].append(ok)
        by_source[row["source"]].append(ok)
        if not ok:
            disagreements.append({**row, "judge": v.outcome, "reason": v.reason})
    agree = len(rows) - len(disagreements)

    def share(xs: list[bool]) -> dict:
        return {"n": len(xs), "agree": sum(xs), "agreement": round(sum(xs) / len(xs), 4)}

    return {
        "n": len(rows),
        "agree": agree,
        "agreement": round(agree / len(rows), 4) if rows else 0.0,
        "by_type": {k: share(v) for k, v in sorted(by_type.items())},
        "by_source": {k: share(v) for k, v in sorted(by_source.items())},
        "confusion": {label: dict(confusion[label]) for label in OUTCOMES},
        "labels": dict(Counter(r["label"] for r in rows)),
        "disagreements": disagreements,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--labels", default=str(HERE / "judge_audit" / "labels.jsonl"))
    ap.add_argument("--judge", default=None, help="path of another judge.py to audit")
    ap.add_argument("--out", default=str(HERE / "results" / "judge_audit.json"))
    args = ap.parse_args()
    rows = [json.loads(line) for line in Path(args.labels).read_text().splitlines() if line.strip()]
    result = audit(rows, load_judge(args.judge))
    result["judge"] = args.judge or "streaming/eval/judge.py"
    print(f"agreement {result['agreement']:.1%} ({result['agree']}/{result['n']})")
    for name in ("by_type", "by_source"):
        for k, s in result[name].items():
            print(f"  {k:<20}{s['agree']:>4}/{s['n']:<4}{s['agreement']:>8.1%}")
    print("confusion (rows: my label, columns: judge)")
    print(f"  {'':<14}" + "".join(f"{o:>14}" for o in OUTCOMES))
    for label in OUTCOMES:
        row = result["confusion"][label]
        print(f"  {label:<14}" + "".join(f"{row.get(o, 0):>14}" for o in OUTCOMES))
    for d in result["disagreements"]:
        print(f"- {d['source']}/{d['id']} label {d['label']}, judge {d['judge']} ({d['reason']}): "
              f"{d['prediction'][:110]}")  # fmt: skip
    out = Path(args.out)
    out.write_text(json.dumps(result, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
