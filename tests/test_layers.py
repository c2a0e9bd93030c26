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


def import_cycles(files: list[Path]) -> list[list[str]]:
    """Cycles in the import graph of ``files`` (every import, in functions too), each listed once
    from its smallest module. An import of a package counts as one of its ``__init__``."""
    graph: dict[str, set[str]] = {module_name(p): set() for p in files}
    for path in files:
        for _, target in imports_of(path):
            parts = target.split(".")
            while parts and ".".join(parts) not in graph:  # "from .x import name": the module x
                parts.pop()
            if parts and ".".join(parts) != module_name(path):
                graph[module_name(path)].add(".".join(parts))
    cycles: set[tuple[str, ...]] = set()

    def walk(node: str, path: list[str]) -> None:
        for nxt in sorted(graph[node]):
            if nxt in path:
                cycle = path[path.index(nxt) :]
                i = cycle.index(min(cycle))
                cycles.add(tuple(cycle[i:] + cycle[:i]))
            elif nxt > path[0]:  # each cycle is found from its smallest module only
                walk(nxt, [*path, nxt])

    for start in sorted(graph):
        walk(start, [start])
    return [list(c) for c in sorted(cycles)]


def test_no_import_cycles_among_tools_modules():
    """The tools import in one direction (the knowledge graph: names, values -> facts -> base ->
    arith -> reason -> graph -> tool), so any of them can be read, tested and loaded alone."""
    tools = sorted((ROOT / "tools").rglob("*.py"))
    cycles = import_cycles(tools)
    assert not cycles, "\n".join(" -> ".join([*c, c[0]]) for c in cycles)


def test_the_cycle_check_finds_a_cycle(monkeypatch):
    """The check itself can fail: a graph module importing its reasoning lazily is a cycle."""
    graph, reason = ROOT / "tools/kg/graph.py", ROOT / "tools/kg/reason.py"
    probe = ROOT / "tools/kg/facts.py"
    original = Path.read_text
    extra = "\ndef _probe():\n    from .graph import KnowledgeGraph\n"

    def read_text(self: Path, *a, **k) -> str:
        return original(self, *a, **k) + (extra if self == probe else "")

    monkeypatch.setattr(Path, "read_text", read_text)
    cycles = import_cycles([probe, graph, reason, ROOT / "tools/kg/base.py"])
    assert ["tools.kg.base", "tools.kg.facts", "tools.kg.graph", "tools.kg.reason"] in cycles


@pytest.mark.parametrize("path", source_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_module_is_small_and_says_its_job(path):
    text = path.read_text()
    if path.name == "__init__.py" and not text.strip():
        return
    assert len(text.splitlines()) <= 420, f"{path.name}: split it, one job per module"
    doc = ast.get_docstring(ast.parse(text))
    assert doc and doc.splitlines()[0].strip(), f"{path.name}: first line should say its one job"
