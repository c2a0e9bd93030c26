"""The preemptive answer (prepared at the first pause, committed at end of turn) in the cases
that used to throw it away: the evidence lands only after the pause, and the final words the
question differently from the pause hypothesis while the answer comes out the same."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from toolkit import plugins

from streaming.answer.answerer import Answerer
from streaming.rag.lookup import Lookup
from streaming.server.preempt import Preemptor
from tests.test_answer import INDEX
from tools.result import SearchResult
from voice.tts import split_for_speech

pytestmark = pytest.mark.slow
HYPOTHESIS = "what is the capital city of australia"  # what the partial said at the pause
FINAL = "what is the capital of australia"  # what the final says: other words, same question


class HeldSearch:
    """A search over the test corpus whose answers wait until the test releases them (fault
    injection: a slow tool whose result lands at a moment the test picks)."""

    name = "search"

    def __init__(self) -> None:
        self.release = asyncio.Event()

    async def __call__(self, query: str, deadline_s: float = 3.0) -> SearchResult:
        await self.release.wait()
        return SearchResult(query, INDEX.search(query), 1.0)


def preemptor(engine, lookup, gate=None) -> Preemptor:
    real = SimpleNamespace(answerer=Answerer(None), tts=engine.tts)  # extractive, real piper
    return Preemptor(real, lookup, gate)  # type: ignore[arg-type]


async def test_evidence_landing_during_the_pause_is_prepared_and_committed(engine):
    tool = HeldSearch()
    lookup = Lookup(plugins({"search": tool}), lambda e: None, "triggered")
    lookup.on_partial(FINAL, 1500)  # the speculative call fires while the user speaks
    p = preemptor(engine, lookup)
    assert p.start(FINAL) is False  # the pause: no evidence in hand yet
    assert p.started == 0
    tool.release.set()  # the call lands while the silence lasts
    await asyncio.wait({c.task for c in lookup.calls})
    waiting = p._task
    await asyncio.wait({waiting})  # it noticed, and began preparing
    assert p.started == 1 and p._prepared is not None
    outcome = await lookup.resolve(FINAL, 2000)
    assert outcome.reused and outcome.tool_wait_ms < 100
    prepared = await p.take(FINAL, outcome.hits)
    assert prepared is not None and p.committed == 1 and p.discarded == 0
    assert "canberra" in prepared.sentences[0].text.lower()
    assert [a async for a in prepared.audio()]


async def test_other_wording_same_answer_commits_the_prepared_audio(engine):
    hits = INDEX.search(HYPOTHESIS)
    p = preemptor(engine, SimpleNamespace(peek=lambda text: hits))
    assert p.start(HYPOTHESIS) is True
    await p._task
    prepared_text = p._prepared.sentences[0].text
    # the final's words are not a superset of the hypothesis's ("city"): not committed whole
    assert await p.take(FINAL, hits) is None and p.committed == 0
    # the turn answers the final itself; its first sentence is the prepared one: its audio
    answer = [s async for s in Answerer(None).answer(FINAL, hits)]
    assert answer[0].text == prepared_text and "canberra" in prepared_text.lower()
    audio = await p.first_audio_for(answer[0].text)
    assert audio is not None and p.committed_audio == 1 and p.discarded == 0
    assert [a async for a in audio.audio()]


async def test_a_different_answer_discards_the_preparation_and_counts_its_cpu(engine):
    hits = INDEX.search(HYPOTHESIS)
    p = preemptor(engine, SimpleNamespace(peek=lambda text: hits))
    p.start(HYPOTHESIS)
    await p._task
    assert await p.take("who wrote the play hamlet", INDEX.search("hamlet")) is None
    assert await p.first_audio_for("William Shakespeare wrote Hamlet.") is None
    assert p.discarded == 1 and p.committed_audio == 0
    assert p.discarded_cpu_ms > 1.0  # at least the TTS of the first sentence


async def test_the_first_audio_waits_for_the_decode_on_the_critical_path(engine):
    hits = INDEX.search(FINAL)
    decode: asyncio.Future = asyncio.get_running_loop().create_future()  # the tentative final
    answered = asyncio.Event()

    async def answer(question, found):  # the real extractive answer, and a mark when it is done
        async for sentence in Answerer(None).answer(question, found):
            yield sentence
        answered.set()

    real = SimpleNamespace(answerer=SimpleNamespace(answer=answer), tts=engine.tts)
    p = Preemptor(real, SimpleNamespace(peek=lambda text: hits), lambda: decode)  # type: ignore[arg-type]
    assert p.start(FINAL) is True
    await answered.wait()  # the text is prepared at once; the TTS stands back
    await asyncio.sleep(0)
    assert p._prepared.sentences and not p._prepared.first_audio and not p._task.done()
    decode.set_exception(RuntimeError("decode failed"))  # its failure is not the preemptor's
    await p._task
    assert p._prepared.first_audio
    assert (await p.take(FINAL, hits)) is not None and p.committed == 1


async def test_a_restart_for_the_same_question_and_evidence_keeps_the_preparation(engine):
    hits = INDEX.search(FINAL)
    p = preemptor(engine, SimpleNamespace(peek=lambda text: hits))
    assert p.start(FINAL) is True
    task = p._task
    assert p.start(FINAL.capitalize() + "?") is True  # the tentative final: the same question
    assert p._task is task and p.started == 1 and p.discarded == 0
    assert p.start(HYPOTHESIS) is True  # another question: a new preparation
    assert p._task is not task and p.started == 2 and p.discarded == 1


async def test_a_commit_hands_over_at_its_text_and_streams_the_audio_still_coming(engine):
    """A preparation whose first sentence is still being synthesized commits at once (its text
    is done) and its pieces stream as they land, at answer priority: the turn no longer waits
    for the whole sentence's audio before its first piece goes out."""
    hits = INDEX.search(FINAL)
    decode: asyncio.Future = asyncio.get_running_loop().create_future()  # holds the TTS back
    p = preemptor(engine, SimpleNamespace(peek=lambda text: hits), lambda: decode)
    assert p.start(FINAL) is True
    prepared = await p.take(FINAL, hits)  # returns with no audio synthesized yet
    assert prepared is not None and prepared.committed and not prepared.first_audio
    assert not prepared.task.done()
    decode.set_result("what is the capital of australia")
    pieces = [a async for a in prepared.audio()]
    assert pieces and len(pieces) == len(prepared.first_audio) and prepared.audio_done
    alone = engine.tts.synthesize(split_for_speech(prepared.sentences[0].text)[0])
    assert abs(len(pieces[0]) - len(alone)) < 0.25 * len(alone)  # the sentence's first piece


async def test_a_consumer_that_stops_early_cancels_the_synthesis(engine):
    hits = INDEX.search(FINAL)
    decode: asyncio.Future = asyncio.get_running_loop().create_future()
    p = preemptor(engine, SimpleNamespace(peek=lambda text: hits), lambda: decode)
    p.start(FINAL)
    prepared = await p.take(FINAL, hits)
    stream = prepared.audio()
    waiting = asyncio.ensure_future(stream.__anext__())
    await asyncio.sleep(0)
    waiting.cancel()  # a barge-in while the first piece is still coming
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await stream.aclose()
    with pytest.raises(asyncio.CancelledError):
        await prepared.task
