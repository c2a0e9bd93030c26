"""The architecture's layers, checked from the imports: a lower layer never imports a higher one.

Layers (README, "Modules"): language < tools < voice < wire (protocol, events) < rag, answer
< server;
client sits on wire alone; eval may drive clients and start a server; cli wires everything.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# layer -> the layers it may import (itself always allowed)
ALLOWED: dict[str, set[str]] = {
    "language": set(),
    "tools": {"language"},
    "voice": {"language", "tools"},
    "wire": {"language", "tools", "voice"},
    "rag": {"language", "tools", "voice", "wire"},
    "answer": {"language", "tools", "voice", "wire"},
    "server": {"language", "tools", "voice", "wire", "rag", "answer"},
    "client": {"language", "tools", "voice", "wire"},
    "eval": {"language", "tools", "voice", "wire", "client", "server", "rag", "answer"},
    "cli": {"language", "tools", "voice", "wire", "rag", "answer", "server", "client", "eval"},
}


def layer_of(module: str) -> str | None:
    parts = module.split(".")
    if parts[:2] == ["tools", "language"]:
        return "language"
    if parts[0] in {"tools", "voice"}:
        return parts[0]
    if parts[0] != "streaming" or len(parts) < 2:
        return None
    if parts[1] in {"protocol", "events"}:
        return "wire"
    return parts[1] if parts[1] in ALLOWED else None


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> list[tuple[int, str]]:
    """Every module this file imports (top level or inside functions), relative ones resolved."""
    tree = ast.parse(path.read_text(), str(path))
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package[: len(package) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found.append((node.lineno, base))
    return found


def source_files() -> list[Path]:
    return sorted(p for d in ("tools", "voice", "streaming") for p in (ROOT / d).rglob("*.py"))


def violations(files: list[Path]) -> list[str]:
    bad = []
    for path in files:
        own = layer_of(module_name(path))
        if own is None:
            continue
        for line, target in imports_of(path):
            other = layer_of(target)
            if other is not None and other != own and other not in ALLOWED[own]:
                bad.append(f"{path.relative_to(ROOT)}:{line}: {own} imports {other} ({target})")
    return bad


def test_every_module_belongs_to_a_layer():
    loose = [
        str(p.relative_to(ROOT))
        for p in source_files()
        if layer_of(module_name(p)) is None and p.name != "__init__.py"
    ]
    assert not loose, f"modules outside every layer (add them to ALLOWED): {loose}"


def test_no_lower_layer_imports_a_higher_one():
    assert not violations(source_files()), "\n".join(violations(source_files()))


def test_the_checker_catches_a_violation(tmp_path, monkeypatch):
    """The check itself can fail: a rag module importing the server is reported."""
    fake = ROOT / "streaming" / "rag" / "_layer_probe.py"
    monkeypatch.setattr(Path, "read_text", lambda self, *a, **k: "from ..server import app\n")
    assert violations([fake]) == [
        "streaming/rag/_layer_probe.py:1: rag imports server (streaming.server)"
    ]


@pytest.mark.parametrize("path", source_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_module_is_small_and_says_its_job(path):
    text = path.read_text()
    if path.name == "__init__.py" and not text.strip():
        return
    assert len(text.splitlines()) <= 420, f"{path.name}: split it, one job per module"
    doc = ast.get_docstring(ast.parse(text))
    assert doc and doc.splitlines()[0].strip(), f"{path.name}: first line should say its one job"
