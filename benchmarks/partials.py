"""Partial latency: how soon a spoken word shows up in a partial hypothesis, at two settings.

Spoken demo questions (piper joe, as in benchmarks/latency.py) are streamed at real-time pace
(the client sleeps to the wall clock, 20 ms chunks) through the real server over a websocket,
once per setting, alternating per question so background load hits both alike. Each word's end
in the audio comes from faster-whisper word timestamps (base, ``word_timestamps=True``, the whole
clip); its wall time is when the client sent that sample. A word's *partial latency* is the time
from then to the first partial event (stable + tail) that contains it (normalized words, close
spellings accepted, aligned in order). Also reported: the cadence (time between partials, and
the audio between them), the partial model's decode time (from its worker), the share of words
that any partial reached, the last partial's WER and the final transcript's WER against the
question text.

Settings: (a) ``before``: base makes partials every 700 ms (the old defaults); (b) ``after``:
the Config defaults (partial_asr_model, partial_interval_ms). Writes
benchmarks/results/partials.json.

Usage: python benchmarks/partials.py [--n 20]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import difflib
import json
import logging
import platform
import sys
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.latency import pick_questions  # noqa: E402
from streaming.client.connection import VoiceClient  # noqa: E402
from streaming.eval.oracle import word_timestamps  # noqa: E402
from streaming.server.app import bound_port, start_server  # noqa: E402
from streaming.server.config import Config  # noqa: E402
from streaming.server.engine import Engine  # noqa: E402
from voice.audio import resample  # noqa: E402
from voice.wer import normalize_words, spoken_wer  # noqa: E402
from voice.workers import Priority  # noqa: E402

RATE = 16_000
LEAD_S, TRAIL_S = 0.5, 2.0  # the semantic end of turn may wait 1.2 s


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def word_ends(engine: Engine, audio: np.ndarray) -> list[tuple[str, float]]:
    """(normalized word, end time in the clip in s) from base's word timestamps."""
    return [
        (tok, w["end_ms"] / 1000)
        for w in word_timestamps(engine.asr, audio)
        for tok in normalize_words(w["word"])
    ]


def contained(words: list[str], hyp: list[str]) -> set[int]:
    """Indexes of ``words`` that ``hyp`` contains, aligned in order; close spellings count."""
    vocab = set(words)
    mapped = [
        h if h in vocab else (difflib.get_close_matches(h, vocab, 1, 0.75) or [h])[0] for h in hyp
    ]
    matcher = difflib.SequenceMatcher(None, words, mapped, autojunk=False)
    return {b.a + k for b in matcher.get_matching_blocks() for k in range(b.size)}


def turn_row(q, ends, log, offset_ms: int) -> dict:
    """One turn's partial latencies and cadence from the client's event log."""
    partials = log.of("partial")
    words = [w for w, _ in ends]
    first: dict[int, float] = {}
    for p in partials:
        for i in contained(words, normalize_words(f"{p['stable']} {p['tail']}")):
            first.setdefault(i, p["t"])
    latencies = [(first[i] - (log.sent_at + ends[i][1])) * 1000 for i in sorted(first)]
    times = [p["t"] for p in partials]
    audio = [p["audio_ms"] for p in partials]
    lags = [(p["t"] - log.sent_at) * 1000 - (p["audio_ms"] - offset_ms) for p in partials]
    final = (log.first("final") or {}).get("text", "")
    last = f"{partials[-1]['stable']} {partials[-1]['tail']}" if partials else ""
    return {
        "question": q.query,
        "final": final,
        "last_partial": last,
        "final_wer": spoken_wer(q.query, final),
        "last_partial_wer": spoken_wer(q.query, last),
        "words": len(words),
        "words_in_a_partial": len(first),
        "word_latency_ms": latencies,
        "partial_gap_ms": list(np.diff(times) * 1000) if len(times) > 1 else [],
        "partial_audio_gap_ms": list(np.diff(audio).astype(float)) if len(audio) > 1 else [],
        "audio_to_partial_ms": lags,
        "partials": len(partials),
        "tentative_final_reused": (log.first("turn_metrics") or {})
        .get("metrics", {})
        .get("tentative_final_reused"),
    }


def summarize(rows: list[dict], decode_s: list[float]) -> dict:
    def flat(key: str) -> list[float]:
        return [v for r in rows for v in r[key]]

    lat, gaps, audio_gaps, lags = (
        flat(k)
        for k in (
            "word_latency_ms",
            "partial_gap_ms",
            "partial_audio_gap_ms",
            "audio_to_partial_ms",
        )
    )
    words = sum(r["words"] for r in rows)
    ref_words = [len(normalize_words(r["question"])) for r in rows]
    return {
        "word_latency_ms": {"p50": pct(lat, 50), "p90": pct(lat, 90), "n": len(lat)},
        "words_reached_share": sum(r["words_in_a_partial"] for r in rows) / max(1, words),
        "partial_gap_ms": {"p50": pct(gaps, 50), "p90": pct(gaps, 90)},
        "partial_audio_gap_ms": {"p50": pct(audio_gaps, 50), "p90": pct(audio_gaps, 90)},
        "audio_to_partial_ms": {"p50": pct(lags, 50), "p90": pct(lags, 90)},
        "partial_decode_ms": {
            "p50": pct([s * 1000 for s in decode_s], 50),
            "p90": pct([s * 1000 for s in decode_s], 90),
            "n": len(decode_s),
        },
        "partials_per_turn": float(np.mean([r["partials"] for r in rows])),
        # word-weighted WER over all turns
        "final_wer": sum(r["final_wer"] * n for r, n in zip(rows, ref_words, strict=True))
        / max(1, sum(ref_words)),
        "last_partial_wer": sum(
            r["last_partial_wer"] * n for r, n in zip(rows, ref_words, strict=True)
        )
        / max(1, sum(ref_words)),
        "tentative_final_reused_share": sum(bool(r["tentative_final_reused"]) for r in rows)
        / max(1, len(rows)),
    }


def partial_runs(engine: Engine) -> list[float]:
    worker = (engine.partial_asr or engine.asr).worker
    return [s for p, s in worker.recent if p == Priority.PARTIAL_ASR]


async def main_async(args) -> dict:
    after = Engine.load(
        Config(llm_backend="extractive", search_latency="none", kg_latency="none", seed=7)
    )
    after.warm_up()
    before = dataclasses.replace(
        after,
        config=after.config.replace(partial_interval_ms=700, partial_asr_model="same"),
        partial_asr=None,
    )
    engines = {"before": before, "after": after}
    labels = {
        "before": f"{before.config.asr_model} partials / 700 ms",
        "after": f"{after.partial_asr.name if after.partial_asr else after.config.asr_model}"
        f" partials / {after.config.partial_interval_ms} ms",
    }
    clips = []
    for q in pick_questions(args.n):
        speech = resample(after.tts.synthesize(q.query), after.tts.rate, RATE)
        audio = np.concatenate([np.zeros(int(LEAD_S * RATE), np.float32), speech])
        clips.append((q, audio, word_ends(after, audio)))
    runners = {k: await start_server(e, "127.0.0.1", 0) for k, e in engines.items()}
    rows: dict[str, list[dict]] = {k: [] for k in engines}
    decode: dict[str, list[float]] = {k: [] for k in engines}
    try:
        clients = {
            k: VoiceClient(
                f"ws://127.0.0.1:{bound_port(r)}/ws", options={"strategy": args.strategy}
            )
            for k, r in runners.items()
        }
        offsets = dict.fromkeys(engines, 0)
        for c in clients.values():
            await c.__aenter__()
        try:
            for q, audio, ends in tqdm(clips, desc="questions", file=sys.stderr):
                for key, client in clients.items():
                    runs_before = len(partial_runs(engines[key]))
                    log = client.new_turn()
                    await client.send_audio(audio, trailing_silence_s=TRAIL_S)  # all of it
                    sent_ms = (audio.size + int(TRAIL_S * RATE)) * 1000 // RATE
                    offsets[key] += (audio.size + int(TRAIL_S * RATE)) * 1000 // RATE
                    try:
                        await client.wait_for("turn_metrics", 60)
                    except TimeoutError:
                        print(f"{key}: no end of turn for {q.query!r}", file=sys.stderr)
                        continue
                    decode[key].extend(partial_runs(engines[key])[runs_before:])
                    rows[key].append(turn_row(q, ends, log, offsets[key] - sent_ms))
        finally:
            for c in clients.values():
                await c.__aexit__(None, None, None)
    finally:
        for r in runners.values():
            await r.cleanup()
    return {
        k: {"label": labels[k], "summary": summarize(rows[k], decode[k]), "turns": rows[k]}
        for k in engines
    }


ROWS = [
    ("word end -> first partial with it, P50 (ms)", "word_latency_ms", "p50"),
    ("word end -> first partial with it, P90 (ms)", "word_latency_ms", "p90"),
    ("partial cadence, wall P50 (ms)", "partial_gap_ms", "p50"),
    ("partial cadence, wall P90 (ms)", "partial_gap_ms", "p90"),
    ("audio between partials, P50 (ms)", "partial_audio_gap_ms", "p50"),
    ("audio covered -> partial received, P50 (ms)", "audio_to_partial_ms", "p50"),
    ("partial decode, P50 (ms)", "partial_decode_ms", "p50"),
    ("partial decode, P90 (ms)", "partial_decode_ms", "p90"),
]


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--strategy", default="triggered")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "partials.json"))
    ap.add_argument("--log-level", default="WARNING")
    args = ap.parse_args()
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(name)s %(message)s")
    t0 = time.time()
    results = asyncio.run(main_async(args))
    keys = list(results)
    print(
        f"\n{args.n} spoken questions, piper joe, real-time replay (wall clock), "
        f"strategy {args.strategy}, no tool latency"
    )
    header = f"{'':<46}" + "".join(f"{results[k]['label']:>28}" for k in keys)
    print(header + "\n" + "-" * len(header))
    for label, key, stat in ROWS:
        print(f"{label:<46}" + "".join(f"{results[k]['summary'][key][stat]:>28.0f}" for k in keys))
    for label, key in [
        ("words any partial reached", "words_reached_share"),
        ("last partial WER", "last_partial_wer"),
        ("FINAL WER", "final_wer"),
        ("tentative final reused", "tentative_final_reused_share"),
    ]:
        print(f"{label:<46}" + "".join(f"{results[k]['summary'][key]:>28.1%}" for k in keys))
    meta = {
        "machine": platform.processor() or platform.machine(),
        "args": vars(args),
        "clock": "real time: audio paced to the wall clock, latencies from client timestamps",
        "seconds": time.time() - t0,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"meta": meta, "results": results}, indent=1))
    print(f"wrote {args.out} in {time.time() - t0:.0f}s")


if __name__ == "__main__":
    main()
