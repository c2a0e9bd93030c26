"""Stream RAG benchmark: the same spoken questions through `final`, `fixed-interval` and
`triggered` in one run, against tools with fixed latency profiles.

For each strategy: tool wait after the final transcript (P50/P90) and the share of turns with
zero wait, end of user speech -> first audio (P50/P90, measured at the client), calls per turn,
wasted and cancelled calls, the reuse error rate (a reused result differing from what the final
query returns; every reuse is audited), and answer accuracy (gold fact in the spoken answer).
Questions are interleaved across strategies so that all three see the same machine state.
Writes benchmarks/results/stream_rag.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.answers import contains_gold  # noqa: E402
from streaming.client.connection import VoiceClient  # noqa: E402
from streaming.server.app import bound_port, start_server  # noqa: E402
from streaming.server.config import Config  # noqa: E402
from streaming.server.engine import Engine  # noqa: E402
from tools.corpus import load_questions  # noqa: E402
from voice.audio import resample  # noqa: E402

STRATEGIES = ["final", "fixed-interval", "triggered"]
ZERO_WAIT_MS = 10.0  # below this the user did not wait for a tool (local bookkeeping only)


def pct(values, q):
    return float(np.percentile(values, q)) if values else float("nan")


def pick_questions(n: int):
    qs = [q for q in load_questions() if q.question_type != "false_premise"]
    qs.sort(key=lambda q: (q.id.split("-q")[-1], q.domain))
    return qs[:n]


def summarize(rows: list[dict]) -> dict:
    waits = [r["tool_wait_ms"] for r in rows]
    e2e = [r["client_ms"] for r in rows if r["client_ms"] is not None]
    reused = [r for r in rows if r["reuse"] not in (None, "fresh")]
    return {
        "turns": len(rows),
        "tool_wait_p50": pct(waits, 50),
        "tool_wait_p90": pct(waits, 90),
        "zero_wait_share": sum(w < ZERO_WAIT_MS for w in waits) / len(rows),
        "speech_end_to_audio_p50": pct(e2e, 50),
        "speech_end_to_audio_p90": pct(e2e, 90),
        "calls_per_turn": float(np.mean([r["calls"] for r in rows])),
        "wasted_per_turn": float(np.mean([r["wasted"] for r in rows])),
        "cancelled_per_turn": float(np.mean([r["cancelled"] for r in rows])),
        "reuse_share": len(reused) / len(rows),
        "reuse_error_rate": (sum(bool(r["reuse_differs"]) for r in reused) / len(reused))
        if reused
        else 0.0,
        "accuracy": sum(r["correct"] for r in rows) / len(rows),
    }


async def main_async(args) -> dict:
    config = Config.from_env(
        search_latency=args.search_latency, kg_latency=args.kg_latency, seed=args.seed
    )
    engine = Engine.load(config)
    engine.warm_up()
    questions = pick_questions(args.n)
    clips = []
    for q in tqdm(questions, desc="speech", file=sys.stderr):
        audio = resample(engine.tts.synthesize(q.query), engine.tts.rate, 16000)
        clips.append((q, np.concatenate([np.zeros(8000, np.float32), audio])))
    runner = await start_server(engine, "127.0.0.1", 0)
    url = f"ws://127.0.0.1:{bound_port(runner)}/ws"
    rows: dict[str, list[dict]] = {s: [] for s in args.strategies}
    try:
        clients = {
            s: VoiceClient(url, options={"strategy": s, "audit": True}) for s in args.strategies
        }
        for c in clients.values():
            await c.__aenter__()
        for q, audio in tqdm(clips, desc="turns", file=sys.stderr):
            for strategy, client in clients.items():
                log = await client.ask_audio(audio, trailing_silence_s=1.0, timeout=120)
                m = log.first("turn_metrics")["metrics"]
                rows[strategy].append(
                    {
                        "id": q.id,
                        "question": q.query,
                        "final": log.first("final")["text"],
                        "answer": m["answer"],
                        "correct": contains_gold(m["answer"], q.gold),
                        "client_ms": log.speech_end_to_first_audio_ms,
                        **{
                            k: m.get(k)
                            for k in (
                                "tool_wait_ms",
                                "calls",
                                "speculative_calls",
                                "cancelled",
                                "wasted",
                                "reuse",
                                "reuse_differs",
                                "first_audio_ms",
                                "asr_final_ms",
                            )
                        },
                    }
                )
        for c in clients.values():
            await c.__aexit__(None, None, None)
    finally:
        await runner.cleanup()
    return {s: {"summary": summarize(r), "turns": r} for s, r in rows.items()}


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--n", type=int, default=60)
    ap.add_argument("--strategies", default=",".join(STRATEGIES))
    ap.add_argument("--search-latency", default="lognormal:median=0.8,p90=2.0")
    ap.add_argument("--kg-latency", default="lognormal:median=0.8,p90=1.6")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "stream_rag.json"))
    args = ap.parse_args()
    args.strategies = args.strategies.split(",")
    t0 = time.time()
    results = asyncio.run(main_async(args))
    print(
        f"\n{args.n} spoken questions (piper joe, real-time), search latency {args.search_latency}, "
        f"knowledge-graph latency {args.kg_latency}"
    )
    rows = [
        ("tool wait after final transcript P50 (ms)", "tool_wait_p50", "{:.0f}"),
        ("tool wait after final transcript P90 (ms)", "tool_wait_p90", "{:.0f}"),
        ("turns with zero tool wait", "zero_wait_share", "{:.0%}"),
        ("end of speech -> first audio P50 (ms)", "speech_end_to_audio_p50", "{:.0f}"),
        ("end of speech -> first audio P90 (ms)", "speech_end_to_audio_p90", "{:.0f}"),
        ("tool calls per turn", "calls_per_turn", "{:.2f}"),
        ("wasted calls per turn", "wasted_per_turn", "{:.2f}"),
        ("cancelled calls per turn", "cancelled_per_turn", "{:.2f}"),
        ("turns answered from a speculative call", "reuse_share", "{:.0%}"),
        ("reuse error rate", "reuse_error_rate", "{:.1%}"),
        ("accuracy (gold fact in answer)", "accuracy", "{:.0%}"),
    ]
    print(f"{'':<44}" + "".join(f"{s:>16}" for s in args.strategies))
    for label, key, fmt in rows:
        print(
            f"{label:<44}"
            + "".join(f"{fmt.format(results[s]['summary'][key]):>16}" for s in args.strategies)
        )
    base = results.get("final", {}).get("summary")
    if base:
        for s in args.strategies:
            if s != "final" and base["tool_wait_p50"] > 0:
                cut = 1 - results[s]["summary"]["tool_wait_p50"] / base["tool_wait_p50"]
                print(f"{s}: tool wait P50 {cut:.0%} lower than final")
    meta = {"args": vars(args), "seconds": round(time.time() - t0)}
    Path(args.out).write_text(json.dumps({"meta": meta, "results": results}, indent=1))
    print(f"wrote {args.out} in {time.time() - t0:.0f}s")


if __name__ == "__main__":
    main()
