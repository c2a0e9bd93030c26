"""Pure logic, no models: LocalAgreement, turn detection, protocol parsing, text helpers, WER."""

import json

import pytest

from streaming.protocol import ProtocolError, Start, Stop, Text, parse_text_message
from tools.language.corrections import make_query, query_key
from tools.language.text import content_words, is_dismissal, overlap
from voice.local_agreement import LocalAgreement
from voice.tts import split_for_speech
from voice.vad import FRAME_MS, TurnDetector
from voice.wer import word_error_rate


def test_local_agreement_commits_only_what_two_hypotheses_share():
    la = LocalAgreement()
    assert la.update("what is".split()) == ([], ["what", "is"])
    assert la.update("what is the capital".split()) == (["what", "is"], ["the", "capital"])
    stable, tail = la.update("what is the capitol of".split())
    assert stable == ["what", "is", "the"] and tail == ["capitol", "of"]
    # the stable prefix never shrinks, even if a later hypothesis disagrees
    stable, _ = la.update("what was the".split())
    assert stable == ["what", "is", "the"]


def test_local_agreement_ignores_case_and_punctuation():
    la = LocalAgreement()
    la.update(["Hello,", "world"])
    assert la.update(["hello", "World."])[0] == ["hello", "World."]


def run_detector(probs, **kw):
    det = TurnDetector(**kw)
    return [(det.frames, e.kind, e.audio_ms, e.speech_ms) for p in probs for e in det.update(p)]


def test_turn_detector_timeline():
    # 5 silent frames, 20 voiced, 20 silent
    probs = [0.05] * 5 + [0.9] * 20 + [0.05] * 20
    events = run_detector(probs, end_of_turn_ms=320, min_speech_ms=96, early_final_ms=96)
    kinds = [e[1] for e in events]
    assert kinds == ["speech_start", "pause", "end_of_turn"]
    start, pause, eot = events
    assert start[3] == 5 * FRAME_MS  # onset is the first voiced frame
    assert start[2] == 8 * FRAME_MS  # declared after min_speech_ms of speech
    assert pause[2] - pause[3] == 96
    assert eot[3] == 25 * FRAME_MS  # last voiced sample
    assert eot[2] - eot[3] == 320


def test_turn_detector_ignores_short_blips_and_resumes():
    assert run_detector([0.9, 0.9, 0.05] * 10, min_speech_ms=96) == []
    probs = [0.9] * 10 + [0.05] * 5 + [0.9] * 5 + [0.05] * 20
    kinds = [e[1] for e in run_detector(probs, end_of_turn_ms=400, early_final_ms=96)]
    assert kinds == ["speech_start", "pause", "resume", "pause", "end_of_turn"]


def test_turn_detector_hysteresis_keeps_mid_probability_frames_in_speech():
    probs = [0.9] * 10 + [0.4] * 20 + [0.05] * 20
    events = run_detector(probs, end_of_turn_ms=320, early_final_ms=96)
    assert events[-1][1] == "end_of_turn" and events[-1][3] == 30 * FRAME_MS


@pytest.mark.parametrize(
    "raw,code",
    [
        ("not json", "bad_json"),
        ("[1,2]", "bad_json"),
        ('{"type":"nope"}', "unknown_message"),
        ('{"type":"start","sample_rate":12345}', "unsupported_sample_rate"),
        ('{"type":"start","sample_rate":"16000"}', "unsupported_sample_rate"),
        ('{"type":"start","encoding":"opus"}', "unsupported_encoding"),
        ('{"type":"start","options":{"strategy":"psychic"}}', "bad_option"),
        ('{"type":"text","text":""}', "bad_message"),
        (json.dumps({"type": "text", "text": "x" * 3000}), "too_large"),
    ],
)
def test_protocol_rejects_bad_messages(raw, code):
    with pytest.raises(ProtocolError) as err:
        parse_text_message(raw)
    assert err.value.code == code and err.value.message


def test_protocol_accepts_good_messages():
    start = parse_text_message('{"type":"start","sample_rate":48000,"output_sample_rate":24000}')
    assert (
        isinstance(start, Start)
        and start.sample_rate == 48000
        and start.output_sample_rate == 24000
    )
    assert parse_text_message('{"type":"text","text":" hi "}') == Text("hi")
    assert isinstance(parse_text_message('{"type":"stop"}'), Stop)


def test_text_helpers():
    assert content_words("Um, what's the CEO of Apple's?") == ["ceo", "apple"]
    assert query_key(make_query("uh who is the ceo of apple")) == query_key(
        make_query("Who's the CEO of Apple?")
    )
    assert overlap("capital of australia", "Canberra is the capital of Australia.") == 1.0
    assert overlap("capital of australia", "Vienna is in Austria.") == 0.0


def test_split_for_speech_cuts_long_sentences_at_clauses():
    text = (
        "Canberra is the capital. It was chosen in 1908, as a compromise between Sydney and "
        "Melbourne, the two largest cities, after years of rivalry between them."
    )
    pieces = split_for_speech(text, max_words=10)
    assert pieces[0] == "Canberra is the capital."
    assert len(pieces) >= 3 and all(len(p.split()) >= 4 for p in pieces)
    assert " ".join(pieces).split() == text.split()


def test_word_error_rate():
    assert (
        word_error_rate("What is the capital of Australia?", "what is the capital of australia")
        == 0
    )
    assert word_error_rate("a b c d", "a x c") == 0.5
    assert word_error_rate("", "") == 0


def test_dismissals_need_no_answer():
    assert is_dismissal("Wait, stop please.") and is_dismissal("") and is_dismissal("okay thanks")
    assert not is_dismissal("wait, what is the capital of austria")


def test_first_piece_is_short_so_first_audio_comes_sooner():
    pieces = split_for_speech("Tim Cook has been the CEO of Apple since 2011.")
    assert pieces == ["Tim Cook has been the CEO", "of Apple since 2011."]
    assert split_for_speech("The capital of Australia is Canberra.") == [
        "The capital of Australia is Canberra."
    ]
