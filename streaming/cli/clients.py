"""``streamrag replay`` and ``streamrag mic``: the command-line faces of the Python clients.

Exit codes: 0 done, 1 a session or file problem (one line on stderr, no traceback), 2 usage or no
usable audio device, 130 interrupted replay. Ctrl-C ends ``mic`` cleanly with code 0.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import sys
from collections.abc import Awaitable
from pathlib import Path
from typing import Any, TextIO, TypeVar

from streaming.client.conversation import run_mic
from streaming.client.devices import (
    AudioSink,
    MicUnavailable,
    NullSink,
    SoundDeviceSink,
    SoundDeviceSource,
)
from streaming.client.display import describe_event, partial_line
from streaming.client.replay import ReplayResult, replay_files
from streaming.client.session_io import ClientError
from streaming.events import PartialTranscript, ToolCall
from streaming.protocol import STRATEGIES, SUPPORTED_RATES

DEFAULT_URL = "ws://127.0.0.1:8765/ws"
CLEANUP_S = 5.0  # after Ctrl-C / SIGTERM: how long closing the session may take
T = TypeVar("T")


async def until_signalled(work: Awaitable[T]) -> tuple[T | None, bool]:
    """Run ``work`` until it ends or SIGINT/SIGTERM arrives: ``(result, False)`` or
    ``(None, True)``. The handlers are installed explicitly, so Ctrl-C works even when the
    process inherited SIGINT as ignored (a background job of a non-interactive shell), and the
    cleanup after a signal is bounded by ``CLEANUP_S``."""
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(work)
    signalled = False

    def stop() -> None:
        nonlocal signalled
        if signalled:  # a second Ctrl-C: leave now
            os._exit(130)
        signalled = True
        task.cancel()
        loop.call_later(CLEANUP_S, os._exit, 130)  # cleanup that hangs must not keep us

    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop)
            installed.append(sig)
        except (NotImplementedError, RuntimeError):  # not the main thread, or no such signal
            pass
    try:
        return await task, False
    except asyncio.CancelledError:
        if signalled:
            return None, True
        raise
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


class Console:
    """Prints event lines; partial transcripts overwrite one line when the output is a TTY."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout
        self.tty = self.stream.isatty()
        self._dirty = False  # a partial line is on screen

    def __call__(self, line: str) -> None:
        self._clear()
        print(line, file=self.stream, flush=True)

    def partial(self, stable: str, tail: str) -> None:
        if not self.tty:
            print(partial_line(stable, tail), file=self.stream, flush=True)
            return
        width = shutil.get_terminal_size().columns - 1
        text = " ".join(x for x in ("...", stable, tail) if x)
        if len(text) > width:  # keep the newest words; a wrapped line cannot be overwritten
            text = "..." + text[-(width - 3) :]
        cut = max(0, len(text) - len(tail)) if tail else len(text)
        self.stream.write(f"\r\x1b[K{text[:cut]}\x1b[2m{text[cut:]}\x1b[0m")
        self.stream.flush()
        self._dirty = True

    def _clear(self) -> None:
        if self._dirty:
            self.stream.write("\r\x1b[K")
            self._dirty = False


def _fail(command: str, message: str, code: int = 1) -> int:
    print(f"streamrag {command}: {message}", file=sys.stderr)
    return code


def _options(args: argparse.Namespace) -> dict[str, Any] | None:
    return {"strategy": args.strategy} if args.strategy else None


def _replay(args: argparse.Namespace) -> int:
    console = Console()
    current: list[Path] = []

    def on_event(path: Path, event: dict[str, Any]) -> None:
        if args.json:
            print(json.dumps({"file": str(path), **event}), flush=True)
            return
        if not current or current[-1] != path:
            current.append(path)
            console(f"== {path}")
        if event["type"] == PartialTranscript.type:
            console.partial(event["stable"], event["tail"])
        elif line := describe_event(event):
            console(line)

    def on_result(r: ReplayResult) -> None:
        if args.json:
            print(json.dumps({"file": str(r.path), "summary": r.summary()}), flush=True)
            return
        fmt = lambda v: "n/a" if v is None else f"{v:.0f} ms"  # noqa: E731
        calls = r.of(ToolCall.type)
        speculative = sum(bool(c.get("speculative")) for c in calls)
        console(f"-- {r.path.name}: transcript {r.final!r}")
        console(f"   tool calls: {len(calls)} ({speculative} speculative)")
        console(f"   answer {r.answer!r} ({r.answer_audio.size / r.output_rate:.1f} s of audio)")
        console(
            f"   speech end -> first answer audio: {fmt(r.speech_end_to_first_audio_ms)} "
            f"(server), {fmt(r.client_latency_ms)} (client)"
        )
        if r.events_path:
            console(f"   wrote {r.events_path} and {r.wav_path}")
        if r.error:
            console(f"   error: {r.error}")

    try:
        results = asyncio.run(
            replay_files(
                args.url,
                args.files,
                speed=args.speed,
                trailing_silence_s=args.trailing_silence,
                out_dir=args.out,
                options=_options(args),
                on_event=on_event,
                on_result=on_result,
                output_sample_rate=args.output_rate,
                timeout_s=args.timeout,
            )
        )
    except ClientError as exc:
        return _fail("replay", str(exc))
    except KeyboardInterrupt:
        return _fail("replay", "interrupted", 130)
    failed = [r for r in results if r.error]
    if failed:
        return _fail("replay", f"{len(failed)} of {len(results)} files failed: {failed[0].error}")
    return 0


def _device(value: str | None) -> int | str | None:
    return int(value) if value is not None and value.isdigit() else value


def _mic(args: argparse.Namespace) -> int:
    console = Console()
    try:
        source = SoundDeviceSource(_device(args.device))
    except MicUnavailable as exc:
        return _fail("mic", str(exc), 2)
    sink: AudioSink
    try:
        sink = NullSink() if args.no_playback else SoundDeviceSink(_device(args.output_device))
    except MicUnavailable as exc:
        console(f"(no playback: {exc})")
        sink = NullSink()
    console(f"listening on {source.info.get('name', 'the default microphone')}; Ctrl-C to stop")
    try:
        summary, stopped = asyncio.run(
            until_signalled(
                run_mic(args.url, source, sink, options=_options(args), printer=console)
            )
        )
    except MicUnavailable as exc:
        return _fail("mic", str(exc), 2)
    except ClientError as exc:
        return _fail("mic", str(exc))
    except KeyboardInterrupt:
        stopped, summary = True, None
    if stopped or summary is None:
        console("stopped")
        return 0
    console(f"{summary.turns} turns")
    return 0


def add_client_commands(sub: argparse._SubParsersAction) -> None:
    """Register ``replay`` and ``mic`` on the ``streamrag`` command line."""

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--url", default=DEFAULT_URL, help=f"server websocket (default {DEFAULT_URL})"
        )
        p.add_argument("--strategy", choices=STRATEGIES, help="tool-call strategy for the session")
        p.add_argument("--log-level", default="WARNING", help="logging level (default WARNING)")

    p = sub.add_parser("replay", help="stream audio files to the server and log what comes back")
    p.add_argument("files", nargs="+", metavar="FILE", help="WAV, FLAC or MP3 (any rate/channels)")
    common(p)
    p.add_argument("--speed", type=float, default=1.0, help="x real time, at most 4 (default 1)")
    p.add_argument("--out", type=Path, help="write <stem>.events.json and <stem>.answer.wav here")
    p.add_argument("--json", action="store_true", help="JSON lines: every event, then a summary")
    p.add_argument("--output-rate", type=int, default=16000, choices=SUPPORTED_RATES)
    p.add_argument("--trailing-silence", type=float, default=1.5, help="seconds after each file")
    p.add_argument("--timeout", type=float, default=90.0, help="seconds to wait for an answer")
    p.set_defaults(func=_replay)

    p = sub.add_parser("mic", help="talk to the server from the microphone (needs the mic extra)")
    common(p)
    p.add_argument("--device", help="input device index or name (default: system default)")
    p.add_argument("--output-device", help="output device index or name")
    p.add_argument("--no-playback", action="store_true", help="print answers, do not play them")
    p.set_defaults(func=_mic)
