"""The browser demo's pure turn reducer (web/turns.js), tested with node's own runner."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_web_turn_reducer():
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    proc = subprocess.run(
        [node, "--test", "tests/web/"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, f"node --test tests/web/ failed\n{proc.stdout}\n{proc.stderr}"
