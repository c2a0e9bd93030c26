"""Audio utilities: PCM16 <-> float32, streaming resampling and file decoding.

Resampling and decoding use PyAV (FFmpeg's libswresample and decoders), which ships as a
wheel, so the default install needs neither torch nor torchaudio.
"""

from __future__ import annotations

import wave
from pathlib import Path

import av
import numpy as np

ASR_RATE = 16_000


def pcm16_to_float32(data: bytes) -> np.ndarray:
    """Little-endian PCM16 bytes to float32 in [-1, 1)."""
    if len(data) % 2:
        raise ValueError("PCM16 data must have an even number of bytes")
    return np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0


def float32_to_pcm16(samples: np.ndarray) -> bytes:
    """float32 samples to little-endian PCM16 bytes (clipped)."""
    clipped = np.clip(samples, -1.0, 32767 / 32768)
    return (clipped * 32768.0).astype("<i2").tobytes()


class StreamResampler:
    """Stateful mono resampler: push float32 chunks at ``src_rate``, get ``dst_rate`` chunks."""

    def __init__(self, src_rate: int, dst_rate: int) -> None:
        self.src_rate = src_rate
        self.dst_rate = dst_rate
        self._pts = 0
        self._resampler = (
            None
            if src_rate == dst_rate
            else av.AudioResampler(format="s16", layout="mono", rate=dst_rate)
        )

    def push(self, samples: np.ndarray) -> np.ndarray:
        if self._resampler is None or samples.size == 0:
            return samples.astype(np.float32, copy=False)
        pcm = (np.clip(samples, -1.0, 32767 / 32768) * 32768.0).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = self.src_rate
        frame.pts = self._pts
        self._pts += pcm.size
        return self._collect(self._resampler.resample(frame))

    def flush(self) -> np.ndarray:
        if self._resampler is None:
            return np.zeros(0, np.float32)
        return self._collect(self._resampler.resample(None))

    @staticmethod
    def _collect(frames: list[av.AudioFrame]) -> np.ndarray:
        if not frames:
            return np.zeros(0, np.float32)
        out = np.concatenate([f.to_ndarray().reshape(-1) for f in frames])
        return out.astype(np.float32) / 32768.0


def resample(samples: np.ndarray, src_rate: int, dst_rate: int) -> np.ndarray:
    """One-shot resampling of a whole signal."""
    if src_rate == dst_rate:
        return samples.astype(np.float32, copy=False)
    r = StreamResampler(src_rate, dst_rate)
    return np.concatenate([r.push(samples), r.flush()])


def decode_file(path: str | Path, rate: int = ASR_RATE) -> np.ndarray:
    """Decode any audio file PyAV reads (WAV, FLAC, MP3, ...) to mono float32 at ``rate``."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="s16", layout="mono", rate=rate)
        chunks = []
        for frame in container.decode(stream):
            chunks += [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
        chunks += [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]
    if not chunks:
        return np.zeros(0, np.float32)
    return np.concatenate(chunks).astype(np.float32) / 32768.0


def write_wav(path: str | Path, samples: np.ndarray, rate: int) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(float32_to_pcm16(samples))
