"""Stream RAG end to end: real speech through the real server with speculative strategies."""

import pytest

from streaming.client.connection import VoiceClient

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("strategy", ["triggered", "fixed-interval"])
async def test_speculative_query_fires_before_speech_ends(server, speech, strategy):
    audio = speech("could you tell me who is the chief executive officer of apple these days")
    async with VoiceClient(server.ws_url, options={"strategy": strategy}) as client:
        log = await client.ask_audio(audio)
    speculative = [c for c in log.of("tool_call") if c["speculative"]]
    assert speculative, "no speculative tool call"
    eot = log.first("end_of_turn")
    assert speculative[0]["audio_ms"] < eot["speech_end_ms"], "fired only after speech ended"
    assert speculative[0]["t"] < log.speech_end_at, "the client saw it only after speech ended"
    metrics = log.first("turn_metrics")["metrics"]
    assert metrics["strategy"] == strategy and metrics["speculative_calls"] >= 1
    assert "tim cook" in metrics["answer"].lower()


async def test_final_strategy_only_queries_after_the_turn(server, speech):
    async with VoiceClient(server.ws_url, options={"strategy": "final"}) as client:
        log = await client.ask_audio(speech("who is the chief executive officer of apple"))
    calls = log.of("tool_call")
    assert calls and not any(c["speculative"] for c in calls)
    assert all(c["t"] > log.first("final")["t"] - 0.001 for c in calls)


async def test_mid_sentence_correction_is_not_answered_from_the_stale_result(server, speech):
    audio = speech("what is the capital of austria, no, i mean australia", length_scale=1.1)
    async with VoiceClient(server.ws_url, options={"strategy": "fixed-interval"}) as client:
        log = await client.ask_audio(audio)
    final = log.first("final")["text"]
    answer = log.first("turn_metrics")["metrics"]["answer"].lower()
    stale = [c for c in log.of("tool_call") if c["speculative"] and "austria" in c["query"].lower()]
    assert stale, f"no speculative call for the first, wrong entity ({final!r})"
    assert "australia" in final.lower(), final
    assert "canberra" in answer and "vienna" not in answer, (final, answer)
    reused = {r["id"] for r in log.of("tool_reused")}
    assert not reused & {c["id"] for c in stale}, "answered from the stale Austria result"


async def test_preemptive_answer_is_committed_when_the_final_matches(engine, speech):
    """With evidence in hand at the first pause, the answer is prepared before the end of turn."""
    import dataclasses

    from streaming.server.app import bound_port, start_server

    quick = dataclasses.replace(
        engine, config=engine.config.replace(search_latency="none", kg_latency="none")
    )
    runner = await start_server(quick, "127.0.0.1", 0)
    try:
        url = f"ws://127.0.0.1:{bound_port(runner)}/ws"
        async with VoiceClient(url, options={"strategy": "triggered"}) as client:
            log = await client.ask_audio(
                speech("tell me the capital of australia if you can please")
            )
        async with VoiceClient(
            url, options={"strategy": "triggered", "preemptive": False}
        ) as client:
            plain = await client.ask_audio(
                speech("tell me the capital of australia if you can please")
            )
    finally:
        await runner.cleanup()
    metrics = log.first("turn_metrics")["metrics"]
    assert metrics["preempted"] is True and metrics["preempt_started"] >= 1
    assert "canberra" in metrics["answer"].lower()
    assert plain.first("turn_metrics")["metrics"]["preempted"] is False
    assert plain.first("turn_metrics")["metrics"]["answer"] == metrics["answer"]


async def test_spoken_followup_resolves_against_the_previous_turn(server, speech):
    """Two spoken turns in one session: "who is the chief executive officer of tesla", then "and
    where was he born?" asks about Elon Musk (the KB: born in Pretoria, South Africa)."""
    async with VoiceClient(server.ws_url, options={"strategy": "triggered"}) as client:
        first = await client.ask_audio(speech("who is the chief executive officer of tesla"))
        second = await client.ask_audio(speech("and where was he born?"))
    assert "elon musk" in first.first("turn_metrics")["metrics"]["answer"].lower()
    final = second.first("final")["text"].lower()
    assert "he" in final.split() or "he born" in final, final  # the user said "he", not the name
    queries = [c["query"].lower() for c in second.of("tool_call")]
    reused = {r["id"]: r["final_query"].lower() for r in second.of("tool_reused")}
    asked = queries + list(reused.values())
    assert any("elon musk" in q for q in asked), (final, queries, reused)
    assert second.first("turn_metrics")["metrics"]["query"] == "elon musk born", final
    answer = second.first("turn_metrics")["metrics"]["answer"].lower()
    assert "pretoria" in answer, (final, answer)


async def test_spoken_correction_in_another_phrasing(server, speech):
    """ "… Austria? Sorry, I meant Australia.": the Austria calls fired while the user spoke must
    not answer the corrected question."""
    audio = speech("what is the capital of austria? sorry, i meant australia.", length_scale=1.1)
    async with VoiceClient(server.ws_url, options={"strategy": "triggered"}) as client:
        log = await client.ask_audio(audio)
    final = log.first("final")["text"]
    metrics = log.first("turn_metrics")["metrics"]
    stale = {c["id"] for c in log.of("tool_call") if "austria" in c["query"].lower()}
    assert "australia" in final.lower() and metrics["query"] == "capital australia", final
    assert not {r["id"] for r in log.of("tool_reused")} & stale, final
    assert "canberra" in metrics["answer"].lower() and "vienna" not in metrics["answer"].lower()
