"""The bundled knowledge base and CRAG-format question sets.

Documents are jsonl lines ``{id, domain, title, url, text, facts}``. Question files follow
CRAG: both the v4 schema (``alt_ans`` list) and the older one (``alternative_answers``), with or
without ``search_results``, plain or ``.bz2``.
"""

from __future__ import annotations

import bz2
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

DATA_DIR = Path(__file__).parent / "data"


@dataclass(frozen=True)
class Document:
    id: str
    title: str
    text: str
    url: str = ""
    domain: str = ""
    facts: tuple[tuple[str, str, str], ...] = ()


@dataclass
class Question:
    id: str
    query: str
    answer: str
    alt_answers: list[str] = field(default_factory=list)
    domain: str = ""
    question_type: str = ""
    static_or_dynamic: str = ""
    query_time: str = ""
    search_results: list[dict] = field(default_factory=list)

    @property
    def gold(self) -> list[str]:
        return [self.answer, *self.alt_answers]


def _lines(path: Path) -> Iterator[dict]:
    opener = bz2.open if path.suffix == ".bz2" else open
    with opener(path, "rt", encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{n}: not JSON: {exc}") from exc


def _files(path: Path, pattern: str) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.match(pattern) or p.match(pattern + ".bz2"))
    return [path]


def load_documents(path: str | Path | None = None) -> list[Document]:
    """Documents from a jsonl file or a folder of them (default: the bundled knowledge base)."""
    root = Path(path) if path else DATA_DIR / "kb"
    docs = []
    for file in _files(root, "*.jsonl"):
        for row in _lines(file):
            docs.append(
                Document(
                    id=str(row.get("id") or row.get("doc_id") or f"{file.stem}-{len(docs)}"),
                    title=row.get("title", ""),
                    text=row["text"],
                    url=row.get("url", ""),
                    domain=row.get("domain", ""),
                    facts=tuple(tuple(f) for f in row.get("facts", [])),
                )
            )
    if not docs:
        raise ValueError(f"no documents found in {root}")
    return docs


def _alternatives(row: dict) -> list[str]:
    alt = row.get("alt_ans", row.get("alternative_answers", []))
    if isinstance(alt, str):  # older files store a list as a string, e.g. "[]" or "['a']"
        text = alt.strip()
        if text.startswith("["):
            try:
                alt = json.loads(text.replace("'", '"'))
            except json.JSONDecodeError:
                alt = [text]
        else:
            alt = [text] if text else []
    return [str(a) for a in alt or [] if str(a).strip()]


def load_questions(path: str | Path | None = None) -> list[Question]:
    """CRAG-format questions (default: the bundled demo QA set)."""
    root = Path(path) if path else DATA_DIR / "qa"
    out = []
    for file in _files(root, "*.jsonl"):
        for i, row in enumerate(_lines(file)):
            out.append(
                Question(
                    id=str(
                        next(
                            (
                                row[k]
                                for k in ("interaction_id", "v4_index")
                                if row.get(k) is not None
                            ),
                            f"{file.stem}-{i}",
                        )
                    ),
                    query=row["query"].strip(),
                    answer=str(row.get("answer", "")),
                    alt_answers=_alternatives(row),
                    domain=row.get("domain", ""),
                    question_type=row.get("question_type", ""),
                    static_or_dynamic=row.get("static_or_dynamic", ""),
                    query_time=row.get("query_time", ""),
                    search_results=row.get("search_results") or [],
                )
            )
    return out
