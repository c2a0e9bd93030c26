"""Audio device I/O for the live client: pluggable sources of speech and sinks for the answer.

``sounddevice`` (PortAudio) is an optional extra (``pip install 'streamrag[mic]'``) and is only
imported when a :class:`SoundDeviceSource` or :class:`SoundDeviceSink` is built. The file source
and the buffer sink let the very same conversation loop run in tests. Use headphones: the server
has no echo cancellation, so an answer played through speakers into the microphone barges in on
itself.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

import numpy as np

from streaming.client.session_io import ClientError, decode_all
from streaming.protocol import SUPPORTED_RATES
from voice.audio import ASR_RATE, StreamResampler

log = logging.getLogger(__name__)
CHUNK_MS = 20


class MicUnavailable(ClientError):
    """No usable audio device (or no sounddevice/PortAudio): the CLI exits with code 2."""


class AudioSource(Protocol):
    """An async iterator of float32 mono chunks at 16 kHz, about 20 ms each."""

    def __aiter__(self) -> AsyncIterator[np.ndarray]: ...


class AudioSink(Protocol):
    """Plays the answer: mono PCM16 at ``rate`` (the rate asked of the server)."""

    rate: int

    def start(self) -> None: ...

    def write(self, pcm16: bytes) -> None: ...

    def flush(self) -> None:
        """Drop everything not yet played (barge-in)."""

    def close(self) -> None: ...


def load_sounddevice() -> ModuleType:
    """The ``sounddevice`` module, or :class:`MicUnavailable` saying what to install."""
    try:
        import sounddevice
    except ImportError as exc:
        raise MicUnavailable(
            "sounddevice is not installed; install the mic extra: pip install 'streamrag[mic]'"
        ) from exc
    except OSError as exc:  # the module is there but PortAudio is not
        raise MicUnavailable(f"PortAudio is not available ({exc}); install libportaudio2") from exc
    return sounddevice


def query_device(sd: ModuleType, device: int | str | None, kind: str) -> dict[str, Any]:
    """The device's info, or :class:`MicUnavailable` when there is no such ``kind`` device."""
    try:
        info = dict(sd.query_devices(device, kind=kind))
    except (ValueError, getattr(sd, "PortAudioError", OSError)) as exc:
        which = "the default" if device is None else f"{device!r} as"
        raise MicUnavailable(f"no audio {kind} device ({which} {kind}: {exc})") from exc
    if info.get(f"max_{kind}_channels", 0) < 1:
        raise MicUnavailable(f"audio device {info.get('name', device)!r} has no {kind} channels")
    return info


class SoundDeviceSource:
    """The microphone, at the device's own rate, resampled to 16 kHz."""

    def __init__(self, device: int | str | None = None, chunk_ms: int = CHUNK_MS) -> None:
        self.sd = load_sounddevice()
        self.device = device
        self.info = query_device(self.sd, device, "input")
        self.rate = int(self.info["default_samplerate"])
        self.chunk_ms = chunk_ms

    async def __aiter__(self) -> AsyncIterator[np.ndarray]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[np.ndarray] = asyncio.Queue(maxsize=250)  # 5 s
        resampler = StreamResampler(self.rate, ASR_RATE)

        def put(chunk: np.ndarray) -> None:
            if queue.full():  # the loop fell behind: drop the oldest audio, stay live
                queue.get_nowait()
            queue.put_nowait(chunk)

        def callback(indata: np.ndarray, frames: int, when: Any, status: Any) -> None:
            if status:
                log.debug("input status: %s", status)
            try:
                loop.call_soon_threadsafe(put, indata[:, 0].copy())
            except RuntimeError:  # the loop is closing
                pass

        try:
            stream = self.sd.InputStream(
                device=self.device,
                channels=1,
                samplerate=self.rate,
                dtype="float32",
                blocksize=self.rate * self.chunk_ms // 1000,
                callback=callback,
            )
        except Exception as exc:  # PortAudioError and friends
            raise MicUnavailable(f"cannot open the input device: {exc}") from exc
        with stream:
            while True:
                out = resampler.push(await queue.get())
                if out.size:
                    yield out


class FileSource:
    """An audio file as if spoken into the microphone (``realtime``: paced to the clock)."""

    def __init__(self, path: str | Path, realtime: bool = True, chunk_ms: int = CHUNK_MS) -> None:
        self.path = Path(path)
        self.realtime = realtime
        self.chunk_ms = chunk_ms

    async def __aiter__(self) -> AsyncIterator[np.ndarray]:
        [samples] = await asyncio.to_thread(decode_all, [self.path])
        step = ASR_RATE * self.chunk_ms // 1000
        t0 = time.monotonic()
        for i in range(0, samples.size, step):
            delay = t0 + i / ASR_RATE - time.monotonic() if self.realtime else 0.0
            await asyncio.sleep(max(delay, 0.0))
            yield samples[i : i + step]


class SoundDeviceSink:
    """Plays through PortAudio from a byte buffer that :meth:`flush` empties at once."""

    def __init__(self, device: int | str | None = None, rate: int | None = None) -> None:
        self.sd = load_sounddevice()
        self.device = device
        native = int(query_device(self.sd, device, "output")["default_samplerate"])
        self.rate = rate or (native if native in SUPPORTED_RATES else 48000)
        self._buf = bytearray()
        self._lock = threading.Lock()
        self._stream: Any = None

    def _callback(self, outdata: Any, frames: int, when: Any, status: Any) -> None:
        n = len(outdata)
        with self._lock:
            chunk = bytes(self._buf[:n])
            del self._buf[:n]
        outdata[: len(chunk)] = chunk
        outdata[len(chunk) :] = b"\x00" * (n - len(chunk))

    def start(self) -> None:
        try:
            self._stream = self.sd.RawOutputStream(
                device=self.device,
                samplerate=self.rate,
                channels=1,
                dtype="int16",
                callback=self._callback,
            )
            self._stream.start()
        except Exception as exc:
            raise MicUnavailable(f"cannot open the output device: {exc}") from exc

    def write(self, pcm16: bytes) -> None:
        with self._lock:
            self._buf += pcm16

    def flush(self) -> None:
        with self._lock:
            self._buf.clear()

    def close(self) -> None:
        """Let up to a second of queued audio play out, then stop."""
        deadline = time.monotonic() + 1.0
        while self._buf and time.monotonic() < deadline:
            time.sleep(0.02)
        if self._stream is not None:
            self._stream.stop()
            self._stream.close()
            self._stream = None


class NullSink:
    """Discards the answer audio (text only)."""

    def __init__(self, rate: int = 16000) -> None:
        self.rate = rate

    def start(self) -> None: ...

    def write(self, pcm16: bytes) -> None: ...

    def flush(self) -> None: ...

    def close(self) -> None: ...


class BufferSink(NullSink):
    """Records everything it was given to play, and how often it was flushed."""

    def __init__(self, rate: int = 16000) -> None:
        super().__init__(rate)
        self.audio = bytearray()
        self.flushes = 0

    def write(self, pcm16: bytes) -> None:
        self.audio += pcm16

    def flush(self) -> None:
        self.flushes += 1
