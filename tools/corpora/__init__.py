"""Knowledge packs: documents (and structured facts for the graph) from offline data packages.

Each pack is a function returning ``tools.corpus.Document``s; ``load_packs`` joins the named
ones. ``demo`` is the bundled knowledge base, one pack among others.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from tools.corpora.factbook import factbook_documents
from tools.corpora.wikipedia import wikipedia_documents
from tools.corpus import Document, load_documents

log = logging.getLogger(__name__)
PACKS: dict[str, Callable[[], list[Document]]] = {
    "demo": load_documents,  # the bundled knowledge base
    "wikipedia": wikipedia_documents,
    "factbook": factbook_documents,
}


def load_packs(names: str, corpus: str | None = None) -> list[Document]:
    """The documents of the comma-separated packs ``names`` (a missing package adds none);
    ``corpus``, a folder or jsonl of documents, stands in for the bundled ``demo`` pack."""
    docs: list[Document] = []
    for name in (n.strip() for n in names.split(",")):
        if not name:
            continue
        if name not in PACKS:
            raise ValueError(f"unknown knowledge pack {name!r} (known: {', '.join(PACKS)})")
        found = load_documents(corpus) if name == "demo" and corpus else PACKS[name]()
        log.info("knowledge pack %s: %d documents", name, len(found))
        docs += found
    return docs
