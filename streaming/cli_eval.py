"""``streamrag audiocrag build``: the evaluation commands.

Exit codes: 0 done, 1 a file or data problem (one line on stderr, no traceback), 2 usage.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


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
    from .audiocrag import build

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
            progress=not args.no_progress,
        )
    except (ValueError, KeyError, OSError) as exc:
        return _fail(str(exc) or type(exc).__name__)
    summary: dict[str, Any] = report.as_dict()
    summary.pop("settings", None)
    print(json.dumps(summary, indent=2))
    return 0 if report.kept or not report.total else 1


def add_eval_commands(subparsers: Any) -> None:
    """Register ``audiocrag`` (with ``build``) on the ``streamrag`` subparsers."""
    from .audiocrag import DEFAULT_VOICES

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
                   help="comma-separated, round-robin (default: %(default)s)")  # fmt: skip
    b.add_argument("--max-wer", type=float, default=0.0, help="keep clips with WER <= this")
    b.add_argument("--snr-db", default=None, help="noise SNR in dB, e.g. 20 or none,20,10")
    b.add_argument("--noise", choices=("white", "pink"), default="white")
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--lead-s", type=float, default=0.5, help="leading silence (s)")
    b.add_argument("--trail-s", type=float, default=1.0, help="trailing silence (s)")
    b.add_argument("--asr-model", default="base", help="whisper model for the WER filter")
    b.add_argument("--asr-threads", type=int, default=2)
    b.add_argument("--no-progress", action="store_true", help="no progress bar")
    b.set_defaults(func=_build)
