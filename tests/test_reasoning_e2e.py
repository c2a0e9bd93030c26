"""Spoken questions that need reasoning, through the real server: a two-hop question, a false
premise and an age dated by the session's ``query_time`` are answered with one composed sentence
from the knowledge graph, not with a fact read out."""

from __future__ import annotations

import pytest

from streaming.client.connection import VoiceClient

pytestmark = pytest.mark.slow


async def _ask(server, speech, text: str, **options) -> dict:
    audio = speech(text, length_scale=1.1)  # a shade slower: names the ASR must get right
    async with VoiceClient(server.ws_url, options={"strategy": "triggered", **options}) as client:
        log = await client.ask_audio(audio)
    return log.first("turn_metrics")["metrics"]


async def test_spoken_multi_hop_question_is_answered_in_one_composed_sentence(server, speech):
    metrics = await _ask(server, speech, "in what year was the author of pride and prejudice born")
    answer = metrics["answer"].lower()
    assert metrics["answer_source"] == "composed", metrics
    assert "1775" in answer and "jane austen" in answer, answer


async def test_spoken_false_premise_is_corrected_not_answered(server, speech):
    metrics = await _ask(server, speech, "when did bob marley release thriller")
    answer = metrics["answer"].lower()
    assert answer.startswith("actually") and "michael jackson" in answer, answer


async def test_query_time_dates_an_age(server, speech):
    """Warren Buffett (born 30 August 1930) was 94 on 15 March 2025 and 89 on 1 March 2020."""
    for when, age in (("03/15/2025, 10:00:00 PT", "94"), ("2020-03-01", "89")):
        metrics = await _ask(server, speech, "how old is warren buffett", query_time=when)
        assert age in metrics["answer"], (when, metrics["answer"])
