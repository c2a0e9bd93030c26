"""The oracle bound: the best any speculation could do, from each clip's word timestamps.

A query cannot be right before every content word of the final query has been spoken. From
faster-whisper's word timestamps (``word_timestamps=True``) over the clip, the *oracle fire time*
is the end of the last of those words to be said (clip time = the server's audio clock, since a
clip streams from its first sample). A query fired then, with the latency the turn's own calls
actually had, gives the turn's *oracle tool wait*:

    oracle_tool_wait = max(0, oracle_fire + tool_latency - (end_of_turn + asr_final))

and, keeping every other stage as measured (VAD wait, final ASR, answer, first TTS chunk),

    oracle first answer audio = speech_end_to_first_answer_audio - tool_wait + oracle_tool_wait

relative to the end of speech. Word timestamps are computed once per clip and kept beside it
(``audio/<id>.words.json``); a word of the query the ASR did not hear counts as said at the
last word's end (the end of speech), which is the conservative choice.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from streaming.eval.manifest import Clip
from tools.language.text import stem, tokens
from voice.interfaces import Asr

log = logging.getLogger(__name__)
RATE = 16_000
Words = list[dict[str, Any]]  # [{"word": str, "start_ms": int, "end_ms": int}]


def words_path(clip: Clip) -> Path:
    return clip.audio.with_suffix(".words.json")


def word_timestamps(asr: Asr, audio: np.ndarray) -> Words:
    """Words with start/end in ms of ``audio`` (16 kHz), from an ASR that times its words."""
    if not asr.capabilities.word_timestamps:
        raise ValueError(f"ASR {asr.name!r} gives no word timestamps")
    return [asdict(w) for w in asr.words(audio)]


def load_asr(model: str) -> Asr:
    """The ASR ``model``, loaded by the engine's factory (only when a clip needs it)."""
    from streaming.server.engine import load_asr as load

    return load(model)


def clip_words(clip: Clip, asr: Asr | None = None, model: str = "base") -> Words | None:
    """The clip's word timestamps: from the file beside it, else computed with ``asr`` (loaded
    here when None) and written there; None when the audio cannot be read."""
    path = words_path(clip)
    if path.exists():
        try:
            return json.loads(path.read_text())["words"]
        except (ValueError, KeyError):
            log.warning("%s: unreadable, computing it again", path)
    from voice.audio import decode_file

    try:
        audio = decode_file(str(clip.audio), RATE)
    except Exception as exc:  # unreadable audio: no oracle for this clip
        log.warning("%s: no word timestamps (%s)", clip.id, exc)
        return None
    if asr is None:
        asr = load_asr(model)
    words = word_timestamps(asr, audio)
    path.write_text(json.dumps({"asr": asr.name, "words": words}) + "\n")
    return words


def ensure_words(clips: Sequence[Clip], model: str = "base") -> dict[str, Words]:
    """Word timestamps for every clip (computed once, then read back); the model is loaded only
    when some clip has none yet."""
    asr = None
    out: dict[str, Words] = {}
    for clip in clips:
        if asr is None and not words_path(clip).exists() and clip.audio.exists():
            asr = load_asr(model)
        words = clip_words(clip, asr, model)
        if words is not None:
            out[clip.id] = words
    return out


def oracle_fire_ms(words: Words, query: str) -> int | None:
    """When the last content word of ``query`` had been spoken (ms of clip time); None without
    words. A query word the ASR did not hear counts as said at the end of speech."""
    if not words:
        return None
    said: dict[str, int] = {}
    for w in words:
        for tok in tokens(w["word"]):
            said.setdefault(stem(tok), w["end_ms"])
    end = max(w["end_ms"] for w in words)
    needed = {stem(t) for t in tokens(query)}
    return max((said.get(t, end) for t in needed), default=end)


def oracle_turn(row: dict[str, Any], fire_ms: int | None) -> dict[str, float] | None:
    """The turn's oracle tool wait and first answer audio (from the end of speech), or None
    when a figure is missing (an error, a typed turn, no word timestamps)."""
    keys = ("end_of_turn_ms", "asr_final_ms", "tool_wait_ms", "tool_latency_ms")
    first = row.get("speech_end_to_first_answer_audio_ms")
    if fire_ms is None or first is None or any(row.get(k) is None for k in keys):
        return None
    final_at = row["end_of_turn_ms"] + row["asr_final_ms"]
    wait = max(0.0, fire_ms + row["tool_latency_ms"] - final_at)
    return {
        "oracle_tool_wait_ms": round(wait, 1),
        "oracle_first_answer_audio_ms": round(first - row["tool_wait_ms"] + wait, 1),
    }
