"""Latency of the voice loop: spoken demo questions replayed at real-time pace into the server.

For each answer backend (side by side, same audio, same run) it reports P50/P90 of every stage
from ``turn_metrics`` and, measured at the client, the user's last voiced sample -> first answer
audio byte. Writes benchmarks/results/latency.json.

Usage: python benchmarks/latency.py [--n 24] [--backends extractive,llama] [--strategy final]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from streaming.answer.answerer import Answerer  # noqa: E402
from streaming.answer.llm import make_backend  # noqa: E402
from streaming.client.connection import VoiceClient  # noqa: E402
from streaming.server.app import bound_port, start_server  # noqa: E402
from streaming.server.config import Config  # noqa: E402
from streaming.server.engine import Engine  # noqa: E402
from tools.corpus import load_questions  # noqa: E402
from voice.audio import resample  # noqa: E402

STAGES = [
    ("end_of_turn_wait_ms", "VAD end-of-turn wait"),
    ("asr_final_ms", "end of turn -> final transcript"),
    ("retrieval_ms", "final -> evidence (tool wait)"),
    ("llm_first_sentence_ms", "evidence -> first sentence"),
    ("first_audio_ms", "end of turn -> first audio sent"),
    ("client_speech_end_to_first_audio_ms", "LAST VOICED SAMPLE -> FIRST AUDIO (client)"),
]


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def pick_questions(n: int):
    """A deterministic spread over domains and question types."""
    qs = [q for q in load_questions() if q.question_type != "false_premise"]
    qs.sort(key=lambda q: (q.id.split("-q")[-1], q.domain))
    return qs[:n]


async def replay(url: str, clips, desc: str, options: dict) -> list[dict]:
    rows = []
    async with VoiceClient(url, options=options) as client:
        for q, audio in tqdm(clips, desc=desc, file=sys.stderr):
            log = await client.ask_audio(audio, trailing_silence_s=1.5, timeout=90)
            m = dict(log.first("turn_metrics")["metrics"])
            m["client_speech_end_to_first_audio_ms"] = log.speech_end_to_first_audio_ms
            m["question"], m["final"] = q.query, log.first("final")["text"]
            rows.append(m)
    return rows


def summarize(rows: list[dict]) -> dict:
    out = {}
    for key, _ in STAGES:
        vals = [r[key] for r in rows if r.get(key) is not None]
        out[key] = {"p50": pct(vals, 50), "p90": pct(vals, 90), "n": len(vals)}
    reused = [r["tentative_final_reused"] for r in rows]
    out["tentative_final_reused_share"] = sum(bool(x) for x in reused) / max(1, len(reused))
    out["preempted_share"] = sum(bool(r.get("preempted")) for r in rows) / max(1, len(rows))
    return out


async def main_async(args) -> dict:
    base = Engine.load(
        Config(
            llm_backend="extractive",
            asr_model=args.asr_model,
            search_latency=args.search_latency,
            kg_latency=args.kg_latency,
            seed=args.seed,
        )
    )
    base.warm_up()
    questions = pick_questions(args.n)
    clips = []
    for q in questions:
        audio = resample(base.tts.synthesize(q.query), base.tts.rate, 16000)
        clips.append((q, np.concatenate([np.zeros(8000, np.float32), audio])))
    results = {}
    for backend in args.backends.split(","):
        llm = make_backend(base.config.replace(llm_backend=backend))
        engine = dataclasses.replace(
            base,
            config=base.config.replace(llm_backend=backend),
            llm=llm,
            answerer=Answerer(
                llm, base.config.min_answer_confidence, base.config.max_answer_tokens
            ),
        )
        if llm is not None and hasattr(llm, "llm"):
            await engine.answerer.answer("warm up", []).__anext__()
        runner = await start_server(engine, "127.0.0.1", 0)
        try:
            url = f"ws://127.0.0.1:{bound_port(runner)}/ws"
            for preemptive in args.preemptive.split(","):
                label = backend if args.preemptive == "on" else f"{backend}/preempt-{preemptive}"
                options = {"strategy": args.strategy, "preemptive": preemptive == "on"}
                rows = await replay(url, clips, label, options)
                results[label] = {"summary": summarize(rows), "turns": rows}
        finally:
            await runner.cleanup()
    return results


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--n", type=int, default=24)
    ap.add_argument("--backends", default="extractive,llama")
    ap.add_argument("--strategy", default="final")
    ap.add_argument("--search-latency", default="none")
    ap.add_argument("--kg-latency", default="none")
    ap.add_argument("--preemptive", default="on", help="on | off | on,off (both, side by side)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--asr-model", default="base")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "latency.json"))
    args = ap.parse_args()
    t0 = time.time()
    results = asyncio.run(main_async(args))
    backends = list(results)
    print(
        f"\n{args.n} spoken questions, piper joe voice, real-time replay, ASR {args.asr_model}, "
        f"strategy {args.strategy}, search latency {args.search_latency}, KG latency {args.kg_latency}"
    )
    header = f"{'stage (ms)':<46}" + "".join(f"{b + ' P50':>14}{b + ' P90':>14}" for b in backends)
    print(header + "\n" + "-" * len(header))
    for key, label in STAGES:
        cells = "".join(
            f"{results[b]['summary'][key]['p50']:>14.0f}{results[b]['summary'][key]['p90']:>14.0f}"
            for b in backends
        )
        print(f"{label:<46}{cells}")
    for b in backends:
        summary = results[b]["summary"]
        print(
            f"{b}: tentative final reused on {summary['tentative_final_reused_share']:.0%} of turns, "
            f"answer prepared before end of turn on {summary['preempted_share']:.0%}"
        )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "machine": platform.processor() or platform.machine(),
        "args": vars(args),
        "seconds": time.time() - t0,
    }
    Path(args.out).write_text(json.dumps({"meta": meta, "results": results}, indent=1))
    print(f"wrote {args.out} in {time.time() - t0:.0f}s")


if __name__ == "__main__":
    main()
