"""Stream RAG benchmark: the issue-11 table per strategy, from ``streamrag eval``'s summary.

There is one definition of every figure: this script either runs ``streamrag eval`` on a spoken
manifest (every flag after the manifest goes to it) or reads a finished run's ``results.json``
(``--results``; the committed demo run is benchmarks/results/eval_demo.json), and prints:
end of speech -> first answer audio P50/P90 (client), zero tool wait share, tool wait P50, calls
and wasted calls per turn, preemptive answer commits, the oracle bound's P50 and how far the P50
is above it, and accuracy. Writes the table's figures to benchmarks/results/stream_rag.json.

    python benchmarks/stream_rag.py runs/demo/manifest.jsonl --limit 30
    python benchmarks/stream_rag.py --results benchmarks/results/eval_demo.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from streaming.eval.score import HEADLINE_KEY  # noqa: E402

OUT = Path(__file__).parent / "results" / "stream_rag.json"


def _lat(key: str, q: str) -> Any:
    # runs from before the acknowledgement only know the first audio, which was the answer's
    old = "client_first_audio_ms" if key == HEADLINE_KEY else key
    return lambda x: (x["latency"].get(key) or x["latency"].get(old) or {}).get(q)


ROWS = (  # (label, getter, format)
    ("end of speech -> first answer audio P50 (ms)", _lat(HEADLINE_KEY, "p50"), "{:.0f}"),
    ("end of speech -> first answer audio P90 (ms)", _lat(HEADLINE_KEY, "p90"), "{:.0f}"),
    ("turns with zero tool wait", lambda x: x["zero_wait_share"], "{:.0%}"),
    ("tool wait after final P50 (ms)", _lat("tool_wait_ms", "p50"), "{:.0f}"),
    ("tool wait hidden vs final (P50)", lambda x: x.get("hidden_vs_final_p50"), "{:.0%}"),
    ("answered from several speculative searches", lambda x: x.get("covering_share"), "{:.0%}"),
    ("tool calls per turn", lambda x: x["calls_per_turn"], "{:.2f}"),
    ("wasted calls per turn", lambda x: x["wasted_per_turn"], "{:.2f}"),
    ("hedged calls per turn", lambda x: x.get("hedged_per_turn"), "{:.2f}"),
    ("preemptive answer committed", lambda x: x.get("preempted_share"), "{:.0%}"),
    (
        "discarded preparation CPU per turn (ms)",
        lambda x: x.get("preempt_discarded_cpu_ms_per_turn"),
        "{:.0f}",
    ),  # fmt: skip
    ("oracle bound P50 (ms)", _lat("oracle_first_answer_audio_ms", "p50"), "{:.0f}"),
    ("P50 over the oracle's P50 (server clock)", lambda x: x.get("vs_oracle_p50"), "{:+.0%}"),
    ("accuracy", lambda x: x["accuracy"], "{:.0%}"),
)


def table(summary: dict[str, dict], strategies: list[str]) -> tuple[str, dict[str, dict]]:
    """The printed table and its figures ({strategy: {label: value}}); '-' where unknown."""
    base = (summary.get("final", {}).get("latency", {}).get("tool_wait_ms") or {}).get("p50")
    for s in strategies:  # the share of final's tool wait that speculation hid
        own = (summary[s].get("latency", {}).get("tool_wait_ms") or {}).get("p50")
        hidden = 1 - own / base if base and own is not None else None
        summary[s] = {**summary[s], "hidden_vs_final_p50": hidden}
    figures = {s: {label: get(summary[s]) for label, get, _ in ROWS} for s in strategies}
    lines = [f"{'':<46}" + "".join(f"{s:>16}" for s in strategies)]
    for label, _, fmt in ROWS:
        cells = [figures[s][label] for s in strategies]
        lines.append(
            f"{label:<46}"
            + "".join(f"{fmt.format(v) if v is not None else '-':>16}" for v in cells)
        )
    return "\n".join(lines), figures


def run_eval(manifest: str, eval_args: list[str]) -> Path:
    """``streamrag eval MANIFEST ...``; the path of its results.json."""
    from streaming.cli.main import main as streamrag

    out = next((eval_args[i + 1] for i, a in enumerate(eval_args[:-1]) if a == "--out"), None)
    path = Path(manifest)
    out_dir = Path(out) if out else (path if path.is_dir() else path.parent) / "eval"
    code = streamrag(["eval", manifest, *eval_args])
    if code not in (0, None):
        raise SystemExit(code)
    return out_dir / "results.json"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("manifest", nargs="?", help="a spoken manifest to run `streamrag eval` on")
    ap.add_argument("--results", help="a finished run's results.json (no replay)")
    ap.add_argument("--write", default=str(OUT), help="where the figures go (default %(default)s)")
    args, eval_args = ap.parse_known_args(argv)
    if bool(args.manifest) == bool(args.results):
        ap.error("give a manifest to evaluate or --results of a finished run")
    results_path = Path(args.results) if args.results else run_eval(args.manifest, eval_args)
    results = json.loads(results_path.read_text())
    strategies = [s for s in results["meta"].get("strategies", results["summary"])
                  if s in results["summary"]]  # fmt: skip
    text, figures = table(results["summary"], strategies)
    meta = results["meta"]
    print(f"{meta.get('clips', '?')} spoken questions from {meta.get('manifest', '?')}; "
          f"server {meta.get('server', {})}")  # fmt: skip
    print(text)
    Path(args.write).write_text(
        json.dumps({"source": str(results_path), "meta": meta, "figures": figures}, indent=1) + "\n"
    )
    print(f"wrote {args.write}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
