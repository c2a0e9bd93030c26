"""``streamrag eval``: replay a spoken question set through several strategies, record everything.

Every (clip, strategy) pair gets its own websocket session, so the server's audio clock, turn
counter and speculative tool state start fresh and runs cannot leak into each other. Clips stream
at real-time pace (20 ms frames). The strategies of one clip run one after another in an order
that rotates from clip to clip, so no strategy always goes first on a cold cache or a busy CPU;
``concurrency`` > 1 runs that many sessions at once (faster, but they share the CPU, which shows
up in the latency figures). The server sends answer audio unpaced (``pace_audio: false``), which
does not change when the first audio leaves but saves waiting for playback, and audits every
reused speculative result (``audit: true``) off the critical path.

A session that fails or times out becomes a record with ``error`` set; the run goes on.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import websockets
from tqdm import tqdm

from streaming.client.connection import VoiceClient
from streaming.eval.manifest import Clip, TurnRecord
from voice.audio import decode_file

log = logging.getLogger(__name__)
STRATEGIES = ("final", "fixed-interval", "triggered")
RATE = 16_000


def _session_order(strategies: Sequence[str], i: int) -> list[str]:
    """The strategies for clip ``i``, rotated by one per clip."""
    k = i % len(strategies)
    return [*strategies[k:], *strategies[:k]]


async def replay_clip(
    url: str,
    clip: Clip,
    samples: np.ndarray,
    strategy: str,
    timeout_s: float = 90.0,
    use_evidence: bool = True,
) -> TurnRecord:
    """Stream one clip through a fresh session with ``strategy``; never raises for a bad turn.
    With ``use_evidence`` and a clip that has its own evidence, the session searches only that."""
    record = TurnRecord(
        clip.id, strategy, clip.text, list(clip.gold), clip.domain, clip.question_type, clip.voice
    )
    options: dict[str, Any] = {"strategy": strategy, "audit": True, "pace_audio": False}
    options["seed"] = clip.id  # every strategy sees this clip's same tool latencies
    if use_evidence and clip.evidence:
        options["evidence"] = clip.evidence
    if clip.query_time:
        options["query_time"] = clip.query_time
    client = VoiceClient(url, options=options)
    try:
        await client.__aenter__()
    except (OSError, TimeoutError, ConnectionError, websockets.WebSocketException) as exc:
        record.error = f"session: {exc or type(exc).__name__}"
        return record
    opening = list(client.log.events)  # ready, and any error about the options
    try:
        # 1.5 s of silence: past the semantic end of turn's hard maximum (eot_max_ms)
        turn = await client.ask_audio(samples, timeout=timeout_s, trailing_silence_s=1.5)
    except TimeoutError:
        turn = client.log
        record.error = f"no turn_metrics within {timeout_s:.0f} s"
    except (ConnectionError, websockets.WebSocketException) as exc:
        turn = client.log
        record.error = f"connection: {exc or type(exc).__name__}"
    finally:
        await client.__aexit__(None, None, None)
    start = turn.sent_at or time.monotonic()
    record.events = [
        {**{k: v for k, v in e.items() if k != "t"}, "t_ms": round((e["t"] - start) * 1000, 1)}
        for e in [*opening, *turn.events]
    ]
    final = turn.first("final")
    metrics = turn.first("turn_metrics")
    record.transcript = final["text"] if final else ""
    if metrics:
        record.metrics = metrics["metrics"]
        record.answer = record.metrics.get("answer") or ""
    elif record.error is None:
        record.error = "no turn_metrics"
    errors = [e for e in record.events if e["type"] == "error"]
    if errors and record.error is None:  # e.g. unknown_evidence: the turn measured something else
        record.error = f"server: {errors[0].get('code')}: {errors[0].get('message')}"
    record.client_first_audio_ms = turn.speech_end_to_first_audio_ms
    record.answer_audio_ms = len(turn.audio) * 500 // turn.output_rate
    return record


async def run_eval(
    url: str,
    clips: Sequence[Clip],
    strategies: Sequence[str] = STRATEGIES,
    concurrency: int = 1,
    timeout_s: float = 90.0,
    progress: bool = True,
    on_record: Callable[[TurnRecord], None] | None = None,
    use_evidence: bool = True,
) -> list[TurnRecord]:
    """Every clip through every strategy; records come back in (clip, strategy) order."""
    jobs = [(c, s) for i, c in enumerate(clips) for s in _session_order(strategies, i)]
    gate = asyncio.Semaphore(max(1, concurrency))
    bar = tqdm(total=len(jobs), desc="eval", unit="turn", disable=not progress)
    audio: dict[str, np.ndarray] = {}  # decoded clips, dropped when their last strategy is done
    remaining = {c.id: len(strategies) for c in clips}
    records: list[TurnRecord] = []

    async def one(clip: Clip, strategy: str) -> None:
        async with gate:
            try:
                if clip.id not in audio:
                    audio[clip.id] = await asyncio.to_thread(decode_file, str(clip.audio), RATE)
            except Exception as exc:  # unreadable audio: recorded, the run goes on
                record = TurnRecord(clip.id, strategy, clip.text, list(clip.gold), clip.domain,
                                    clip.question_type, clip.voice, error=f"audio: {exc}")  # fmt: skip
            else:
                record = await replay_clip(
                    url, clip, audio[clip.id], strategy, timeout_s, use_evidence
                )
        remaining[clip.id] -= 1
        if not remaining[clip.id]:
            audio.pop(clip.id, None)
        if record.error:
            log.warning("%s / %s: %s", clip.id, strategy, record.error)
        records.append(record)
        bar.update(1)
        bar.set_postfix(errors=sum(r.error is not None for r in records))
        if on_record:
            on_record(record)

    try:
        await asyncio.gather(*(one(c, s) for c, s in jobs))
    finally:
        bar.close()
    order = {s: n for n, s in enumerate(strategies)}
    index = {c.id: n for n, c in enumerate(clips)}
    return sorted(records, key=lambda r: (index.get(r.id, 0), order.get(r.strategy, 0)))
