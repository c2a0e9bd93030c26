"""Audio in and out: VAD, streaming ASR, end of turn, Smart Turn, TTS and the model workers."""

import os

# CTranslate2's OpenMP threads sleep when idle instead of spinning. libgomp reads this once, when
# it loads (the first faster_whisper import, always after this). With two whisper models on two
# cores, spinning threads burn the CPU the other model needs: base decoding while a tiny.en
# partial runs took 716 ms (P50) spinning, 563 ms passive; alone 436 vs 432 (docs/decisions.md).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
