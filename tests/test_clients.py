"""The replay and microphone clients: real server, real speech, and their command-line errors."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
import types
import wave
from pathlib import Path

import av
import numpy as np
import pytest

from streaming.cli.main import main
from streaming.client.conversation import run_mic
from streaming.client.devices import BufferSink, FileSource
from streaming.client.replay import replay_files
from streaming.client.session_io import turns_done
from voice.audio import float32_to_pcm16, resample, write_wav

ROOT = Path(__file__).resolve().parents[1]


def silence(seconds: float, rate: int = 16000) -> np.ndarray:
    return np.zeros(int(seconds * rate), np.float32)


def write_stereo_wav(path: Path, samples: np.ndarray, rate: int) -> None:
    pcm = np.frombuffer(float32_to_pcm16(resample(samples, 16000, rate)), "<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.repeat(pcm, 2).tobytes())  # L R L R ...


def write_flac(path: Path, samples: np.ndarray, rate: int = 16000) -> None:
    pcm = np.frombuffer(float32_to_pcm16(samples), "<i2").reshape(1, -1)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("flac", rate=rate, layout="mono")
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
        frame.sample_rate = rate
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            out.mux(packet)


def test_turns_done_waits_for_the_last_turns_metrics() -> None:
    assert turns_done([])
    assert not turns_done(["speech_start"])
    assert not turns_done(["speech_start", "end_of_turn", "final"])
    assert turns_done(["speech_start", "end_of_turn", "final", "turn_metrics"])
    # barge-in: the old turn's metrics follow the new speech_start; the new turn is still open
    barge = ["speech_start", "end_of_turn", "interrupted", "speech_start", "turn_metrics"]
    assert not turns_done(barge)
    assert not turns_done([*barge, "end_of_turn"])
    assert turns_done([*barge, "end_of_turn", "turn_metrics"])


@pytest.mark.slow
async def test_mic_loop_from_a_file_prints_transcript_and_answer_and_plays_audio(
    server, speech, tmp_path
):
    audio = np.concatenate([speech("what is the capital of austria", lead_s=0.5), silence(2.0)])
    path = tmp_path / "mic.wav"
    write_wav(path, audio, 16000)
    lines: list[str] = []
    sink = BufferSink(rate=24000)
    summary = await asyncio.wait_for(
        run_mic(server.ws_url, FileSource(path), sink, printer=lines.append, stop_after_turns=1),
        180,
    )
    out = "\n".join(lines)
    assert summary.turns == 1 and len(summary.finals) == 1, out
    final, answer = summary.finals[0], summary.answers[0]
    assert "austria" in final.lower() and f"you: {final}" in out, out
    assert "vienna" in answer.lower(), out
    spoken = [line.removeprefix("assistant: ") for line in lines if line.startswith("assistant: ")]
    assert " ".join(spoken) == answer, out
    assert any(line.startswith("... ") for line in lines), "no partial transcripts printed"
    assert "tool " in out and "speech end -> first answer audio" in out, out

    pcm = np.frombuffer(bytes(sink.audio), "<i2").astype(np.float32) / 32768
    assert summary.audio_bytes == len(sink.audio) and sink.flushes == 0
    assert 0.5 < pcm.size / 24000 < 20, "answer audio missing or absurd"
    assert float(np.sqrt(np.mean(pcm**2))) > 0.02, "answer audio is silent"


@pytest.mark.slow
async def test_mic_loop_flushes_the_sink_on_barge_in(server, speech, tmp_path):
    question = speech("tell me about the eiffel tower", lead_s=0.5)
    audio = np.concatenate([question, silence(2.5), speech("please stop", lead_s=0), silence(2)])
    path = tmp_path / "barge.wav"
    write_wav(path, audio, 16000)
    lines: list[str] = []
    sink = BufferSink()
    summary = await asyncio.wait_for(
        run_mic(server.ws_url, FileSource(path), sink, printer=lines.append), 180
    )
    out = "\n".join(lines)
    assert summary.interruptions == 1 and sink.flushes == 1, out
    assert summary.turns >= 2 and summary.answers == [], out  # "please stop" needs no answer
    assert any(line.startswith("[interrupted:") for line in lines), out


@pytest.mark.slow
async def test_replay_batch_writes_event_logs_and_answer_wavs(server, speech, tmp_path):
    questions = {
        "q16k.wav": "what is the capital of austria",
        "q44k_stereo.wav": "what is the capital of australia",
        "q.flac": "tell me about the eiffel tower in paris",
    }
    paths = []
    for name, text in questions.items():
        path, audio = tmp_path / name, speech(text, lead_s=0.5)
        if name == "q16k.wav":
            write_wav(path, audio, 16000)
        elif name.endswith("stereo.wav"):
            write_stereo_wav(path, audio, 44100)
        else:
            write_flac(path, audio)
        paths.append(path)
    out = tmp_path / "out"
    live: list[tuple[Path, dict]] = []
    results = await asyncio.wait_for(
        replay_files(
            server.ws_url,
            paths,
            speed=2.0,
            out_dir=out,
            output_sample_rate=24000,
            on_event=lambda p, e: live.append((p, e)),
        ),
        300,
    )
    assert [r.path for r in results] == paths
    for path, result in zip(paths, results, strict=True):
        assert result.error is None, result.error
        logged = json.loads((out / f"{path.stem}.events.json").read_text())
        events = logged["events"]
        kinds = [e["type"] for e in events]
        assert "final" in kinds and "answer_done" in kinds, kinds
        times = [e["t_ms"] for e in events]
        assert times == sorted(times), "client timestamps must not go back"
        final_at, done_at = kinds.index("final"), kinds.index("answer_done")
        assert 0 < times[final_at] < times[done_at]
        assert len([p for p, _ in live if p == path]) == len(events)
        summary = logged["summary"]
        assert summary["final"] == result.final and summary["answer"] == result.answer
        assert summary["turn_metrics"] and summary["speech_end_to_first_audio_ms"] is not None
        with wave.open(str(out / f"{path.stem}.answer.wav")) as w:
            assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (24000, 1, 2)
            seconds = w.getnframes() / w.getframerate()
        audio_ms = sum(e["audio_ms"] for e in events if e["type"] == "answer_done")
        assert abs(seconds * 1000 - audio_ms) < 150, (seconds, audio_ms)
    assert "austria" in results[0].final.lower() and "vienna" in results[0].answer.lower()
    assert "australia" in results[1].final.lower(), "44.1 kHz stereo was not decoded right"
    assert "canberra" in results[1].answer.lower()
    assert "eiffel" in results[2].final.lower(), "FLAC was not decoded right"


def test_mic_without_sounddevice_exits_2_with_a_clear_message(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "sounddevice", None)  # import fails, installed or not
    assert main(["mic", "--url", "ws://127.0.0.1:9/ws"]) == 2
    err = capsys.readouterr().err
    assert "sounddevice is not installed" in err and "streamrag[mic]" in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_mic_without_an_input_device_exits_2(monkeypatch, capsys):
    fake = types.ModuleType("sounddevice")

    class PortAudioError(Exception):
        pass

    def query_devices(device=None, kind=None):
        raise PortAudioError("Error querying device -1")

    fake.PortAudioError, fake.query_devices = PortAudioError, query_devices
    monkeypatch.setitem(sys.modules, "sounddevice", fake)
    assert main(["mic"]) == 2
    err = capsys.readouterr().err
    assert "no audio input device" in err and err.count("\n") == 1, err


FAKE_SOUNDDEVICE = """
"A fake sounddevice: the microphone plays $FAKE_SD_WAV at 48 kHz; output goes to $FAKE_SD_OUT."
import os, threading, time
import numpy as np
from voice.audio import decode_file

class PortAudioError(Exception):
    pass

def query_devices(device=None, kind=None):
    return {"name": f"fake {kind}", "max_input_channels": 1, "max_output_channels": 1,
            "default_samplerate": 48000.0}

class _Stream:
    def __init__(self, samplerate, callback, blocksize=0, **kw):
        self.rate, self.callback = int(samplerate), callback
        self.block = blocksize or self.rate // 50
        self.done, self.thread = threading.Event(), threading.Thread(target=self.run, daemon=True)
    def start(self): self.thread.start()
    def stop(self): self.done.set(); self.thread.join()
    def close(self): pass
    def __enter__(self): self.start(); return self
    def __exit__(self, *exc): self.stop()
    def run(self):
        t0, i = time.monotonic(), 0
        while not self.done.is_set():
            self.tick(i)
            i += 1
            time.sleep(max(0.0, t0 + i * self.block / self.rate - time.monotonic()))

class InputStream(_Stream):
    def tick(self, i):
        if i == 0:
            self.audio = decode_file(os.environ["FAKE_SD_WAV"], self.rate)
        chunk = self.audio[i * self.block : (i + 1) * self.block]
        chunk = np.pad(chunk, (0, self.block - chunk.size)).astype(np.float32).reshape(-1, 1)
        self.callback(chunk, self.block, None, None)

class RawOutputStream(_Stream):
    def tick(self, i):
        out = bytearray(self.block * 2)
        self.callback(out, self.block, None, None)
        with open(os.environ["FAKE_SD_OUT"], "ab") as f:
            f.write(out)
"""


def _ignore_sigint() -> None:  # what a background job of a non-interactive shell inherits
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.slow
@pytest.mark.parametrize("inherited", ["default", "sigint-ignored"])
async def test_mic_cli_on_a_fake_portaudio_device_answers_and_stops_on_ctrl_c(
    server, speech, tmp_path, inherited
):
    (tmp_path / "sounddevice.py").write_text(FAKE_SOUNDDEVICE)
    wav, played = tmp_path / "in.wav", tmp_path / "played.pcm"
    write_wav(wav, speech("what is the capital of austria", lead_s=0.5), 16000)
    env = dict(os.environ, PYTHONPATH=f"{tmp_path}:{ROOT}", FAKE_SD_WAV=str(wav))
    env["FAKE_SD_OUT"] = str(played)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "streaming.cli.main", "mic", "--url", server.ws_url, cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        preexec_fn=_ignore_sigint if inherited == "sigint-ignored" else None,
    )  # fmt: skip
    lines = []
    try:
        async with asyncio.timeout(180):
            while not any(line.startswith("[turn 1:") for line in lines):
                raw = await proc.stdout.readline()
                assert raw, f"mic ended early: {lines}"
                lines.append(raw.decode().rstrip("\n"))
    finally:
        proc.send_signal(signal.SIGINT)  # Ctrl-C
        rest, err = await asyncio.wait_for(proc.communicate(), 60)
    out = "\n".join(lines) + rest.decode()
    assert proc.returncode == 0 and "stopped" in out, (proc.returncode, out, err.decode())
    assert "Traceback" not in err.decode(), err.decode()
    assert "you: " in out and "vienna" in out.lower(), out
    pcm = np.frombuffer(played.read_bytes(), "<i2").astype(np.float32) / 32768
    assert np.count_nonzero(pcm) / 48000 > 0.5, "the answer was not played"


async def run_cli(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "streaming.cli.main", *args, cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    return proc.returncode, out.decode(), err.decode()


async def test_replay_cli_fails_in_one_line_on_a_closed_port_and_a_bad_file(tmp_path):
    good, bad = tmp_path / "tone.wav", tmp_path / "bad.mp3"
    write_wav(good, 0.1 * np.sin(np.arange(8000) / 5).astype(np.float32), 16000)
    bad.write_bytes(b"this is not audio" * 100)
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"ws://127.0.0.1:{port}/ws"
    (rc1, _, err1), (rc2, _, err2) = await asyncio.gather(
        run_cli("replay", str(good), "--url", url), run_cli("replay", str(bad), "--url", url)
    )
    assert rc1 != 0 and f"cannot open a session at {url}" in err1, err1
    assert rc2 != 0 and "cannot decode" in err2 and "bad.mp3" in err2, err2
    for err in (err1, err2):
        assert err.count("\n") == 1 and "Traceback" not in err, err
