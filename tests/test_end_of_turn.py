"""Semantic end of turn: the pure decision as timelines, the text score, Smart Turn, the server."""

from __future__ import annotations

import numpy as np
import pytest

from streaming.client.connection import VoiceClient
from streaming.server.engine import load_end_of_turn
from tools.language.completeness import completeness
from voice.endpoint import FixedEndpoint, SemanticEndpoint, SemanticParams, make_endpoint
from voice.model_files import smart_turn_model_path
from voice.vad import FRAME_MS, TurnDetector

needs_model = pytest.mark.skipif(smart_turn_model_path() is None, reason="pipecat-ai not installed")


def run(timeline, smart_turn: bool = True, params: SemanticParams | None = None, **kw):
    """Steps in audio order -> [(event kind, silence ms when it was decided)].

    ("speech", ms) / ("silence", ms): VAD frames; ("text", words, covers) a transcript that
    covers the speech so far (True) or stops ``covers`` ms short of it; ("smart", p);
    ("decoding",) the tentative final starts, ("final", words) its text lands."""
    endpoint = SemanticEndpoint(params, smart_turn, **kw)
    det = TurnDetector(min_speech_ms=96, early_final_ms=128, endpoint=endpoint)
    out = []
    for kind, *args in timeline:
        if kind in ("speech", "silence"):
            for _ in range(args[0] // FRAME_MS):
                for e in det.update(0.9 if kind == "speech" else 0.05):
                    out.append((e.kind, e.audio_ms - e.speech_ms))
        elif kind == "text":
            short = 0 if args[1] is True else args[1]
            endpoint.on_text(args[0], det.audio_ms - short)
        elif kind == "final":  # the tentative final's text lands (it covers the speech)
            endpoint.on_text(args[0], det.audio_ms, final=True)
        elif kind == "smart":
            endpoint.on_smart(args[0])
        elif kind == "decoding":  # the tentative final, started now, covers the speech
            endpoint.on_pending(det.audio_ms)
        elif kind == "decode_failed":
            endpoint.on_pending(None)
    return out


def ends(events):
    return [silence for kind, silence in events if kind == "end_of_turn"]


def test_a_complete_question_ends_at_the_minimum_silence():
    events = run([("speech", 1600), ("silence", 96), ("smart", 0.97), ("silence", 600)])
    assert ("probe", 64) in events and ("pause", 128) in events
    assert ends(events) == [224]  # the first 32 ms frame past 200 ms


def test_a_trailing_preposition_holds_the_turn_through_a_long_pause():
    timeline = [("speech", 1600), ("silence", 160), ("smart", 0.85)]
    timeline += [("text", "what is the capital of", True), ("silence", 700), ("speech", 600)]
    timeline += [("silence", 96), ("smart", 0.98), ("silence", 400)]
    events = run(timeline)
    assert ("resume", 32) in events
    assert ends(events) == [224], "one turn, ended after the entity, not inside the pause"


@pytest.mark.parametrize("filler", ["um", "so", "and", "what is the"])
def test_fillers_hold_until_the_hard_maximum(filler):
    events = run([("speech", 800), ("silence", 160), ("text", filler, True), ("silence", 1400)])
    assert ends(events) == [1216]


def test_a_stale_transcript_is_ignored():
    # decoded 300 ms before the last voiced sample: "what is the capital" looks complete but
    # the words after it are not in it; no Smart Turn verdict either -> the unknown wait
    timeline = [("speech", 1600), ("text", "what is the capital", 300), ("silence", 1000)]
    assert ends(run(timeline)) == [512]  # the first frame past unknown_ms (500)


def test_smart_turn_doubting_a_complete_text_waits_longer():
    timeline = [("speech", 1600), ("silence", 96), ("smart", 0.2)]
    timeline += [("text", "who directed titanic", True), ("silence", 1000)]
    assert ends(run(timeline)) == [928]  # the first frame past doubt_ms (900)


def test_a_lukewarm_smart_turn_waits_for_the_transcript():
    timeline = [("speech", 1600), ("silence", 96), ("smart", 0.7), ("silence", 320)]
    timeline += [("text", "who directed titanic", True), ("silence", 600)]
    assert ends(run(timeline)) == [448]  # the first frame after the text arrived


def test_a_sure_smart_turn_waits_for_the_tentative_final_under_way():
    # ending before the decode lands brings no answer sooner; a pause that goes on is not cut
    timeline = [("speech", 1600), ("silence", 128), ("decoding",), ("smart", 0.97)]
    timeline += [("silence", 320), ("final", "who directed titanic"), ("silence", 600)]
    assert ends(run(timeline)) == [480]  # the first frame after the text, not 224
    eager = SemanticParams(hold_for_text=False)
    assert ends(run(timeline, params=eager)) == [224]


def test_a_fragment_in_a_pause_is_held_while_its_transcript_decodes():
    # lukewarm Smart Turn on "what is the capital of": no longer cut at the unknown wait
    timeline = [("speech", 1600), ("silence", 128), ("decoding",), ("smart", 0.7)]
    timeline += [("silence", 480), ("final", "what is the capital of"), ("silence", 300)]
    timeline += [("speech", 600), ("silence", 128), ("smart", 0.98), ("silence", 400)]
    assert ends(run(timeline)) == [224]
    assert ends(run(timeline, params=SemanticParams(hold_for_text=False))) == [512, 224]


def test_a_partial_that_looks_complete_does_not_end_the_turn_before_the_final_lands():
    """tiny.en's "what record label released" for "what record label released the |": the
    base decode under way has the last word; its "the" keeps the turn open through the pause."""
    timeline = [("speech", 1600), ("silence", 128), ("decoding",), ("smart", 0.98)]
    timeline += [("text", "what record label released", True), ("silence", 224)]
    timeline += [("final", "What record label released the"), ("silence", 400)]
    timeline += [("speech", 900), ("silence", 96), ("smart", 0.97), ("silence", 400)]
    events = run(timeline)
    assert ("resume", 32) in events
    assert ends(events) == [224], "one turn, ended after the album's name"


def test_a_decode_that_is_slow_or_fails_stops_holding():
    slow = [("speech", 1600), ("silence", 128), ("decoding",), ("smart", 0.97), ("silence", 1200)]
    assert ends(run(slow)) == [928]  # held to doubt_ms, then Smart Turn decides
    failed = [("speech", 1600), ("silence", 128), ("decoding",), ("smart", 0.97)]
    failed += [("silence", 160), ("decode_failed",), ("silence", 400)]
    assert ends(run(failed)) == [320]  # at once: no text will come


def test_without_the_model_the_text_decides_and_nothing_is_probed():
    timeline = [("speech", 1600), ("silence", 416), ("text", "how old is tom hanks", True)]
    events = run(timeline + [("silence", 600)], smart_turn=False)
    assert not [e for e in events if e[0] == "probe"]
    assert ends(events) == [448]


def test_resumed_speech_drops_the_signals_of_the_shorter_turn():
    endpoint = SemanticEndpoint()
    endpoint.on_smart(0.99)
    epoch = endpoint.epoch
    endpoint.reset()
    assert endpoint.epoch == epoch + 1
    assert not endpoint.decide(400, 0) and endpoint.reason.startswith("no verdict")


def test_the_fixed_policy_is_the_old_window():
    det = TurnDetector(min_speech_ms=96, early_final_ms=128, endpoint=make_endpoint("fixed", 400))
    events = [e for p in [0.9] * 20 + [0.05] * 20 for e in det.update(p)]
    eot = [e for e in events if e.kind == "end_of_turn"]
    assert [e.audio_ms - e.speech_ms for e in eot] == [416]
    assert isinstance(TurnDetector().endpoint, FixedEndpoint)
    with pytest.raises(ValueError):
        make_endpoint("sometimes", 400)


@pytest.mark.parametrize(
    "text, done",
    [
        ("what is the capital of australia", True),
        ("who directed titanic", True),
        ("is paris the capital of france", True),
        ("could you please tell me what the capital city of australia is", True),
        ("how many moons does mars have", True),
        ("what is the capital of", False),
        ("what is the", False),
        ("how old is", False),
        ("um", False),
        ("so", False),
        ("tell me about", False),
        ("what is the population of canada and", False),
        ("what is the capital of australia um", False),
        ("", False),
    ],
)
def test_completeness_of_transcripts(text, done):
    c = completeness(text)
    assert c.complete if done else c.incomplete, (text, c)


@pytest.mark.parametrize(
    "text",
    [
        "what arena do the boston celtics play their home games in",  # a stranded preposition
        "so what city was he born in",
        "Who directed that?",  # whisper's guess at a cut-off "who directed the"
        "what year did that",
    ],
)
def test_unclear_transcripts_leave_the_decision_to_smart_turn(text):
    c = completeness(text)
    assert not c.complete and not c.incomplete, (text, c)


@pytest.mark.parametrize(
    ("smart", "follow_up", "expected"),
    [(0.8, False, 928), (0.95, False, 928), (0.8, True, 928), (0.95, True, 224)],
)
def test_a_text_that_may_be_cut_off_waits_unless_a_follow_up_is_surely_done(
    smart, follow_up, expected
):
    """ "who won that" is Whisper's "who won the |"; with nothing said before to refer to it
    waits to doubt_ms, in a follow-up only a sure Smart Turn ends it at once."""
    timeline = [("speech", 1600), ("silence", 96), ("smart", smart)]
    timeline += [("text", "who won that", True), ("silence", 1000)]
    assert completeness("who won that").cut_off
    assert ends(run(timeline, has_referent=lambda: follow_up)) == [expected]


def test_the_cut_off_hold_keeps_a_mid_phrase_pause_in_one_turn():
    timeline = [("speech", 1600), ("silence", 96), ("smart", 0.85)]
    timeline += [("text", "What record label released it?", True), ("silence", 600)]
    timeline += [("speech", 900), ("silence", 96), ("smart", 0.97), ("silence", 400)]
    events = run(timeline)
    assert ("resume", 32) in events
    assert ends(events) == [224], "ended after the album's name, not inside the pause"


# --- Smart Turn v3, the real model --------------------------------------------------------------
@needs_model
def test_smart_turn_separates_a_question_from_a_dangling_and(speech):
    model = load_end_of_turn()  # the engine's own loader: the real SmartTurn
    probe = np.zeros(64 * 16, np.float32)  # the 64 ms probe of a live session
    done = model.predict(np.concatenate([speech("what is the capital of australia"), probe]))
    dangling = model.predict(
        np.concatenate([speech("what is the capital of australia and"), probe])
    )
    assert done > 0.9 > 0.5 > dangling, (done, dangling)


# --- through the real server --------------------------------------------------------------------
def paused(speech, before: str, after: str, pause_s: float) -> tuple[np.ndarray, float, float]:
    """``before`` + ``pause_s`` of silence + ``after``; the pause's bounds in seconds."""
    from streaming.client.connection import last_voiced_sample

    a = speech(before)
    a = a[: last_voiced_sample(a, 16000)]
    b = speech(after, lead_s=0.0)
    gap = np.zeros(int(pause_s * 16000), np.float32)
    return np.concatenate([a, gap, b]), a.size / 16000, (a.size + gap.size) / 16000


async def end_of_turns(client: VoiceClient, audio: np.ndarray) -> list[dict]:
    client.new_turn()
    await client.send_audio(audio, trailing_silence_s=1.5)
    await client.wait_for("turn_metrics", 60)
    return client.log.of("end_of_turn")


@pytest.mark.slow
async def test_spoken_pauses_do_not_cut_in_and_complete_questions_end_soon(server, speech):
    options = {"strategy": "final", "end_of_turn": "semantic"}
    async with VoiceClient(server.ws_url, options=options) as client:
        for before, after in [("what is the capital of", "australia"), ("um", "who wrote hamlet")]:
            audio, start_s, stop_s = paused(speech, before, after, 0.7)
            eots = await end_of_turns(client, audio)
            inside = [e for e in eots if e["audio_ms"] < stop_s * 1000]
            assert not inside, f"cut in during the pause after {before!r}: {eots}"
            assert len(eots) == 1
        eots = await end_of_turns(client, speech("who wrote the novel pride and prejudice"))
    wait = eots[0]["audio_ms"] - eots[0]["speech_end_ms"]
    # held only by the hard maximum would be 1216 ms; a verdict arrived before it
    assert len(eots) == 1 and wait < SemanticParams().max_ms, wait
