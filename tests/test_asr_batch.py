"""Model threads shared by sessions: the worker groups the jobs waiting for one model, a batch
of real whisper decodes gives each session the transcript a lone decode would, and every
session's first answer audio goes before anyone's later pieces."""

from __future__ import annotations

import asyncio
import sys
import threading

import pytest

from voice.wer import spoken_wer
from voice.workers import ModelWorker, Priority


async def test_waiting_jobs_of_one_priority_run_as_one_batch():
    worker = ModelWorker("batch-test")
    started, gate, calls = threading.Event(), threading.Event(), []

    def lone(x: int) -> int:
        calls.append(("lone", x))
        return x * 10

    def blocker() -> str:
        started.set()
        gate.wait(30)  # holds the thread while the test queues the rest (released below)
        return "done"

    def batch(rows: list[tuple]) -> list[int]:
        calls.append(("batch", [r[0] for r in rows]))
        return [r[0] * 10 for r in rows]

    first = asyncio.ensure_future(worker.run(Priority.FINAL_ASR, blocker))
    assert await asyncio.to_thread(started.wait, 30)  # the blocker is on the thread
    jobs = [asyncio.ensure_future(worker.run(Priority.FINAL_ASR, lone, i, batch=batch))
            for i in (1, 2, 3)]  # fmt: skip
    dropped = asyncio.ensure_future(worker.run(Priority.FINAL_ASR, lone, 4, batch=batch))
    other = asyncio.ensure_future(worker.run(Priority.PARTIAL_ASR, lone, 5, batch=batch))
    await asyncio.sleep(0)  # every job is in the queue
    dropped.cancel()  # a session that went away: not decoded
    gate.set()
    assert await first == "done"
    assert await asyncio.gather(*jobs) == [10, 20, 30] and await other == 50
    assert calls == [("batch", [1, 2, 3]), ("lone", 5)]  # lower priority: after, on its own
    assert worker.batched == 3 and dropped.cancelled()


async def test_a_failing_batch_fails_each_of_its_jobs():
    worker = ModelWorker("batch-fail")
    started, gate = threading.Event(), threading.Event()

    def boom(rows):
        raise ValueError("model broke")

    def blocker() -> None:
        started.set()
        gate.wait(30)

    first = asyncio.ensure_future(worker.run(Priority.FINAL_ASR, blocker))
    assert await asyncio.to_thread(started.wait, 30)
    jobs = [asyncio.ensure_future(worker.run(Priority.FINAL_ASR, abs, -1, batch=boom))
            for _ in range(2)]  # fmt: skip
    await asyncio.sleep(0)
    gate.set()
    await first
    results = await asyncio.gather(*jobs, return_exceptions=True)
    assert all(isinstance(r, ValueError) for r in results)
    assert await worker.run(Priority.FINAL_ASR, abs, -2) == 2  # the worker serves on


def test_a_batch_of_real_decodes_matches_lone_decodes(engine, speech):
    questions = [
        "who is the ceo of apple",
        "how many academy awards did titanic and avatar win combined",
        "what year was microsoft founded",
    ]
    audios = [speech(q) for q in questions]
    lone = [engine.asr.transcribe(a, 1, "") for a in audios]
    batched = engine.asr.transcribe_batch([(a, 1, "") for a in audios])
    assert batched == lone  # padding with silence to the longest changes nothing here
    assert all(spoken_wer(q, t) <= 0.25 for q, t in zip(questions, batched, strict=True))


def test_hotword_prompts_of_different_lengths_share_one_batch(engine, speech):
    questions = [
        "who is the ceo of apple",
        "what year was microsoft founded",
        "who founded nvidia",
        "who wrote the novel pride and prejudice",
    ]
    names = ["Apple, Tim Cook", "Microsoft, Bill Gates, Paul Allen", "", "Jane Austen"]
    jobs = [(speech(q), 1, n) for q, n in zip(questions, names, strict=True)]
    lone = [engine.asr.transcribe(*job) for job in jobs]
    before = engine.asr.worker.batched
    batched = engine.asr.transcribe_batch(jobs)  # the three with names: one batch, spaces pad
    # the same words (the padded context may change a capital or the final punctuation)
    assert all(spoken_wer(a, b) == 0 for a, b in zip(lone, batched, strict=True)), (lone, batched)
    assert engine.asr.worker.batched == before  # (called directly: the worker counts its own)


async def test_an_answers_later_pieces_yield_to_other_sessions_first_pieces(engine, monkeypatch):
    """Under load the TTS thread serves every session's first piece before anyone's later ones:
    a later piece has the first one's playback time as slack."""
    tts, asked = engine.tts, []
    real = tts.worker.run

    async def spy(priority, fn, *args, **kw):
        asked.append(priority)
        return await real(priority, fn, *args, **kw)

    monkeypatch.setattr(tts.worker, "run", spy)
    text = "Canberra, the planned capital of Australia, lies between Sydney and Melbourne."
    pieces = [a async for a in tts.stream(text, Priority.ANSWER, Priority.ANSWER_REST)]
    assert len(pieces) >= 2 and all(p.size for p in pieces)
    assert asked == [Priority.ANSWER] + [Priority.ANSWER_REST] * (len(pieces) - 1)
    assert Priority.ANSWER < Priority.ANSWER_REST < Priority.SPECULATIVE  # served in this order


@pytest.mark.skipif(sys.platform != "linux", reason="nice is per thread on Linux only")
def test_speculation_threads_run_at_a_lower_priority_and_errors_come_back():
    import os

    from voice.workers import run_in_thread

    def own_nice() -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    here = own_nice()
    assert run_in_thread(own_nice, nice=5) == min(19, here + 5)
    assert own_nice() == here  # the caller keeps its own priority

    def broken() -> None:
        raise ValueError("no model")

    with pytest.raises(ValueError, match="no model"):
        run_in_thread(broken, nice=5)
    worker = ModelWorker("niced", nice=3)
    assert asyncio.run(worker.run(Priority.PARTIAL_ASR, own_nice)) == min(19, here + 3)
