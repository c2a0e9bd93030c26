"""AudioCRAG-style question sets: CRAG loaders, per-question evidence, the CRAG judge, and a small
end-to-end build with real piper/espeak-ng voices and the real Whisper filter."""

import bz2
import json
import logging
import wave

import numpy as np
import pytest
from aiohttp import web
from conftest import CRAG_DIR, serve_routes

from streaming.cli.main import main
from streaming.eval import clips
from streaming.eval.clips import (
    RATE,
    build,
    make_clip,
    make_noise,
    parse_voice,
    resolve_voices,
)
from streaming.eval.crag import load_crag
from streaming.eval.judge import Verdict, breakdown, judge, score
from streaming.eval.llm_judge import LlmJudge
from tools.corpus import DATA_DIR, Question, load_questions
from tools.search.evidence import chunk_text, evidence_index, html_to_text
from voice.wer import spoken_wer

DEV = CRAG_DIR / "dev_data.jsonl.bz2"
SPLIT0 = CRAG_DIR / "crag_v4_questions_split0.jsonl"
needs_dev = pytest.mark.skipif(not DEV.exists(), reason="../shared/crag/dev_data.jsonl.bz2 absent")
needs_split0 = pytest.mark.skipif(not SPLIT0.exists(), reason="CRAG v4 split0 file absent")

# --- loaders --------------------------------------------------------------------------------


def test_bundled_qa_loads_like_the_project_loader():
    ours, theirs = load_crag(DATA_DIR / "qa"), load_questions()
    assert [q.id for q in ours] == [q.id for q in theirs] and len(ours) >= 150
    assert [q.alt_answers for q in ours] == [q.alt_answers for q in theirs]
    assert all(q.domain and q.question_type and q.search_results for q in ours)


@needs_split0
def test_v4_split0_has_only_index_query_answer():
    qs = load_crag(SPLIT0)
    assert len(qs) == 1371 and qs[0].id == "0" and len({q.id for q in qs}) == len(qs)
    assert all(q.query and q.domain == "" and q.alt_answers == [] for q in qs)
    assert sum(q.answer == "invalid question" for q in qs) > 100
    assert evidence_index(qs[0]) is None


@needs_dev
def test_dev_data_old_schema_with_string_alternatives():
    qs = load_crag(DEV)
    assert len(qs) == 10 and all(len(q.search_results) == 5 for q in qs)
    assert all(q.alt_answers == [] for q in qs)  # "[]" in the file is an empty list
    assert {q.domain for q in qs} <= {"finance", "sports", "music", "movie", "open"}


def test_v5_style_rows_plain_and_bz2(tmp_path):
    rows = [
        {"interaction_id": "a1", "query": " who wrote hamlet ", "answer": "William Shakespeare",
         "alt_ans": ["Shakespeare"], "domain": "open", "question_type": "simple",
         "popularity": "head", "search_results": [{"page_name": "Hamlet", "page_url": "u",
         "page_snippet": "Hamlet is a tragedy by <b>William Shakespeare</b> &amp; nobody else.",
         "page_result": ""}]},
        {"interaction_id": "a2", "query": "q2", "answer": 42, "alternative_answers": "forty two"},
        {"query": "q3", "answer": "x", "alternative_answers": "['y', 'z']"},
        {"v4_index": 7, "query": "q4", "answer": "w", "alt_ans": None},
    ]  # fmt: skip
    text = "\n".join(json.dumps(r) for r in rows) + "\n\n"
    (tmp_path / "plain.jsonl").write_text(text)
    with bz2.open(tmp_path / "packed.jsonl.bz2", "wt") as f:
        f.write(text)
    for name in ("plain.jsonl", "packed.jsonl.bz2"):
        qs = load_crag(tmp_path / name)
        assert [q.id for q in qs] == ["a1", "a2", f"{name.split('.')[0]}-2", "7"]
        assert qs[0].query == "who wrote hamlet" and qs[0].gold == [
            "William Shakespeare",
            "Shakespeare",
        ]
        assert qs[1].answer == "42" and qs[1].alt_answers == ["forty two"]
        assert qs[2].alt_answers == ["y", "z"] and qs[3].alt_answers == []
    assert len(load_crag(tmp_path)) == 8  # a folder of files
    index = evidence_index(qs[0])
    assert index is not None and [d.id for d in index.docs] == ["a1-0-0"]
    assert index.docs[0].text == "Hamlet is a tragedy by William Shakespeare & nobody else."
    assert evidence_index(qs[1]) is None
    with pytest.raises(FileNotFoundError):
        load_crag(tmp_path / "missing.jsonl")


# --- evidence -------------------------------------------------------------------------------


def test_html_to_text_drops_scripts_styles_and_head():
    html = (
        "<html><head><title>T</title><script>var x = 1;</script><style>p{color:red}</style>"
        "<body><nav>Home</nav><p>Canberra is the capital of Australia.</p>"
        "<script>alert('no')</script><div>Tom &amp; Jerry&nbsp;live here.</div></body></html>"
    )
    text = html_to_text(html)
    assert text.split("\n") == [
        "Home",
        "Canberra is the capital of Australia.",
        "Tom & Jerry live here.",
    ]
    assert chunk_text("One two three four five six. " * 7) == [
        ("One two three four five six. " * 3).strip()
    ] * 2 + ["One two three four five six."]


# key facts of each gold answer, by hand; the rest of the dev questions have yes/no/"en"/"nan" golds
DEV_KEYS = {
    "55b219e5": ["salesforce"],
    "6a9a6e0f": ["aniston", "lolavie", "kardashian", "skkn", "selena gomez", "rare beauty"],
    "ecc1e84c": ["never won the masters", "yet to win the masters"],
    "1645bfaf": ["hess midstream", "xerox", "at&t"],
    "db078969": ["i-878", "3,696"],
    "d535abd8": ["carol forman", "spider lady"],
    "1d2e8c37": ["universal"],
}


@needs_dev
def test_per_question_evidence_finds_the_gold(caplog):
    """Measured: the key fact is somewhere in the pages for 5 of 7 questions; BM25 over ~3-sentence
    passages puts it in the top 5 for 3 of those and in the top 10 for 4."""
    found, top5, top10 = 0, 0, 0
    for q in load_crag(DEV):
        index = evidence_index(q)
        assert index is not None and len(index.docs) > 20
        doc = index.docs[0]
        assert doc.id.startswith(f"{q.id}-") and doc.title and doc.url.startswith("http")
        assert all("<script" not in d.text and "</" not in d.text for d in index.docs)
        assert max(len(d.text.split()) for d in index.docs) <= 250
        keys = DEV_KEYS.get(q.id[:8])
        if not keys or not any(k in d.text.lower() for d in index.docs for k in keys):
            continue
        found += 1
        hits = [h.doc.text.lower() for h in index.search(q.query, k=10)]
        top5 += any(k in t for t in hits[:5] for k in keys)
        top10 += any(k in t for t in hits for k in keys)
    logging.getLogger(__name__).info(
        "evidence: in pages %d/7, top5 %d, top10 %d", found, top5, top10
    )
    assert found >= 4 and top10 / found >= 0.6 and top5 / found >= 0.5


# --- judge ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prediction", "gold", "qtype", "outcome"),
    [
        ("Canberra is the capital of Australia.", ["Canberra"], None, "correct"),
        ("the beatles", ["The Beatles."], None, "correct"),
        ("Twenty-seven titles.", ["27"], None, "correct"),
        ("They have 1,000,000 fans", ["1000000 fans"], None, "correct"),
        ("Timothy Cook", ["Tim Cook", "Timothy Cook"], None, "correct"),
        ("I don't know.", ["Canberra"], None, "missing"),
        ("I'm not sure.", ["Canberra"], None, "missing"),
        ("", ["Canberra"], None, "missing"),
        ("Sydney is the capital.", ["Canberra"], None, "hallucinated"),
        ("The highway is 3,650 feet long.", ["3,696 feet"], None, "hallucinated"),  # tens: 3,700
        ("The highway is about 3,700 feet long.", ["3,696 feet"], None, "correct"),  # rounds to it
        ("The highway is 3,500 feet long.", ["3,696 feet"], None, "hallucinated"),  # 5.3 % off
        ("It was founded in 1976.", ["1975"], None, "hallucinated"),  # years are exact
        ("Founded on April 4, 1975 by Gates.", ["1975"], None, "correct"),  # the year decides
        ("Founded on April 4, 1976.", ["1975"], None, "hallucinated"),
        # no number but a year: a text gold may still be contained
        (
            "It cut rates by half a percentage point in September 2024.",
            ["half a percentage point", "0.5 percentage points"],
            None,
            "correct",
        ),  # fmt: skip
        ("Prices rose in 2024.", ["3 percent"], None, "hallucinated"),
        ("Since 1903 the Yankees have won 27 titles.", ["27"], None, "correct"),
        ("Brady has 7 rings, 2 more than anyone.", ["2"], None, "hallucinated"),  # first number
        ("about 2.03 billion dollars", ["$2 billion"], None, "correct"),
        ("2 million", ["$2 billion"], None, "hallucinated"),
        ("Yes, it is.", ["yes"], None, "correct"),
        ("No.", ["yes"], None, "hallucinated"),
        (
            "That's not right: Apple was founded by Jobs and Wozniak.",
            ["invalid question"],
            None,
            "correct",
        ),
        (
            "Actually, Tim Cook did not found Apple.",
            ["invalid question"],
            "false_premise",
            "correct",
        ),
        ("Tim Cook founded Apple in 1976.", ["invalid question"], "false_premise", "hallucinated"),
        ("Invalid question.", ["Paris"], None, "hallucinated"),
        ("word " * 80 + "Canberra", ["Canberra"], None, "hallucinated"),  # cut at 75 words
    ],
)
def test_rule_judge(prediction, gold, qtype, outcome):
    assert judge(prediction, gold, qtype).outcome == outcome


def test_score_and_breakdown():
    v = [
        Verdict("correct", ""),
        Verdict("correct", ""),
        Verdict("missing", ""),
        Verdict("hallucinated", ""),
    ]
    assert score(v) == {
        "accuracy": 0.5,
        "hallucination": 0.25,
        "missing": 0.25,
        "score": 0.25,
        "n": 4,
    }
    assert score([])["n"] == 0
    by = breakdown(v, ["open", "open", "music", ""])
    assert by["open"]["score"] == 1.0 and by["music"]["missing"] == 1.0 and "unknown" in by


async def test_llm_judge_and_fallback():
    seen = {}

    async def completions(request):
        seen.update(await request.json())
        return web.json_response({"choices": [{"message": {"content": '{"correct": true}'}}]})

    async with serve_routes(("POST", "/v1/chat/completions", completions)) as url:
        llm = LlmJudge(f"{url}/v1", "grader")
        v = await llm.judge(
            "who founded apple",
            "Jobs, Wozniak and Wayne.",
            ["Steve Jobs, Steve Wozniak and Ronald Wayne"],
        )
        assert v.outcome == "correct" and v.reason.startswith("llm")
        assert seen["stream"] is False and "Ronald Wayne" in seen["messages"][-1]["content"]
        assert (await llm.judge("q", "I don't know", ["x"])).outcome == "missing"  # no LLM call
    dead = LlmJudge("http://127.0.0.1:9/v1", "grader")
    v = await dead.judge("capital of australia", "Canberra", ["Canberra"])
    assert v.outcome == "correct"
    v = await dead.judge("capital of australia", "It is Sydney", ["Canberra"])
    assert v.outcome == "hallucinated" and "llm judge failed" in v.reason


# --- voices, clips, build -------------------------------------------------------------------


def test_voices_and_missing_espeak(monkeypatch, caplog):
    assert parse_voice("piper-slow").length_scale == 1.2
    assert parse_voice("espeak:en-us+f3").espeak_voice == "en-us+f3"
    with pytest.raises(ValueError):
        parse_voice("robot")
    if clips.shutil.which("espeak-ng"):
        with pytest.raises(ValueError, match="no voice"):
            resolve_voices(["espeak:xx-bogus"])
    monkeypatch.setattr(clips.shutil, "which", lambda _: None)
    with caplog.at_level(logging.WARNING):
        assert [v.name for v in resolve_voices(["piper", "espeak:en-gb"])] == ["piper"]
    assert "espeak-ng is not installed" in caplog.text


def test_clip_silence_and_snr():
    t = np.arange(RATE) / RATE
    speech = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    clean = make_clip(speech, 0.5, 1.0)
    assert (
        clean.size == int(2.5 * RATE) and not clean[: RATE // 2].any() and not clean[-RATE:].any()
    )
    noisy = make_clip(speech, 0.5, 1.0, snr_db=20, rng=np.random.default_rng(1))
    noise = noisy - clean
    snr = 10 * np.log10(np.mean(speech**2) / np.mean(noise**2))
    assert abs(snr - 20) < 0.5
    pink = np.abs(np.fft.rfft(make_noise(RATE, "pink", np.random.default_rng(0)))) ** 2
    assert pink[10:100].mean() > 20 * pink[-1000:].mean()


def test_spoken_wer_forgives_number_words_and_ampersands():
    assert spoken_wer("how many 3-point attempts", "How many three-point attempts?") == 0
    assert spoken_wer("the s&p 500 index", "the S & P 500 index") == 0
    assert spoken_wer("what is the capital of austria", "what is the capital and austria") > 0


def _wav(path):
    with wave.open(str(path)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (RATE, 1, 2)
        return np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float32) / 32768


def _check_build(out, voices, max_wer):
    manifest = [json.loads(line) for line in (out / "manifest.jsonl").open()]
    rejected = [json.loads(line) for line in (out / "rejected.jsonl").open()]
    stats = json.loads((out / "build.json").read_text())
    assert stats["kept"] == len(manifest) and stats["rejected"] == len(rejected)
    assert set(stats["per_voice"]) == set(voices) and stats["settings"]["max_wer"] == max_wer
    for row in manifest:
        assert row["wer"] <= max_wer and row["has_evidence"] and row["domain"] == "open"
        assert row["voice"] in voices and row["answer"] and isinstance(row["alt_answers"], list)
        audio = _wav(out / row["audio"])
        assert abs(audio.size / RATE - row["duration_s"]) < 0.01
        lead, speech = audio[: RATE * 4 // 10], audio[RATE // 2 : -RATE]
        if row["snr_db"] is None:
            assert np.abs(lead).max() < 1e-3  # 0.5 s of leading silence
        else:
            assert 0 < np.sqrt(np.mean(lead**2)) < np.sqrt(np.mean(speech**2)) / 5
        assert np.sqrt(np.mean(speech**2)) > 0.01
    assert all(r["wer"] > max_wer and not (out / r["audio"]).exists() for r in rejected)
    return manifest


@pytest.mark.slow
def test_build_end_to_end(engine, tmp_path):
    """Three bundled questions, piper and espeak-ng, the third (piper) with white noise at 20 dB.

    Which clips pass at max WER 0 varies run to run (piper samples noise; CI once heard
    "Australia" as "Bostriliate"), so the strict build checks the filter's rule on whatever it
    kept and rejected, and a lenient second build checks every WAV."""
    voices = ["piper", "espeak:en-us"] if clips.shutil.which("espeak-ng") else ["piper"]
    for max_wer in (0.0, 10.0):
        out = tmp_path / str(max_wer)
        report = build(DATA_DIR / "qa" / "open.jsonl", out, voices=voices, limit=3, max_wer=max_wer,
                       snr_db=[None, None, 20], tts=engine.tts, asr=engine.asr, progress=False)  # fmt: skip
        assert report.total == 3 and report.kept + report.rejected == 3 and report.failed == 0
        manifest = _check_build(out, voices, max_wer)
    assert report.kept == 3 and [r["snr_db"] for r in manifest] == [None, None, 20]


class ScriptedAsr:
    def __init__(self, texts):
        self.texts = list(texts)
        self.name = "scripted"

    def transcribe(self, audio):
        assert audio.dtype == np.float32 and audio.size > RATE
        return self.texts.pop(0)


@pytest.mark.slow
def test_wer_filter_threshold(engine, tmp_path):
    qs = [Question("q1", "what is the capital of austria", "Vienna"),
          Question("q2", "who wrote hamlet", "Shakespeare")]  # fmt: skip
    heard = ["What is the capital of Austria?", "who wrote omelet"]
    strict = build(
        qs, tmp_path / "a", voices=["piper"], tts=engine.tts, asr=ScriptedAsr(heard), progress=False
    )
    assert (strict.kept, strict.rejected, strict.kept_share) == (1, 1, 0.5)
    assert strict.per_voice["piper"] == {"total": 2, "kept": 1, "kept_share": 0.5}
    loose = build(qs, tmp_path / "b", voices=["piper"], max_wer=0.34, tts=engine.tts,
                  asr=ScriptedAsr(heard), progress=False)  # fmt: skip
    assert (
        loose.kept == 2 and len((tmp_path / "b" / "manifest.jsonl").read_text().splitlines()) == 2
    )
    # a rejected clip is tried again with the next voice, up to `attempts` voices
    retry = build(qs, tmp_path / "c", voices=["piper", "piper-slow"], attempts=2, tts=engine.tts,
                  asr=ScriptedAsr([*heard, "who wrote hamlet"]), progress=False)  # fmt: skip
    rows = [json.loads(line) for line in (tmp_path / "c" / "manifest.jsonl").open()]
    assert (retry.kept, retry.rejected) == (2, 1)
    assert [(r["voice"], r["attempt"]) for r in rows] == [("piper", 1), ("piper", 2)]
    assert retry.as_dict()["questions_kept_share"] == 1.0


def test_cli_errors(tmp_path, capsys):
    assert (
        main(
            [
                "audiocrag",
                "build",
                "--questions",
                str(tmp_path / "nope.jsonl"),
                "--out",
                str(tmp_path),
            ]
        )
        == 1
    )
    err = capsys.readouterr().err
    assert (
        err.strip() == f"streamrag audiocrag: questions file not found: {tmp_path / 'nope.jsonl'}"
    )
    with pytest.raises(SystemExit) as exc:
        main(["audiocrag"])
    assert exc.value.code == 2
