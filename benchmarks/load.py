"""Load and soak: spoken questions in N concurrent sessions against one real server.

``python benchmarks/load.py`` replays piper-spoken demo questions (deterministic voice) in rounds
of N = 1, 2, 4, 8 sessions that all speak at once, through the real websocket, and reports end of
speech → first audio (the client's figure) P50 / P90 / worst per N, errors and refused sessions
(``server_busy``). ``--soak-min M`` then keeps N = ``--soak-n`` sessions busy for M minutes and
reports this process's RSS slope (MB/min, least squares over the samples after the first round,
and over the second half alone, after the caches filled) and that the server's open session
count returns to 0. ``--tracemalloc`` also prints the allocation sites that grew most between
the end of the first quarter of the soak and its end. Writes benchmarks/results/load.json.
The server runs in this process (the RSS is the server's, plus the clients'); the clients keep
only (latency, error codes) per turn, so what grows is the server's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import tracemalloc
from pathlib import Path

import numpy as np
from tqdm import tqdm

from streaming.client.connection import VoiceClient
from streaming.server.app import SESSIONS, bound_port, start_server
from streaming.server.config import Config
from streaming.server.engine import Engine
from tools.corpus import load_questions
from voice.audio import resample

OUT = Path(__file__).parent / "results" / "load.json"
PAGE = 4096


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE / 2**20


async def one_turn(url: str, audio: np.ndarray) -> tuple[float | None, list[str]]:
    """(end of speech → first audio ms or None, error codes) of one spoken question."""
    try:
        async with VoiceClient(url) as client:
            log = await client.ask_audio(audio, trailing_silence_s=1.5, timeout=120)
    except Exception as exc:  # a refused or broken session is a result here, not a crash
        return None, [f"{type(exc).__name__}"]
    errors = [e["code"] for e in log.events if e["type"] == "error"]
    return log.speech_end_to_first_audio_ms, errors


async def round_of(url: str, clips: list[np.ndarray], n: int, offset: int) -> list:
    picks = [clips[(offset + i) % len(clips)] for i in range(n)]
    return await asyncio.gather(*(one_turn(url, a) for a in picks))


def summarize(results: list) -> dict:
    lat = np.array([ms for ms, errs in results if ms is not None and not errs])
    codes = [c for _, errs in results for c in errs]
    return {
        "turns": len(results),
        "p50_ms": round(float(np.percentile(lat, 50)), 1) if lat.size else None,
        "p90_ms": round(float(np.percentile(lat, 90)), 1) if lat.size else None,
        "worst_ms": round(float(lat.max()), 1) if lat.size else None,
        "errors": sum(1 for c in codes if c != "server_busy"),
        "refused": codes.count("server_busy"),
        "error_codes": sorted(set(codes)),
    }


async def main(args: argparse.Namespace) -> None:
    config = Config.from_env(max_sessions=args.max_sessions)
    engine = await asyncio.to_thread(Engine.load, config)
    await asyncio.to_thread(engine.warm_up)
    qs = [q for q in load_questions() if q.question_type != "false_premise"][: args.questions]
    clips = []
    for q in qs:
        raw = engine.tts.synthesize_exact(q.query)
        clips.append(
            np.concatenate([np.zeros(8000, np.float32), resample(raw, engine.tts.rate, 16000)])
        )
    runner = await start_server(engine, "127.0.0.1", 0)
    url = f"ws://127.0.0.1:{bound_port(runner)}/ws"
    report: dict = {"config": {"max_sessions": args.max_sessions, "rounds": args.rounds,
                               "search_latency": config.search_latency}}  # fmt: skip
    try:
        table = {}
        workers = {"final": engine.asr.worker, "partial": (engine.partial_asr or engine.asr).worker}
        for n in args.n:
            results, before = [], {k: (w.batched, sum(w.runs.values())) for k, w in workers.items()}
            for r in tqdm(range(args.rounds), desc=f"N={n}", leave=False):
                results += await round_of(url, clips, n, r * n)
            table[n] = summarize(results)
            for k, w in workers.items():  # decodes that ran in a batch of two or more
                batched, runs = w.batched - before[k][0], sum(w.runs.values()) - before[k][1]
                table[n][f"{k}_asr_batched_share"] = round(batched / max(1, runs), 3)
        report["load"] = table
        base = table[args.n[0]]["p50_ms"]
        print(
            f"{'N':>3} {'turns':>5} {'P50':>7} {'P90':>7} {'worst':>7} {'xN=1':>5} errors refused"
        )
        for n, row in table.items():
            ratio = row["p50_ms"] / base if row["p50_ms"] and base else float("nan")
            print(f"{n:>3} {row['turns']:>5} {row['p50_ms']!s:>7} {row['p90_ms']!s:>7} "
                  f"{row['worst_ms']!s:>7} {ratio:>5.2f} {row['errors']:>6} {row['refused']:>7}")  # fmt: skip
        if args.soak_min > 0:
            report["soak"] = await soak(runner.app, url, clips, args)
    finally:
        await runner.cleanup()
    args.out.parent.mkdir(exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))
    print(f"wrote {args.out}")


def slope(samples: list[tuple[float, float]]) -> float:
    """Least-squares MB/min of (minutes, MB) samples; nan for fewer than two."""
    if len(samples) < 2:
        return float("nan")
    minutes, rss = np.array(samples).T
    return float(np.polyfit(minutes, rss, 1)[0])


def growth(before: tracemalloc.Snapshot, after: tracemalloc.Snapshot, top: int) -> list[str]:
    """The ``top`` allocation sites (innermost frames) that grew most from ``before``."""
    stats = after.compare_to(before, "traceback")
    lines = []
    for stat in stats[:top]:
        where = " <- ".join(f"{f.filename.split('site-packages/')[-1]}:{f.lineno}"
                            for f in stat.traceback[:4])  # fmt: skip
        lines.append(f"{stat.size_diff / 2**20:+8.2f} MB {stat.count_diff:+7d} blocks  {where}")
    return lines


async def soak(app, url: str, clips: list[np.ndarray], args: argparse.Namespace) -> dict:
    t0, samples, results, r = time.monotonic(), [], [], 0
    end = t0 + 60 * args.soak_min
    if args.tracemalloc:
        tracemalloc.start(8)
    early = None
    with tqdm(total=int(60 * args.soak_min), desc=f"soak N={args.soak_n}", unit="s") as bar:
        while time.monotonic() < end:
            results += await round_of(url, clips, args.soak_n, r * args.soak_n)
            r += 1
            samples.append(((time.monotonic() - t0) / 60, rss_mb()))
            if args.tracemalloc and early is None and samples[-1][0] >= args.soak_min / 4:
                early = tracemalloc.take_snapshot()
            bar.n = min(int(time.monotonic() - t0), bar.total)
            bar.refresh()
    for _ in range(200):  # sessions close after their last event: bounded wait for the count
        if not app[SESSIONS]:
            break
        await asyncio.sleep(0.05)
    late = samples[len(samples) // 2 :]
    out = {
        "minutes": round(float(samples[-1][0]), 2),
        "rounds": r,
        "rss_start_mb": round(samples[0][1], 1),
        "rss_end_mb": round(samples[-1][1], 1),
        "rss_slope_mb_per_min": round(slope(samples[1:] or samples), 2),
        "rss_slope_second_half_mb_per_min": round(slope(late), 2),
        # per turn: MB/min depends on how fast a busy box gets through the rounds, this does not
        "rss_second_half_mb_per_turn": round(
            (late[-1][1] - late[0][1]) / max(1, (len(late) - 1) * args.soak_n), 3
        ),
        "rss_samples": [(round(m, 3), round(mb, 1)) for m, mb in samples],
        "open_sessions_after": len(app[SESSIONS]),
        **summarize(results),
    }
    if args.tracemalloc:
        final = tracemalloc.take_snapshot()
        traced, _ = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        out["traced_mb_end"] = round(traced / 2**20, 1)
        if early is not None:
            print("tracemalloc: sites that grew most since the first quarter of the soak")
            out["tracemalloc_growth"] = growth(early, final, args.tracemalloc)
            print("\n".join(out["tracemalloc_growth"]))
    shown = {k: v for k, v in out.items() if k not in ("tracemalloc_growth", "rss_samples")}
    print("soak:", json.dumps(shown))
    return out


if __name__ == "__main__":
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--n", type=lambda s: [int(x) for x in s.split(",")], default=[1, 2, 4, 8])
    p.add_argument("--rounds", type=int, default=4, help="rounds per N (N turns each)")
    p.add_argument("--questions", type=int, default=12)
    p.add_argument(
        "--max-sessions", type=int, default=64, help="above every N: measure, not refuse"
    )
    p.add_argument("--soak-min", type=float, default=0.0, help="soak minutes after the table")
    p.add_argument("--soak-n", type=int, default=4, help="concurrent sessions in the soak")
    p.add_argument("--out", type=Path, default=OUT)
    p.add_argument("--tracemalloc", type=int, default=0, metavar="TOP",
                   help="trace Python allocations in the soak; print the TOP growing sites")  # fmt: skip
    asyncio.run(main(p.parse_args()))
