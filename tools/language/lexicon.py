"""Word lists kept as data, each entry with where it came from: ``tools/data/words/*.txt``.

A file is ``[section]`` headers and one entry a line, ``entry | source``; an entry is a word, a
phrase, or ``key = value`` for a table; ``#`` starts a comment. Sections keep their file order
(some lists are ranked). The sources, and how each was decided, are in every file's header:
``general English``, ``bundled KB`` (an attribute name of the bundled knowledge base) or
``added for demo question <id>`` (the one demo question, ``tools/data/qa``, that the entry
matches: nothing else exercises it). Files are read once, when a module asks for its list.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

WORDS_DIR = Path(__file__).resolve().parents[1] / "data" / "words"


@dataclass(frozen=True)
class Entry:
    key: str  # the word or phrase (a table's key)
    value: str  # a table's value; "" for a word
    source: str  # general English | bundled KB | added for demo question <id>


@cache
def read(name: str) -> dict[str, tuple[Entry, ...]]:
    """The sections of ``WORDS_DIR/<name>.txt``: section name -> its entries, in file order."""
    path = WORDS_DIR / f"{name}.txt"
    sections: dict[str, list[Entry]] = {}
    current = ""
    for n, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("[") and line.endswith("]"):
            current = line[1:-1].strip()
            sections.setdefault(current, [])
            continue
        entry, bar, source = (part.strip() for part in line.partition("|"))
        if not bar or not entry or not source:
            raise ValueError(f"{path}:{n}: expected 'entry | source', got {raw!r}")
        key, _, value = (part.strip() for part in entry.partition("="))
        sections.setdefault(current, []).append(Entry(key, value, source))
    return {k: tuple(v) for k, v in sections.items()}


def words(name: str, section: str = "") -> tuple[str, ...]:
    """The entries of one section, in file order."""
    return tuple(e.key for e in read(name)[section])


def table(name: str, section: str = "") -> dict[str, str]:
    """A ``key = value`` section as a dict, in file order."""
    return {e.key: e.value for e in read(name)[section]}
