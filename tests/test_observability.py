"""Operations: ``/metrics`` moves with real sessions, and JSON log lines carry session and turn."""

from __future__ import annotations

import dataclasses
import io
import json
import logging

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from streaming.client.connection import VoiceClient
from streaming.server.app import SESSIONS, bound_port, start_server
from streaming.server.observability import JsonFormatter, Observability, setup_logging


async def scrape(base_url: str) -> dict[tuple[str, tuple], float]:
    """Every sample on ``/metrics``: (name, sorted labels) -> value."""
    async with aiohttp.ClientSession() as http:
        async with http.get(base_url + "/metrics") as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"].startswith("text/plain")
            text = await resp.text()
    samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def total(samples, name: str, **labels) -> float:
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= set(ls))


async def test_metrics_move_after_a_typed_question(server):
    before = await scrape(server.http_url)
    async with VoiceClient(server.ws_url, options={"strategy": "final"}) as client:
        log = await client.ask_text("what is the capital of austria", timeout=60)
        during = await scrape(server.http_url)
        await client.ws.send("not json")  # an error by code
        await client.wait_for("error")
    metrics = log.first("turn_metrics")["metrics"]
    assert metrics["answer"]
    await server.runner.app[SESSIONS].wait_for_count(0)
    after = await scrape(server.http_url)

    def moved(name: str, **labels) -> float:
        return total(after, name, **labels) - total(before, name, **labels)

    assert total(during, "streamrag_sessions_open") >= 1
    assert total(after, "streamrag_sessions_open") == 0
    assert moved("streamrag_sessions_total") == 1
    assert moved("streamrag_turns_total", kind="typed", outcome="answered") == 1
    assert moved("streamrag_answers_total", source=metrics["answer_source"]) == 1
    assert moved("streamrag_errors_total", code="bad_json") == 1
    # the final strategy fires its calls after the end of turn, one per tool it needs
    assert moved("streamrag_final_calls_total") == metrics["calls"] >= 1
    for stage in ("end_of_turn_to_first_audio", "tool_wait"):
        assert moved("streamrag_stage_seconds_count", stage=stage) == 1, stage
    first_audio_s = metrics["first_audio_ms"] / 1000
    assert moved("streamrag_stage_seconds_sum", stage="end_of_turn_to_first_audio") == (
        pytest.approx(first_audio_s, abs=1e-3)
    )
    # typed turns have no ASR or VAD stages
    assert moved("streamrag_stage_seconds_count", stage="asr_final") == 0


async def test_spoken_turn_feeds_the_speech_stages_and_speculation(server, speech):
    before = await scrape(server.http_url)
    async with VoiceClient(server.ws_url, options={"strategy": "fixed-interval"}) as client:
        log = await client.ask_audio(speech("what is the capital of austria"), timeout=90)
    m = log.first("turn_metrics")["metrics"]
    after = await scrape(server.http_url)

    def moved(name: str, **labels) -> float:
        return total(after, name, **labels) - total(before, name, **labels)

    assert moved("streamrag_turns_total", kind="spoken") == 1
    for stage in ("speech_end_to_first_audio", "end_of_turn_wait", "asr_final"):
        assert moved("streamrag_stage_seconds_count", stage=stage) == 1, stage
    assert moved("streamrag_speculative_calls_total", outcome="fired") == m["speculative_calls"]
    assert m["speculative_calls"] >= 1, m
    reused = 0 if m["reuse"] == "fresh" else len(m["reuse"].split(","))
    assert moved("streamrag_speculative_calls_total", outcome="reused") == reused
    assert moved("streamrag_speculative_calls_total", outcome="wasted") == m["wasted"]


def test_turn_metrics_without_stages_are_counted_not_observed():
    obs = Observability()
    obs.observe_turn({"typed": False, "interrupted": True, "first_audio_ms": None})
    obs.observe_turn({"typed": True, "error": "RuntimeError: x", "tool_wait_ms": 12.0})
    turns = {
        tuple(sorted(s.labels.items())): s.value
        for f in obs.registry.collect()
        if f.name == "streamrag_turns"
        for s in f.samples
        if s.name == "streamrag_turns_total"
    }
    assert turns[(("kind", "spoken"), ("outcome", "interrupted"))] == 1
    assert turns[(("kind", "typed"), ("outcome", "failed"))] == 1
    assert (
        obs.registry.get_sample_value("streamrag_stage_seconds_count", {"stage": "tool_wait"}) == 1
    )
    assert obs.registry.get_sample_value("streamrag_stage_seconds_sum", {"stage": "tool_wait"}) == (
        0.012
    )


def test_two_apps_have_separate_registries():
    a, b = Observability(), Observability()  # would raise "Duplicated timeseries" if shared
    a.errors.labels("bad_json").inc()
    assert b.registry.get_sample_value("streamrag_errors_total", {"code": "bad_json"}) is None


class BrokenTts:
    """Fault injection: a TTS that raises, so the turn's task logs a traceback."""

    rate = 22050

    async def stream(self, text: str, *priorities):
        raise RuntimeError("piper crashed")
        yield  # pragma: no cover

    def synthesize(self, text: str, **kw):
        raise RuntimeError("piper crashed")

    async def speak(self, text: str, *args, **kw):
        raise RuntimeError("piper crashed")


async def test_json_log_lines_carry_session_and_turn(engine):
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    runner = await start_server(dataclasses.replace(engine, tts=BrokenTts()), "127.0.0.1", 0)
    try:
        url = f"ws://127.0.0.1:{bound_port(runner)}/ws"
        async with VoiceClient(url) as client:
            await client.ask_text("what is the capital of austria", timeout=30)
            await client.ask_text("what is the capital of france", timeout=30)
            session_id = client.ready["session_id"]
        await runner.app[SESSIONS].wait_for_count(0)
    finally:
        await runner.cleanup()
        root.removeHandler(handler)
        root.setLevel(old_level)
    records = [json.loads(line) for line in buffer.getvalue().splitlines()]  # every line parses
    assert all({"ts", "level", "logger", "msg"} <= set(r) for r in records)
    mine = [r for r in records if r.get("session") == session_id]
    assert any("opened" in r["msg"] for r in mine), records
    failures = [r for r in mine if r["level"] == "ERROR" and "exc" in r]
    assert [r["turn"] for r in failures][:2] == [1, 2], failures
    assert "piper crashed" in failures[0]["exc"]


def test_setup_logging_json_writes_json(capsys):
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        setup_logging("INFO", "json")
        logging.getLogger("streaming.test").info("hello %s", "world")
        line = capsys.readouterr().err.strip().splitlines()[-1]
        assert json.loads(line)["msg"] == "hello world"
        with pytest.raises(ValueError):
            setup_logging("INFO", "yaml")
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
