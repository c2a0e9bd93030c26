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
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import websockets
from tqdm import tqdm

from voice.audio import decode_file

from .client import VoiceClient

log = logging.getLogger(__name__)
STRATEGIES = ("final", "fixed-interval", "triggered")
RATE = 16_000


@dataclass(frozen=True)
class Clip:
    """One manifest row: a spoken question and what a correct answer says."""

    id: str
    audio: Path
    text: str
    gold: tuple[str, ...]
    domain: str = ""
    question_type: str = ""
    voice: str = ""
    has_evidence: bool = False
    evidence: str | None = None  # an id in the server's evidence folder (CRAG Task 1)


def load_manifest(path: str | Path, limit: int | None = None) -> list[Clip]:
    """Clips from ``manifest.jsonl`` (audio paths are relative to the manifest's folder)."""
    path = Path(path)
    if path.is_dir():
        path = path / "manifest.jsonl"
    clips = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                gold = [row.get("answer") or "", *(row.get("alt_answers") or [])]
                clips.append(
                    Clip(
                        id=str(row["id"]),
                        audio=(path.parent / row["audio"]).resolve(),
                        text=row["text"],
                        gold=tuple(g for g in gold if g),
                        domain=row.get("domain") or "",
                        question_type=row.get("question_type") or "",
                        voice=row.get("voice") or "",
                        has_evidence=bool(row.get("has_evidence")),
                        evidence=row.get("evidence") or None,
                    )
                )
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"{path}:{n}: not a manifest row ({exc})") from exc
    return clips[: limit if limit else None]


@dataclass
class TurnRecord:
    """One clip through one strategy: what was heard, said, measured, and every event."""

    id: str
    strategy: str
    question: str
    gold: list[str]
    domain: str
    question_type: str
    voice: str
    transcript: str = ""
    answer: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)
    client_first_audio_ms: float | None = None  # last voiced sample sent -> first audio byte
    answer_audio_ms: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)  # ``t_ms`` since streaming began
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def load_records(path: str | Path) -> list[TurnRecord]:
    """The turns of an earlier run, from its ``events.jsonl``."""
    with open(path, encoding="utf-8") as f:
        return [TurnRecord(**json.loads(line)) for line in f if line.strip()]


def _session_order(strategies: Sequence[str], i: int) -> list[str]:
    """The strategies for clip ``i``, rotated by one per clip."""
    k = i % len(strategies)
    return [*strategies[k:], *strategies[:k]]


async def replay_clip(
    url: str,
    clip: Clip,
    samples: Any,
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
    if use_evidence and clip.evidence:
        options["evidence"] = clip.evidence
    client = VoiceClient(url, options=options)
    try:
        await client.__aenter__()
    except (OSError, TimeoutError, ConnectionError, websockets.WebSocketException) as exc:
        record.error = f"session: {exc or type(exc).__name__}"
        return record
    opening = list(client.log.events)  # ready, and any error about the options
    try:
        turn = await client.ask_audio(samples, timeout=timeout_s, trailing_silence_s=0.5)
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
    audio: dict[str, Any] = {}  # decoded clips, dropped when their last strategy is done
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


@asynccontextmanager
async def local_server(config: Any) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """Load the models, start the server on a free port; yields (ws url, server description)."""
    from .engine import Engine
    from .server import bound_port, start_server

    engine = await asyncio.to_thread(Engine.load, config)
    await asyncio.to_thread(engine.warm_up)
    runner = await start_server(engine, "127.0.0.1", 0)
    try:
        described = {
            "asr": engine.asr.name,
            "llm_backend": config.llm_backend,
            "search_latency": config.search_latency,
            "kg_latency": config.kg_latency if config.kg else None,
            "documents": len(engine.docs),
            "evidence_dir": config.evidence_dir or None,
        }
        yield f"ws://127.0.0.1:{bound_port(runner)}/ws", described
    finally:
        await runner.cleanup()
