"""CRAG question loaders: jsonl (plain or ``.bz2``) rows as :class:`tools.corpus.Question`."""

from __future__ import annotations

import ast
from pathlib import Path

from tools.corpus import Question, _files, _lines


def _alternatives(row: dict) -> list[str]:
    """``alt_ans`` (list) or ``alternative_answers`` (list, or a string such as ``"[]"``)."""
    alt = row.get("alt_ans", row.get("alternative_answers"))
    if isinstance(alt, str) and alt.strip().startswith("["):
        try:  # a JSON or Python list of strings
            alt = ast.literal_eval(alt.strip())
        except (ValueError, SyntaxError):
            pass
    if not isinstance(alt, list):
        alt = [] if alt is None else [alt]
    return [str(a).strip() for a in alt if str(a).strip()]


def load_crag(path: str | Path) -> list[Question]:
    """CRAG questions from a jsonl file (plain or ``.bz2``) or a folder of them.

    Same fields as ``tools.corpus.load_questions``, but ``v4_index`` 0 stays id ``"0"`` and
    string-encoded alternatives (``"[]"`` in the official dev data) are parsed as lists."""
    root = Path(path)
    if not root.exists():
        raise FileNotFoundError(f"questions file not found: {root}")
    out: list[Question] = []
    for file in _files(root, "*.jsonl"):
        stem = file.name.split(".jsonl")[0]
        for i, row in enumerate(_lines(file)):
            qid = row.get("interaction_id")
            if qid in (None, ""):
                qid = row.get("v4_index")
            out.append(
                Question(
                    id=str(qid) if qid not in (None, "") else f"{stem}-{i}",
                    query=str(row["query"]).strip(),
                    answer=str(row.get("answer", "")).strip(),
                    alt_answers=_alternatives(row),
                    domain=str(row.get("domain") or ""),
                    question_type=str(row.get("question_type") or ""),
                    static_or_dynamic=str(row.get("static_or_dynamic") or ""),
                    query_time=str(row.get("query_time") or ""),
                    search_results=row.get("search_results") or [],
                )
            )
    return out
