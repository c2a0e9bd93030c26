"""Real-browser end to end: Debian chromium with a fake microphone playing a spoken question.

The page (web/) captures the "microphone" through getUserMedia and an AudioWorklet, streams
16 kHz PCM16 over the websocket, shows the transcript and the tool call on its timeline, and
plays the spoken answer. Set up with ``bash scripts/setup_browser.sh``; skipped without it.
``STREAMRAG_SAVE_SCREENSHOT=1`` also copies the screenshot to docs/screenshot.png.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from voice.audio import write_wav

ROOT = Path(__file__).resolve().parents[1]
BROWSER_DIR = ROOT / "tests" / "browser"
CHROMIUM = Path("/usr/bin/chromium")
PLAYWRIGHT = BROWSER_DIR / "node_modules" / "playwright-core"
TIMEOUT_S = 90


def _missing() -> str | None:
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (run scripts/setup_browser.sh)"
    if not PLAYWRIGHT.exists():
        return (
            "tests/browser/node_modules/playwright-core is missing (run scripts/setup_browser.sh)"
        )
    if shutil.which("node") is None:
        return "node is not installed"
    return None


pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(_missing() is not None, reason=_missing() or ""),
]


async def test_spoken_question_in_real_browser(server, speech, tmp_path):
    audio = speech("what is the capital of australia", lead_s=1.0)
    audio = np.concatenate([audio, np.zeros(2 * 16000, np.float32)])
    wav = tmp_path / "question.wav"
    write_wav(wav, audio, 16000)
    shot = tmp_path / "screenshot.png"

    proc = await asyncio.create_subprocess_exec(
        "node",
        str(BROWSER_DIR / "run_page.mjs"),
        f"{server.http_url}/?agc=0",
        str(wav),
        str(shot),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "STREAMRAG_BROWSER_TIMEOUT_MS": str((TIMEOUT_S - 10) * 1000)},
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), TIMEOUT_S)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.wait()
        pytest.fail(f"the browser run took over {TIMEOUT_S} s")
    stdout, stderr = out.decode(errors="replace"), err.decode(errors="replace")
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    assert lines, f"no JSON from run_page.mjs (rc={proc.returncode})\n{stdout}\n{stderr}"
    report = json.loads(lines[-1])
    state = report.get("state") or {}
    detail = (
        f"rc={proc.returncode}\nstate={json.dumps(state, indent=1)[:6000]}\nstderr={stderr[-3000:]}"
    )

    if os.environ.get("STREAMRAG_SAVE_SCREENSHOT") == "1" and shot.exists():
        (ROOT / "docs").mkdir(exist_ok=True)
        shutil.copyfile(shot, ROOT / "docs" / "screenshot.png")

    assert state, f"the page never reported its state\n{detail}"
    assert state.get("captureRms", 0) > 0.01, f"the fake microphone was silent\n{detail}"
    assert proc.returncode == 0, f"the page did not finish the turn\n{detail}"
    finals = " ".join(state.get("transcripts") or [])
    assert "australia" in finals.lower(), f"unexpected transcript {finals!r}\n{detail}"
    assert state.get("toolCalls", 0) >= 1, detail
    assert state["dom"]["timelineToolCalls"] >= 1, f"no tool call on the timeline\n{detail}"
    assert state.get("audioFramesPlayed", 0) > 0, f"no answer audio played\n{detail}"
    assert shot.exists() and shot.stat().st_size > 0
