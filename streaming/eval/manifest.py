"""Manifests and records of an evaluation: the clips to replay and the turns a run recorded.

``manifest.jsonl`` (written by ``streamrag audiocrag build``) lists the spoken questions;
``events.jsonl`` (written by ``streamrag eval``) holds one :class:`TurnRecord` per line.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


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
    query_time: str = ""  # when the question was asked (CRAG), for ages and "years ago"


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
                        query_time=str(row.get("query_time") or ""),
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
