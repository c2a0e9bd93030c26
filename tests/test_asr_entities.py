"""Entities survive the ASR: fuzzy and phonetic names, and retrieval-aware final decoding.

Pure except the last test, which decodes real speech with the bundled whisper.
"""

import asyncio

import numpy as np
import pytest
from toolkit import plugins

from streaming.rag.lookup import Lookup
from tools.corpus import Document
from tools.kg.names import FuzzyNames
from tools.result import Hit, SearchResult
from voice.asr import RATE, StreamingTranscriber, hotword_text
from voice.interfaces import AsrCapabilities


def test_fuzzy_names_by_spelling_and_by_sound():
    names = FuzzyNames(["oppenheimer", "coldplay", "christopher nolan", "nolan", "the beatles"])
    assert names.scan("oppenhammer")[0][0] == "oppenheimer"  # 0.82 spelled, same Metaphone
    assert names.scan("coplay")[0][0] == "coldplay"
    assert names.scan("coldplay") == (("coldplay", 1.0),)
    assert names.scan("nylon") == ()  # sounds like "nolan", spelled too far from it
    assert names.scan("chris") == ()


@pytest.mark.parametrize(
    "heard, entity, attribute",
    [
        ("Who directed the 2023 film Oppen Hammer?", "Oppenheimer", "director"),
        ("who is the lead singer of co-play", "Coldplay", "lead_singer"),
        ("who is the lead singer of cold play", "Coldplay", "lead_singer"),
        ("what is the capital of austrailia", "Australia", "capital"),
    ],
)
def test_misheard_names_still_parse(kg, heard, entity, attribute):
    q = kg.parse(heard)
    assert q is not None and (q.entity, q.attribute) == (entity, attribute)


def test_cdo_is_not_ceo_and_question_words_are_no_names(kg):
    assert kg.parse("who is the CDO of Apple?") is None  # Apple found, but no "ceo" was said
    assert [e.name for e, _ in kg.find_entities("who is the CDO of Apple?")] == ["Apple"]
    assert kg.parse("who is the chief") is None
    assert kg.find_entities("who is the chief executive") == []


def test_fuzzy_parse_is_fast(kg):
    import time

    kg.clear_caches()
    t0 = time.perf_counter()
    for text in ("who directed the 2023 film oppen hammer", "who is the current chair on the "
                 "fandall reserve", "where's berkshire halfway head order"):  # fmt: skip
        kg.parse(text)
    assert (time.perf_counter() - t0) / 3 < 0.05  # difflib took 9-20 ms each; rapidfuzz ~1 ms


def test_hotword_text_drops_disambiguators_and_repeats():
    assert hotword_text(["Dune (novel)", "dune", "", "Apple Inc."]) == "Dune, Apple Inc."
    assert len(hotword_text(["Oppenheimer"] * 3 + [f"Name {i}" for i in range(80)])) <= 200


class Tool:
    def __init__(self, name, titles, meta=None):
        self.name, self.titles, self.meta = name, titles, meta or {}

    async def __call__(self, query, deadline_s=3.0):
        hits = [Hit(Document(t, t, f"{t} text"), 1.0, f"{t} text") for t in self.titles]
        return SearchResult(query, hits, 1.0, None, self.meta)


async def test_lookup_hotwords_are_this_turns_results():
    tools = {"search": Tool("search", ["Oppenheimer (film)", "Barbie (film)", "Tenet", "Dunkirk"]),
             "kg": Tool("kg", ["Oppenheimer"], {"entity": "Oppenheimer"})}  # fmt: skip
    lookup = Lookup(plugins(tools, lambda t: ("oppenheimer", "director")), [].append, "triggered")
    lookup.reset()
    assert lookup.hotwords() == []
    lookup.on_partial("who directed the 2023 film oppenheimer", 1500)
    await lookup._flush()
    await asyncio.gather(*(c.task for c in lookup.calls if c.task))
    names = lookup.hotwords()
    assert names[0] == "Oppenheimer" and "Oppenheimer (film)" in names
    assert "Dunkirk" not in names  # top 3 titles per call
    lookup.reset()
    assert lookup.hotwords() == []  # a new turn starts unbiased


class FakeAsr:
    name = "fake"
    capabilities = AsrCapabilities(hotwords=True)
    busy = None

    def __init__(self):
        self.calls: list[tuple[int, str]] = []

    async def decode(self, audio, priority, beam_size=1, hotwords=""):
        self.calls.append((audio.size, hotwords))
        return "who directed oppenheimer" if hotwords else "who directed oppen hammer"


async def _turn(before: list[str], after: list[str]) -> tuple[str, bool, FakeAsr]:
    """A partial covers the speech; hotwords set before it, then at the pause."""
    asr = FakeAsr()
    tr = StreamingTranscriber(asr, lambda p: asyncio.sleep(0), partial_interval_ms=500)
    tr.start_turn(np.zeros(0, np.float32), 0)
    tr.set_hotwords(before)
    tr.push(np.zeros(RATE, np.float32))
    await asyncio.sleep(0.01)
    tr.set_hotwords(after)
    tr.pause(800)
    text, reused = await tr.finish()
    return text, reused, asr


async def test_decodes_are_biased_and_a_partial_is_final_only_with_the_same_bias():
    text, reused, asr = await _turn([], [])
    assert (text, reused, len(asr.calls)) == ("who directed oppen hammer", True, 1)  # as before
    text, reused, asr = await _turn([], ["Oppenheimer (film)", "Barbie"])  # a result came in
    assert (text, reused) == ("who directed oppenheimer", True)
    assert asr.calls == [(RATE, ""), (RATE, "Oppenheimer, Barbie")]  # re-decoded, biased
    text, reused, asr = await _turn(["Oppenheimer"], ["Oppenheimer"])
    assert (text, reused, asr.calls) == ("who directed oppenheimer", True, [(RATE, "Oppenheimer")])


def test_hotwords_bias_real_whisper_without_leaking(engine, speech):
    audio = speech("what is the capital of australia")
    plain = engine.asr.transcribe(audio)
    unrelated = engine.asr.transcribe(audio, 1, "Oppenheimer, Coldplay, Berkshire Hathaway")
    assert "australia" in plain.lower() and "australia" in unrelated.lower()
    assert not {"oppenheimer", "coldplay", "berkshire"} & set(unrelated.lower().split())
