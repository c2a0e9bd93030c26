"""The word lists in tools/data/words say where each entry came from, and say it truly.

An entry's source is decided by the demo questions it matches (the rule in every file's header):
one demo question only -> "added for demo question <id>"; otherwise "general English", or, in
kg_attributes.txt, "bundled KB" when it names (a word of) one of the bundled KB's attributes. So
a word added to make one demo question pass has to say so.
"""

from __future__ import annotations

import re

import pytest

from tools.corpus import load_documents, load_questions
from tools.language import lexicon
from tools.language.text import stem, tokens

FILES = sorted(p.stem for p in lexicon.WORDS_DIR.glob("*.txt"))


@pytest.fixture(scope="module")
def demo() -> list[tuple[str, list[str]]]:
    return [(q.id, [t.replace("'s", "") for t in tokens(q.query)]) for q in load_questions()]


@pytest.fixture(scope="module")
def kb_words() -> set[str]:
    attrs = {a for d in load_documents() for _, a, _ in d.facts}
    return attrs | {w for a in attrs for w in re.findall(r"[a-z]+", a)}


def matches(entry: str, demo: list[tuple[str, list[str]]]) -> list[str]:
    """The demo questions in which every word of ``entry`` is a token or a token's stem."""
    words = entry.replace("_", " ").split()
    return [
        qid for qid, toks in demo if all(any(t == w or stem(t) == w for t in toks) for w in words)
    ]


def expected(name: str, entry: str, demo, kb_words: set[str]) -> str:
    found = matches(entry, demo)
    if len(found) == 1:
        return f"added for demo question {found[0]}"
    if name == "kg_attributes" and entry in kb_words:
        return "bundled KB"
    return "general English"


def test_the_word_lists_are_there():
    assert set(FILES) >= {
        "relation_words",
        "class_nouns",
        "multi_hop",
        "kg_attributes",
        "kg_question_words",
    }


@pytest.mark.parametrize("name", FILES)
def test_every_source_follows_the_rule(name, demo, kb_words):
    wrong = [
        f"[{section}] {e.key}: says {e.source!r}, matches {matches(e.key, demo) or 'none'}"
        for section, entries in lexicon.read(name).items()
        for e in entries
        if e.source != expected(name, e.key, demo, kb_words)
    ]
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("name", FILES)
def test_no_entry_twice_in_a_section(name):
    for section, entries in lexicon.read(name).items():
        keys = [e.key for e in entries]
        assert len(keys) == len(set(keys)), f"{name} [{section}]"


def test_a_malformed_line_is_refused(tmp_path, monkeypatch):
    (tmp_path / "broken.txt").write_text("[s]\nword without a source\n")
    monkeypatch.setattr(lexicon, "WORDS_DIR", tmp_path)
    with pytest.raises(ValueError, match="broken.txt:2"):
        lexicon.read("broken")
