"""CRAG Task 1 evidence: the web pages that come with a question (``search_results``) become
its own small corpus: HTML stripped to visible text, chunked into passages, indexed with BM25."""

from __future__ import annotations

import logging
import re
from html import unescape
from html.parser import HTMLParser
from typing import Any

from tools.corpus import Document, Question
from tools.language.text import split_sentences
from tools.search.bm25 import Bm25Index

log = logging.getLogger(__name__)

_SKIP_TAGS = {"script", "style", "noscript", "template", "svg", "iframe", "head"}
_BLOCK_TAGS = set(
    "p div br li ul ol tr td th table section article h1 h2 h3 h4 h5 h6 header footer nav "
    "blockquote pre dd dt".split()
)


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag == "body":  # an unclosed <head> must not hide the page
            self._skip = 0
        elif tag in _SKIP_TAGS:
            self._skip += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self._skip = max(0, self._skip - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    """Visible text of an HTML page, one block per line (script, style and head dropped)."""
    parser = _TextExtractor()
    try:
        parser.feed(html)
        parser.close()
    except Exception:  # html.parser is lenient; a truly broken page keeps what was read
        log.debug("html parse stopped early", exc_info=True)
    lines = (re.sub(r"\s+", " ", line).strip() for line in "".join(parser.parts).split("\n"))
    return "\n".join(line for line in lines if line)


def chunk_text(text: str, max_sentences: int = 3, max_words: int = 120) -> list[str]:
    """Passages of about ``max_sentences`` sentences or ``max_words`` words. Short fragments
    (menu items, table cells) ride along without counting as sentences."""
    passages: list[str] = []
    current: list[str] = []
    words = sentences = 0
    for line in text.split("\n"):
        for sentence in split_sentences(line):
            n = len(sentence.split())
            while n > max_words:  # one huge "sentence": cut it
                head = sentence.split()
                passages.append(" ".join(head[:max_words]))
                sentence, n = " ".join(head[max_words:]), n - max_words
            current.append(sentence)
            words += n
            sentences += n >= 6
            if sentences >= max_sentences or words >= max_words:
                passages.append(" ".join(current))
                current, words, sentences = [], 0, 0
    if current:
        passages.append(" ".join(current))
    return passages


def evidence_documents(question: Question) -> list[Document]:
    """A question's web pages (or snippets) as passage Documents ``<qid>-<page>-<chunk>``."""
    docs: list[Document] = []
    seen: set[str] = set()
    for p, page in enumerate(question.search_results or []):
        html = page.get("page_result") or ""
        text = html_to_text(html) if html.strip() else ""
        if not text:
            text = html_to_text(unescape(page.get("page_snippet") or ""))
        for c, passage in enumerate(chunk_text(text)):
            if passage in seen:
                continue
            seen.add(passage)
            docs.append(
                Document(
                    id=f"{question.id}-{p}-{c}",
                    title=str(page.get("page_name") or ""),
                    text=passage,
                    url=str(page.get("page_url") or ""),
                    domain=question.domain,
                )
            )
    return docs


def evidence_index(question: Question) -> Bm25Index | None:
    """A BM25 index over the question's own evidence; None when it has none."""
    docs = evidence_documents(question)
    return Bm25Index(docs) if docs else None


def has_evidence(question: Question) -> bool:
    return any(
        (r.get("page_result") or r.get("page_snippet") or "").strip()
        for r in question.search_results or []
    )
