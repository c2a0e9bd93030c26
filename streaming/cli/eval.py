"""``streamrag audiocrag build`` and ``streamrag eval``: the evaluation commands.

Exit codes: 0 done, 1 a file or data problem (one line on stderr, no traceback), 2 usage.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from streaming.eval.manifest import Clip, TurnRecord
    from streaming.server.config import Config


def _fail(message: str, code: int = 1) -> int:
    print(f"streamrag audiocrag: {message}", file=sys.stderr)
    return code


def _snrs(text: str | None) -> list[float | None] | None:
    """``20`` or ``none,20,10`` (assigned round-robin; ``none`` is a clean clip)."""
    if not text:
        return None
    return [
        None if s.strip().lower() in ("none", "clean", "") else float(s) for s in text.split(",")
    ]


def _build(args: argparse.Namespace) -> int:
    from streaming.eval.clips import build

    path = Path(args.questions)
    if not path.exists():
        return _fail(f"questions file not found: {path}")
    try:
        snr_db = _snrs(args.snr_db)
    except ValueError:
        return _fail(f"--snr-db must be numbers or 'none', comma-separated: {args.snr_db!r}", 2)
    voices = [v for v in args.voices.split(",") if v.strip()]
    try:
        report = build(
            path,
            args.out,
            voices=voices,
            limit=args.limit,
            max_wer=args.max_wer,
            snr_db=snr_db,
            noise=args.noise,
            seed=args.seed,
            lead_s=args.lead_s,
            trail_s=args.trail_s,
            asr_model=args.asr_model,
            asr_threads=args.asr_threads,
            attempts=args.attempts,
            evidence=not args.no_evidence,
            progress=not args.no_progress,
        )
    except (ValueError, KeyError, OSError) as exc:
        return _fail(str(exc) or type(exc).__name__)
    summary: dict[str, Any] = report.as_dict()
    summary.pop("settings", None)
    print(json.dumps(summary, indent=2))
    return 0 if report.kept or not report.total else 1


def _eval(args: argparse.Namespace) -> int:
    from streaming.eval.manifest import load_manifest
    from streaming.eval.run import STRATEGIES

    strategies = [s.strip() for s in args.strategies.split(",") if s.strip()]
    unknown = [s for s in strategies if s not in STRATEGIES]
    if unknown or not strategies:
        return _fail(f"--strategies must be some of {','.join(STRATEGIES)}: {args.strategies!r}", 2)
    if bool(args.judge_url) != bool(args.judge_model):
        return _fail("--judge-url and --judge-model go together", 2)
    try:
        clips = load_manifest(args.manifest, args.limit)
    except (OSError, ValueError) as exc:
        return _fail(str(exc))
    if not clips:
        return _fail(f"no clips in {args.manifest}")
    missing = [c.audio for c in clips if not c.audio.exists()]
    if missing:
        return _fail(f"{len(missing)} audio files are missing, e.g. {missing[0]}")
    manifest = Path(args.manifest)
    out = (
        Path(args.out)
        if args.out
        else (manifest if manifest.is_dir() else manifest.parent) / "eval"
    )
    return _run_eval(args, clips, strategies, out)


def _run_eval(args: argparse.Namespace, clips: list[Clip], strategies: list[str], out: Path) -> int:
    import asyncio
    import time

    from streaming.eval.llm_judge import LlmJudge
    from streaming.eval.manifest import load_records
    from streaming.eval.oracle import ensure_words
    from streaming.eval.report import headline, to_markdown, write_report
    from streaming.eval.score import disagreements, judge_records, summarize

    out.mkdir(parents=True, exist_ok=True)
    started, t0 = time.strftime("%Y-%m-%d %H:%M"), time.perf_counter()
    meta = {
        "title": args.title or f"streamrag evaluation: {Path(args.manifest).name}",
        "manifest": str(args.manifest), "clips": len(clips), "strategies": strategies,
        "concurrency": args.concurrency,
    }  # fmt: skip
    if args.rescore:  # judge and report a finished run again, without replaying
        records = load_records(out / "events.jsonl")
        ids = {c.id for c in clips}
        records = [r for r in records if r.id in ids and r.strategy in strategies]
        old = out / "results.json"
        if old.exists():
            kept = ("server", "started", "elapsed_s", "concurrency", "machine")
            meta |= {k: v for k, v in json.loads(old.read_text())["meta"].items() if k in kept}
    else:
        with open(out / "events.jsonl", "w", encoding="utf-8") as events:
            records, server = asyncio.run(_replay_all(args, clips, strategies, events))
        meta |= {"server": server, "started": started, "machine": _machine(),
                 "elapsed_s": round(time.perf_counter() - t0)}  # fmt: skip
    meta["clips"] = len({r.id for r in records})
    llm = LlmJudge(args.judge_url, args.judge_model) if args.judge_url else None
    meta["judge"] = f"llm {args.judge_model}" if llm else "rule"
    # the oracle bound: word timestamps once per clip, kept beside it (audio/<id>.words.json)
    words = {} if args.no_oracle else ensure_words(clips, _server_config(args).asr_model)
    rows = asyncio.run(judge_records(records, llm, words))
    summary = summarize(rows, strategies)
    paths = write_report(out, rows, summary, disagreements(rows, strategies), strategies, meta)
    print(to_markdown([headline(summary, strategies)]))
    print(f"wrote {paths['md']}, {paths['html']}, {paths['results']} and {out / 'events.jsonl'}")
    return 0 if any(r.error is None for r in records) else 1


def _machine() -> str:
    import os
    import platform

    return f"{os.cpu_count()} CPUs, {platform.machine()}, Python {platform.python_version()}"


def _server_config(args: argparse.Namespace) -> Config:
    """The config flags, plus the manifest's evidence folder when there is one."""
    from streaming.cli.flags import config_from_args

    config = config_from_args(args)
    manifest = Path(args.manifest)
    evidence_dir = (manifest if manifest.is_dir() else manifest.parent) / "evidence"
    if not config.evidence_dir and evidence_dir.is_dir():
        config = config.replace(evidence_dir=str(evidence_dir))
    return config


async def _replay_all(
    args: argparse.Namespace, clips: list[Clip], strategies: list[str], events: TextIO
) -> tuple[list[TurnRecord], dict[str, Any]]:
    """Replay through ``--url`` or a server started here; each turn is saved when it is done."""
    from streaming.eval.local_server import local_server
    from streaming.eval.run import run_eval

    def save(record: TurnRecord) -> None:
        events.write(json.dumps(record.as_dict()) + "\n")
        events.flush()

    kwargs = dict(strategies=strategies, concurrency=args.concurrency, timeout_s=args.timeout,
                  progress=not args.no_progress, on_record=save,
                  use_evidence=not args.no_evidence)  # fmt: skip
    if args.url:
        return await run_eval(args.url, clips, **kwargs), {"url": args.url}
    async with local_server(_server_config(args)) as (url, server):
        return await run_eval(url, clips, **kwargs), server


def add_eval_commands(subparsers: Any) -> None:
    """Register ``audiocrag`` (with ``build``) and ``eval`` on the ``streamrag`` subparsers."""
    from streaming.cli.flags import add_config_flags
    from streaming.eval.clips import DEFAULT_VOICES

    p = subparsers.add_parser("audiocrag", help="spoken CRAG question sets (AudioCRAG-style)")
    sub = p.add_subparsers(dest="audiocrag_command", required=True)
    b = sub.add_parser(
        "build",
        help="synthesize CRAG questions with several voices and keep clips the ASR gets right",
        description="Writes OUT/audio/<id>.wav, OUT/manifest.jsonl, OUT/rejected.jsonl, OUT/build.json.",
    )
    b.add_argument("--questions", required=True, help="CRAG jsonl (plain or .bz2) or a folder")
    b.add_argument("--out", required=True, help="output folder")
    b.add_argument("--limit", type=int, default=None, help="first N questions only")
    b.add_argument("--voices", default=",".join(DEFAULT_VOICES),
                   help="comma-separated, round-robin (default: %(default)s); piper-exact "
                        "has no sampling noise, the same audio on every build")  # fmt: skip
    b.add_argument("--max-wer", type=float, default=0.0, help="keep clips with WER <= this")
    b.add_argument("--attempts", type=int, default=1,
                   help="voices to try per question before rejecting it (default: %(default)s)")  # fmt: skip
    b.add_argument("--no-evidence", action="store_true",
                   help="do not write the questions' CRAG pages as per-question evidence")  # fmt: skip
    b.add_argument("--snr-db", default=None, help="noise SNR in dB, e.g. 20 or none,20,10")
    b.add_argument("--noise", choices=("white", "pink"), default="white")
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--lead-s", type=float, default=0.5, help="leading silence (s)")
    b.add_argument("--trail-s", type=float, default=1.0, help="trailing silence (s)")
    b.add_argument("--asr-model", default="base", help="whisper model for the WER filter")
    b.add_argument("--asr-threads", type=int, default=2)
    b.add_argument("--no-progress", action="store_true", help="no progress bar")
    b.set_defaults(func=_build)

    e = subparsers.add_parser(
        "eval",
        help="replay a spoken question set through the strategies, score it, write a report",
        description="Replays every clip of MANIFEST at real time through each strategy (a fresh "
        "session per clip and strategy), judges the answers the CRAG way and writes "
        "OUT/report.md, OUT/report.html (with plots), OUT/results.json and OUT/events.jsonl. "
        "Starts its own server with the config flags below unless --url is given.",
    )
    e.add_argument(
        "manifest", help="manifest.jsonl from `streamrag audiocrag build` (or its folder)"
    )
    e.add_argument("--strategies", default="final,fixed-interval,triggered")
    e.add_argument("--url", default="", help="a running server's ws://.../ws (default: start one)")
    e.add_argument("--out", default="", help="report folder (default: <manifest folder>/eval)")
    e.add_argument("--limit", type=int, default=None, help="first N clips only")
    e.add_argument("--concurrency", type=int, default=1, help="sessions at once (default 1)")
    e.add_argument("--timeout", type=float, default=90.0, help="seconds per turn before giving up")
    e.add_argument("--no-evidence", action="store_true",
                   help="ignore per-question evidence: search the server's own corpus")  # fmt: skip
    e.add_argument("--judge-url", default="", help="OpenAI-compatible base URL for an LLM judge")
    e.add_argument("--judge-model", default="", help="model name for the LLM judge")
    e.add_argument("--title", default="", help="report title")
    e.add_argument("--rescore", action="store_true",
                   help="no replay: judge OUT/events.jsonl again and rewrite the report")  # fmt: skip
    e.add_argument("--no-progress", action="store_true", help="no progress bar")
    e.add_argument("--no-oracle", action="store_true",
                   help="skip the oracle bound (word timestamps of every clip, computed once)")  # fmt: skip
    add_config_flags(e)
    e.set_defaults(func=_eval)
