"""The session, the turn and the preemptor driven by scripted fakes of the models (tests/fakes.py):
no model is loaded, nothing waits on a clock, and every assertion is on what the client is sent
(or on what the fakes were asked)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import numpy as np
from fakes import (
    AUSTRALIA,
    HAMLET,
    RecordingSocket,
    ScriptedAsr,
    ScriptedEndOfTurn,
    ScriptedLlm,
    ScriptedSearch,
    SilentTts,
    fake_engine,
    pcm16_messages,
    silence,
    speech,
)

from streaming.answer.answerer import TOOLS_DOWN
from streaming.events import Error
from streaming.protocol import Start
from streaming.rag.lookup import Lookup
from streaming.server.engine import Engine
from streaming.server.metrics import TurnMarks
from streaming.server.outbox import Outbox
from streaming.server.preempt import Preemptor
from streaming.server.session import Session
from streaming.server.turn import Answering
from tools.corpus import Document
from voice.asr import StreamingTranscriber
from voice.interfaces import AsrCapabilities
from voice.tts import split_for_speech
from voice.workers import Priority

QUESTION = "what is the capital of australia"
ANSWER = "Canberra is the capital of Australia."
OUT_RATE = 16_000
# no LLM, no acknowledgement, audio as fast as it is made: what a turn does is all in the events
QUIET = {"pace_audio": False, "acknowledge": False, "preemptive": False}


@contextlib.asynccontextmanager
async def sending(socket: RecordingSocket) -> AsyncIterator[Outbox]:
    outbox = Outbox(socket)  # type: ignore[arg-type]
    outbox.pace = False  # a test client takes the audio as fast as it comes
    sender = asyncio.create_task(outbox.run())
    try:
        yield outbox
    finally:
        sender.cancel()
        await asyncio.gather(sender, return_exceptions=True)


@contextlib.asynccontextmanager
async def session_of(
    engine: Engine, search: ScriptedSearch, **options: object
) -> AsyncIterator[tuple[Session, RecordingSocket]]:
    socket = RecordingSocket()
    async with sending(socket) as outbox:

        def error(code: str, message: str, throttle_s: float = 0.0) -> None:
            outbox.send(Error(code, message))

        start = Start(16_000, output_sample_rate=OUT_RATE, options={**QUIET, **options})
        config = engine.config.replace(max_audio_rate=1e6)  # audio as fast as the test sends it
        session = Session(engine, config, start, search.tools(), outbox, "unit", error)
        try:
            yield session, socket
        finally:
            await session.close()


async def say(session: Session, audio: np.ndarray) -> None:
    for message in pcm16_messages(audio):
        await session.on_audio(message)


async def finish_turn(session: Session) -> None:
    """The turn the last audio or typed question started, until its last event is sent."""
    assert session._turn_task is not None
    await session._turn_task
    await session.outbox.drained()


def kinds(socket: RecordingSocket, keep: set[str] | None = None) -> list[str]:
    return [e["type"] for e in socket.events if keep is None or e["type"] in keep]


def spoken_for(done: dict, tts: SilentTts, socket: RecordingSocket) -> None:
    """``answer_done`` says how long the answer's audio is, and the audio sent is that long
    (within a millisecond per piece: each is resampled to the output rate on its own)."""
    pieces = len(split_for_speech(done["text"]))
    assert abs(done["audio_ms"] - tts.duration_ms(done["text"])) <= pieces, done
    assert abs(socket.audio_bytes() / (2 * OUT_RATE / 1000) - done["audio_ms"]) <= pieces


# --- the session --------------------------------------------------------------------------------
async def test_a_spoken_question_is_heard_answered_and_spoken():
    tts = SilentTts()
    engine = fake_engine(ScriptedAsr(QUESTION), tts)
    search = ScriptedSearch([AUSTRALIA, HAMLET])
    async with session_of(engine, search, strategy="final", end_of_turn_ms=400) as (s, sock):
        built = set(vars(s))
        await say(s, np.concatenate([silence(0.5), speech(2.0), silence(1.0)]))
        await finish_turn(s)
    assert set(vars(s)) == built  # built whole in __init__: no piece appears later
    main = {"speech_start", "end_of_turn", "final", "tool_call", "tool_result"}
    main |= {"answer_delta", "answer_done", "turn_metrics"}
    assert kinds(sock, main) == [
        "speech_start",
        "end_of_turn",
        "final",
        "tool_call",
        "tool_result",
        "answer_delta",
        "answer_done",
        "turn_metrics",
    ]
    [start], [eot], [final] = sock.of("speech_start"), sock.of("end_of_turn"), sock.of("final")
    assert start["audio_ms"] == 480  # the noise starts at 0.5 s, inside the frame from 480 ms
    assert eot["audio_ms"] - eot["speech_end_ms"] >= 400 and eot["reason"] == "fixed 400 ms"
    assert final["text"] == QUESTION
    partials = [f"{p['stable']} {p['tail']}".strip() for p in sock.of("partial")]
    assert partials and all(QUESTION.startswith(p) for p in partials)
    assert search.queries == ["capital australia"]
    [done] = sock.of("answer_done")
    assert done["text"] == ANSWER and done["complete"]
    spoken_for(done, tts, sock)
    metrics = sock.of("turn_metrics")[0]["metrics"]
    assert metrics["answer_source"] == "extractive" and not metrics["interrupted"]


async def test_speech_during_the_answer_interrupts_it():
    tts = SilentTts()
    engine = fake_engine(ScriptedAsr(QUESTION), tts)
    search = ScriptedSearch([AUSTRALIA])
    async with session_of(engine, search, end_of_turn_ms=400) as (s, sock):
        tts.hold = asyncio.Event()  # the answer's audio is on its way when the user speaks again
        await say(s, np.concatenate([silence(0.3), speech(2.0), silence(0.6)]))
        first = s._turn_task
        await tts.asked.wait()  # the answer is being spoken
        await say(s, speech(0.5, seed=1))  # barge-in
        assert first is not None
        await asyncio.gather(first, return_exceptions=True)
        assert first.cancelled()
        tts.hold.set()
        await s.outbox.drained()
    assert kinds(sock, {"end_of_turn", "interrupted", "turn_metrics", "speech_start"}) == [
        "speech_start",
        "end_of_turn",
        "interrupted",  # the new speech cuts the answer off ...
        "speech_start",
        "turn_metrics",  # ... and the interrupted turn still reports
    ]
    assert sock.of("turn_metrics")[0]["metrics"]["interrupted"] is True
    assert sock.audio_bytes() == 0 and not sock.of("answer_done")


async def test_a_typed_question_takes_the_same_answer_path():
    engine = fake_engine()
    search = ScriptedSearch([AUSTRALIA])
    async with session_of(engine, search) as (s, sock):
        s.on_typed(QUESTION)
        await finish_turn(s)
    assert kinds(sock) == [
        "tool_call",
        "tool_result",
        "answer_delta",
        "answer_done",
        "turn_metrics",
    ]
    metrics = sock.of("turn_metrics")[0]["metrics"]
    assert metrics["typed"] is True and metrics["answer"] == ANSWER


async def test_a_complete_question_ends_the_turn_before_the_silence_window():
    """Semantic end of turn: the tentative final's text is a finished question and Smart Turn
    agrees, so the turn ends after the least silence, not after a fixed window."""
    smart = ScriptedEndOfTurn(0.97)
    engine = fake_engine(ScriptedAsr(QUESTION), smart_turn=smart, eot_min_ms=200, eot_max_ms=1200)
    async with session_of(engine, ScriptedSearch([AUSTRALIA]), end_of_turn="semantic") as (s, sock):
        await say(s, np.concatenate([silence(0.3), speech(2.0), silence(1.5)]))
        await finish_turn(s)
    [eot] = sock.of("end_of_turn")
    assert eot["reason"].startswith("text complete"), eot
    assert 200 <= eot["audio_ms"] - eot["speech_end_ms"] < 500
    assert smart.asked and smart.asked[0] > 2.0  # asked once, about the whole turn so far


async def test_partials_speculate_and_the_answer_prepared_at_the_pause_is_committed():
    engine = fake_engine(ScriptedAsr(QUESTION), SilentTts())
    search = ScriptedSearch([AUSTRALIA])
    options = {"strategy": "triggered", "end_of_turn_ms": 400, "preemptive": True}
    async with session_of(engine, search, **options) as (s, sock):
        await say(s, np.concatenate([silence(0.3), speech(2.0), silence(1.0)]))
        await finish_turn(s)
    calls = sock.of("tool_call")
    assert calls and all(c["speculative"] for c in calls)  # fired while the user spoke
    assert sock.of("tool_reused")  # ... and the final reused one
    metrics = sock.of("turn_metrics")[0]["metrics"]
    assert metrics["preempted"] and metrics["preempt_commit"] == "answer"
    assert metrics["answer"] == ANSWER and metrics["tool_wait_ms"] < 50


async def test_audio_before_the_turn_is_rejected_when_malformed():
    engine = fake_engine()
    async with session_of(engine, ScriptedSearch([])) as (s, sock):
        await s.on_audio(b"\x00\x01\x02")  # an odd number of bytes: not PCM16
        await s.outbox.drained()
    assert [e["code"] for e in sock.of("error")] == ["bad_audio"]


# --- the turn -----------------------------------------------------------------------------------
def answering(
    engine: Engine, search: ScriptedSearch, outbox: Outbox, strategy: str = "final"
) -> Answering:
    lookup = Lookup(search.tools().tools, outbox.send, strategy, hedge_s=0)
    return Answering(engine, lookup, Preemptor(engine, lookup), outbox, OUT_RATE, 1.0)


async def test_the_turn_speaks_the_llm_sentence_that_passes_the_guard():
    llm = ScriptedLlm("The capital of Australia is Canberra.")
    tts = SilentTts()
    engine = fake_engine(tts=tts, llm=llm)
    socket = RecordingSocket()
    async with sending(socket) as outbox:
        turn = answering(engine, ScriptedSearch([AUSTRALIA]), outbox)
        marks = TurnMarks()
        await turn.answer(QUESTION, marks, 0)
        await outbox.drained()
    assert marks.answer_source == "llm" and marks.answer == llm.reply
    assert "Canberra is the capital of Australia." in llm.prompts[0][-1]["content"]  # the facts
    assert [e["text"] for e in socket.of("answer_delta")] == [llm.reply + " "]
    assert [t for t, _ in tts.pieces] == split_for_speech(llm.reply)
    assert [p for _, p in tts.pieces][0] == Priority.ANSWER
    spoken_for(socket.of("answer_done")[0], tts, socket)
    assert turn.context is not None and turn.context.answer == llm.reply  # for follow-ups


async def test_every_tool_failing_is_an_apology_not_i_dont_know():
    engine = fake_engine()
    socket = RecordingSocket()
    async with sending(socket) as outbox:
        turn = answering(engine, ScriptedSearch([AUSTRALIA], error="timeout"), outbox)
        marks = TurnMarks()
        await turn.answer(QUESTION, marks, 0)
    assert marks.answer_source == "tools_down" and marks.answer == TOOLS_DOWN


async def test_the_acknowledgement_is_spoken_while_the_tools_are_out():
    tts = SilentTts(rate=OUT_RATE)  # no resampling: the bytes sent are the samples made
    engine = fake_engine(tts=tts, acknowledge=True, acknowledge_after_ms=0)
    search = ScriptedSearch([AUSTRALIA])
    search.hold.clear()  # the tool is slow
    socket = RecordingSocket()
    async with sending(socket) as outbox:
        turn = answering(engine, search, outbox)
        marks = TurnMarks()
        task = asyncio.create_task(turn.answer(QUESTION, marks, 0))
        await socket.audio.wait()  # the acknowledgement's audio went out ...
        assert not socket.of("answer_delta")  # ... before any answer
        search.hold.set()
        await task
        await outbox.drained()
    assert marks.acknowledged and marks.answer == ANSWER
    assert tts.pieces[0] == ("Let me check.", Priority.ANSWER)
    assert socket.audio_bytes() == 2 * (tts.samples("Let me check.") + tts.samples(ANSWER))


# --- the preemptor ------------------------------------------------------------------------------
async def in_hand(lookup: Lookup, text: str) -> None:
    """A speculative call for ``text`` fired and landed (the evidence is in hand)."""
    lookup.on_partial(text, 1000)
    await asyncio.wait({c.task for c in lookup.calls if c.task is not None})


async def test_evidence_landing_during_the_pause_is_prepared_then_committed():
    tts = SilentTts()
    engine = fake_engine(tts=tts)
    search = ScriptedSearch([AUSTRALIA])
    search.hold.clear()
    lookup = Lookup(search.tools().tools, lambda e: None, "triggered", hedge_s=0)
    lookup.on_partial(QUESTION, 1000)  # fired while the user spoke; still out at the pause
    p = Preemptor(engine, lookup)
    assert p.start(QUESTION) is False and p.started == 0
    waiting = p._task
    search.hold.set()  # it lands while the silence lasts
    assert waiting is not None
    await waiting
    assert p.started == 1 and p._task is not None
    await p._task  # prepared: text and first audio, at speculative priority
    assert {priority for _, priority in tts.pieces} == {Priority.SPECULATIVE}
    outcome = await lookup.resolve(QUESTION, 2000)
    prepared = await p.take(QUESTION, outcome.hits)
    assert prepared is not None and prepared.sentences[0].text == ANSWER
    assert p.committed == 1 and p.discarded == 0
    assert len([a async for a in prepared.audio()]) == len(split_for_speech(ANSWER))


async def test_a_commit_promotes_the_pieces_still_to_synthesize():
    """Committed before its audio: the first piece goes at answer priority, the rest after it."""
    tts = SilentTts()
    engine = fake_engine(tts=tts)
    long_answer = "Canberra, the planned capital of Australia, lies between Sydney and Melbourne."
    canberra = Document("canberra", "Canberra", long_answer)
    lookup = Lookup(ScriptedSearch([canberra]).tools().tools, lambda e: None, "triggered")
    await in_hand(lookup, QUESTION)
    decode: asyncio.Future = asyncio.get_running_loop().create_future()  # the tentative final
    p = Preemptor(engine, lookup, lambda: decode)
    assert p.start(QUESTION) is True
    prepared = await p.take(QUESTION, lookup.peek(QUESTION) or [])
    assert prepared is not None and prepared.committed and not tts.pieces  # TTS waits the gate
    decode.set_result(QUESTION)
    pieces = [a async for a in prepared.audio()]
    assert len(pieces) == len(split_for_speech(long_answer)) >= 2
    priorities = [priority for _, priority in tts.pieces]
    assert priorities == [Priority.ANSWER] + [Priority.ANSWER_REST] * (len(pieces) - 1)


async def test_speech_resuming_throws_the_preparation_away_and_counts_its_cpu():
    tts = SilentTts(cpu_ms=7.0)
    engine = fake_engine(tts=tts)
    lookup = Lookup(ScriptedSearch([AUSTRALIA, HAMLET]).tools().tools, lambda e: None, "triggered")
    await in_hand(lookup, QUESTION)
    p = Preemptor(engine, lookup)
    assert p.start(QUESTION) is True
    assert p._task is not None
    await p._task
    assert p.start(QUESTION.capitalize() + "?") is True and p.started == 1  # the same: kept
    p.cancel()  # speech resumed
    assert p.discarded == 1 and p.discarded_cpu_ms >= 7.0 * len(split_for_speech(ANSWER))
    assert await p.take(QUESTION, lookup.peek(QUESTION) or []) is None


# --- the transcriber and the ASR's declared capabilities ----------------------------------------
async def test_an_asr_without_hotwords_is_never_biased():
    plain = ScriptedAsr(QUESTION, capabilities=AsrCapabilities(hotwords=False))
    tr = StreamingTranscriber(plain, lambda partial: asyncio.sleep(0), partial_interval_ms=500)
    tr.start_turn(np.zeros(0, np.float32), 0)
    tr.set_hotwords(["Canberra", "Australia"])
    tr.push(np.zeros(16_000 * 2, np.float32))
    tr.pause(2000)
    text, _ = await tr.finish()
    assert text == QUESTION and {hotwords for _, _, hotwords in plain.decodes} == {""}


async def test_a_partial_with_no_stable_word_is_not_taken_for_a_follow_up():
    """ "and per", the first partial of a new question, must not become "... of the last
    question per?": a follow-up is resolved once part of the partial is stable (and always for
    the final)."""
    from streaming.rag.context import Context

    engine = fake_engine()
    async with sending(RecordingSocket()) as outbox:
        turn = answering(engine, ScriptedSearch([AUSTRALIA]), outbox)
        turn.context = Context("What is the capital of Peru?", "Peru", "Lima is the capital.")
        assert turn.understand("and chile?").text != "and chile?"  # a follow-up, rewritten
        assert turn.understand("and per", followup=False).text == "and per"
