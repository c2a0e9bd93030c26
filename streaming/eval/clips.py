"""The AudioCRAG clip builder: CRAG questions read aloud by several voices, padded with silence,
optionally mixed with noise, and kept only when the ASR transcribes them well enough.

``build`` writes ``audio/<id>.wav`` (16 kHz mono), ``manifest.jsonl`` (kept clips),
``rejected.jsonl`` (clips over ``max_wer``) and ``build.json`` (counts and kept shares).
A question's CRAG ``search_results`` become its own evidence index in ``tools.search.evidence``.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from streaming.eval.crag import load_crag
from tools.corpus import Question
from tools.search.evidence import evidence_documents, has_evidence
from voice.audio import decode_file, resample, write_wav
from voice.interfaces import Asr, Tts
from voice.wer import spoken_wer

log = logging.getLogger(__name__)
RATE = 16_000

# --- voices and clips -----------------------------------------------------------------------


@dataclass(frozen=True)
class Voice:
    """A named voice: piper with prosody settings, or an espeak-ng voice (``espeak:en-us``)."""

    name: str
    engine: str = "piper"  # "piper" | "espeak"
    length_scale: float = 1.0
    noise_scale: float | None = None
    noise_w_scale: float | None = None
    espeak_voice: str = ""
    espeak_speed: int = 165


PIPER_VOICES = {
    "piper": Voice("piper"),
    "piper-slow": Voice("piper-slow", length_scale=1.2),
    "piper-fast": Voice("piper-fast", length_scale=0.85),
    "piper-noisy": Voice("piper-noisy", noise_scale=0.9),
    # no sampling noise: the same text is the same audio on every build (tests, A/B runs)
    "piper-exact": Voice("piper-exact", noise_scale=0.0, noise_w_scale=0.0),
}
DEFAULT_VOICES = (
    "piper", "piper-slow", "piper-fast", "piper-noisy", "espeak:en-us", "espeak:en-gb",
    "espeak:en-us+f3",
)  # fmt: skip


def parse_voice(name: str) -> Voice:
    """A voice by name: one of ``PIPER_VOICES`` or ``espeak:<voice>``."""
    name = name.strip()
    if name in PIPER_VOICES:
        return PIPER_VOICES[name]
    if name.startswith("espeak:") and len(name) > 7:
        return Voice(name, engine="espeak", espeak_voice=name[7:])
    raise ValueError(f"unknown voice {name!r} (piper voices: {', '.join(PIPER_VOICES)}; "
                     "or espeak:<voice>)")  # fmt: skip


def resolve_voices(names: Sequence[str | Voice]) -> list[Voice]:
    """Voices to use; espeak voices are dropped with a warning when espeak-ng is missing."""
    voices = [v if isinstance(v, Voice) else parse_voice(v) for v in names]
    if shutil.which("espeak-ng") is None and any(v.engine == "espeak" for v in voices):
        log.warning("espeak-ng is not installed: skipping the espeak voices")
        voices = [v for v in voices if v.engine != "espeak"]
    for v in voices:
        if v.engine == "espeak":
            check = subprocess.run(
                ["espeak-ng", "-v", v.espeak_voice, "-q", "x"], capture_output=True
            )
            if check.returncode:
                raise ValueError(f"espeak-ng has no voice {v.espeak_voice!r}")
    if not voices:
        raise ValueError("no usable voices")
    return voices


def synthesize(voice: Voice, text: str, tts: Tts | None) -> np.ndarray:
    """16 kHz float32 speech for ``text`` (``tts``: the loaded piper voice, used for piper)."""
    if voice.engine == "espeak":
        with tempfile.TemporaryDirectory() as tmp:
            wav = str(Path(tmp) / "out.wav")
            cmd = ["espeak-ng", "-v", voice.espeak_voice, "-s", str(voice.espeak_speed), "-w", wav]
            subprocess.run([*cmd, text.lstrip("-")], check=True, capture_output=True, timeout=60)
            return decode_file(wav, RATE)
    assert tts is not None, "piper voices need the loaded TTS"
    raw = tts.synthesize(text, length_scale=voice.length_scale, noise_scale=voice.noise_scale,
                         noise_w_scale=voice.noise_w_scale)  # fmt: skip
    return resample(raw, tts.rate, RATE)


def make_noise(n: int, kind: str, rng: np.random.Generator) -> np.ndarray:
    """Unit-RMS white or pink (1/f power) noise."""
    white = rng.standard_normal(n)
    if kind == "pink" and n > 1:
        spectrum = np.fft.rfft(white)
        f = np.arange(spectrum.size, dtype=np.float64)
        f[0] = 1.0
        white = np.fft.irfft(spectrum / np.sqrt(f), n)
    elif kind != "white" and kind != "pink":
        raise ValueError(f"unknown noise {kind!r} (white or pink)")
    return (white / (np.sqrt(np.mean(white**2)) or 1.0)).astype(np.float32)


def make_clip(
    speech: np.ndarray,
    lead_s: float = 0.5,
    trail_s: float = 1.0,
    snr_db: float | None = None,
    noise: str = "white",
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Silence + speech + silence, with noise at ``snr_db`` over the speech power if given."""
    speech = speech.astype(np.float32)
    lead, trail = (np.zeros(int(s * RATE), np.float32) for s in (lead_s, trail_s))
    clip = np.concatenate([lead, speech, trail])
    if snr_db is not None and speech.size:
        voiced = speech[np.abs(speech) > 0.01 * (np.abs(speech).max() or 1.0)]
        rms = float(np.sqrt(np.mean(voiced**2))) if voiced.size else 0.0
        rng = rng or np.random.default_rng(0)
        clip = clip + make_noise(clip.size, noise, rng) * rms / 10 ** (snr_db / 20)
    peak = float(np.abs(clip).max()) if clip.size else 0.0
    return clip / peak * 0.99 if peak > 0.99 else clip


# --- building -------------------------------------------------------------------------------


@dataclass
class BuildReport:
    """What ``build`` did: counts, kept shares per voice, mean WER and its settings."""

    out_dir: str
    total: int = 0
    kept: int = 0
    rejected: int = 0
    failed: int = 0
    per_voice: dict[str, dict[str, float]] = field(default_factory=dict)
    mean_wer: float = 0.0
    elapsed_s: float = 0.0
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def kept_share(self) -> float:
        done = self.kept + self.rejected
        return self.kept / done if done else 0.0

    def as_dict(self) -> dict[str, Any]:
        """``kept_share`` is per clip tried; ``questions_kept_share`` per question."""
        questions_kept = self.kept / self.total if self.total else 0.0
        return {
            **asdict(self),
            "kept_share": round(self.kept_share, 4),
            "questions_kept_share": round(questions_kept, 4),
        }


def _file_id(qid: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", qid) or "q"


def _write_evidence(out: Path, q: Question) -> str | None:
    """``evidence/<id>.jsonl``: the question's pages as passages; returns the id (None if empty)."""
    docs = evidence_documents(q)
    if not docs:
        return None
    (out / "evidence").mkdir(exist_ok=True)
    name = _file_id(q.id)
    with open(out / "evidence" / f"{name}.jsonl", "w", encoding="utf-8") as f:
        for d in docs:
            f.write(json.dumps({"id": d.id, "title": d.title, "text": d.text, "url": d.url,
                                "domain": d.domain}) + "\n")  # fmt: skip
    return name


def build(
    questions_path: str | Path | Sequence[Question],
    out_dir: str | Path,
    *,
    voices: Sequence[str | Voice] = DEFAULT_VOICES,
    limit: int | None = None,
    max_wer: float = 0.0,
    snr_db: float | Sequence[float | None] | None = None,
    noise: str = "white",
    seed: int = 0,
    lead_s: float = 0.5,
    trail_s: float = 1.0,
    asr_model: str = "base",
    asr_threads: int = 2,
    attempts: int = 1,
    evidence: bool = True,
    tts: Tts | None = None,
    asr: Asr | None = None,
    progress: bool = True,
) -> BuildReport:
    """Synthesize, pad, add noise, transcribe and filter one clip per question.

    Voices and SNRs are assigned round-robin (``snr_db`` may be a list; None entries are clean).
    A clip over ``max_wer`` is tried again with the next voice, up to ``attempts`` voices in all;
    every attempt over the limit is written to ``rejected.jsonl``.
    With ``evidence``, a kept question's CRAG pages are written as passages to
    ``evidence/<id>.jsonl`` and named in its manifest row (``streamrag eval`` then searches them).
    ``tts``/``asr`` may be already loaded models; otherwise the engine's factory loads them.
    """
    t0 = time.perf_counter()
    questions = (
        list(questions_path)
        if isinstance(questions_path, Sequence) and not isinstance(questions_path, str)
        else load_crag(questions_path)
    )
    questions = [q for q in questions if q.query][: limit if limit else None]
    voice_list = resolve_voices(voices)
    snrs = list(snr_db) if isinstance(snr_db, Sequence) else [snr_db]
    if tts is None and any(v.engine == "piper" for v in voice_list):
        from streaming.server.engine import load_tts

        tts = load_tts()
    if asr is None:
        from streaming.server.engine import load_asr

        asr = load_asr(asr_model, threads=asr_threads)
    out = Path(out_dir)
    (out / "audio").mkdir(parents=True, exist_ok=True)
    report = BuildReport(str(out), total=len(questions))
    report.settings = {
        "questions": str(questions_path) if isinstance(questions_path, str | Path) else "<list>",
        "voices": [v.name for v in voice_list], "max_wer": max_wer, "snr_db": snrs,
        "noise": noise, "seed": seed, "lead_s": lead_s, "trail_s": trail_s, "attempts": attempts,
        "asr_model": asr.name,
    }  # fmt: skip
    stats = {v.name: {"total": 0, "kept": 0} for v in voice_list}
    wers: list[float] = []
    with (
        open(out / "manifest.jsonl", "w", encoding="utf-8") as manifest,
        open(out / "rejected.jsonl", "w", encoding="utf-8") as rejected,
    ):
        bar = tqdm(questions, desc="audiocrag", unit="clip", disable=not progress)
        for i, q in enumerate(bar):
            snr = snrs[i % len(snrs)]
            for attempt in range(max(1, min(attempts, len(voice_list)))):
                voice = voice_list[(i + attempt) % len(voice_list)]
                try:
                    speech = synthesize(voice, q.query, tts)
                except Exception as exc:
                    log.warning("%s: %s failed: %s", q.id, voice.name, exc)
                    report.failed += 1
                    break
                rng = np.random.default_rng([seed, i])
                clip = make_clip(speech, lead_s, trail_s, snr, noise, rng)
                asr_text = asr.transcribe(clip)
                wer = spoken_wer(q.query, asr_text)
                wers.append(wer)
                stats[voice.name]["total"] += 1
                row = {
                    "id": q.id, "audio": f"audio/{_file_id(q.id)}.wav", "text": q.query,
                    "answer": q.answer, "alt_answers": q.alt_answers, "domain": q.domain,
                    "question_type": q.question_type, "voice": voice.name, "snr_db": snr,
                    "asr_text": asr_text, "wer": round(wer, 4), "attempt": attempt + 1,
                    "duration_s": round(clip.size / RATE, 3), "has_evidence": has_evidence(q),
                    "query_time": q.query_time,
                }  # fmt: skip
                if wer <= max_wer + 1e-9:
                    write_wav(out / row["audio"], clip, RATE)
                    if evidence and row["has_evidence"]:
                        row["evidence"] = _write_evidence(out, q)
                    manifest.write(json.dumps(row) + "\n")
                    stats[voice.name]["kept"] += 1
                    report.kept += 1
                    break
                rejected.write(json.dumps(row) + "\n")
                report.rejected += 1
            bar.set_postfix(kept=report.kept, rejected=report.rejected)
    report.per_voice = {
        name: {**s, "kept_share": round(s["kept"] / s["total"], 4) if s["total"] else 0.0}
        for name, s in stats.items()
    }
    report.mean_wer = round(float(np.mean(wers)), 4) if wers else 0.0
    report.elapsed_s = round(time.perf_counter() - t0, 2)
    (out / "build.json").write_text(json.dumps(report.as_dict(), indent=2) + "\n")
    log.info(
        "audiocrag: kept %d/%d clips (%.0f %%), %d failed, mean WER %.3f, in %.1f s",
        report.kept, report.kept + report.rejected, 100 * report.kept_share, report.failed,
        report.mean_wer, report.elapsed_s,
    )  # fmt: skip
    return report
