"""``streamrag eval``: build -> replay through strategies -> score -> report, end to end on real
models and the real websocket; the scoring and the error paths on their own."""

from __future__ import annotations

import json

import numpy as np
import pytest

from streaming.cli.main import main
from streaming.eval.clips import build
from streaming.eval.judge import judge
from streaming.eval.manifest import load_manifest
from streaming.eval.report import write_report
from streaming.eval.run import run_eval
from streaming.eval.score import disagreements, judge_records, summarize
from tools.corpus import Question
from voice.audio import write_wav


@pytest.mark.slow
async def test_build_then_eval_end_to_end(engine, server, tmp_path):
    qs = [Question("cap", "what is the capital of australia", "Canberra", domain="open",
                   question_type="simple"),
          Question("ham", "who wrote the play hamlet", "William Shakespeare", domain="open",
                   question_type="simple")]  # fmt: skip
    report = build(qs, tmp_path / "set", voices=["piper-exact"], max_wer=10.0, tts=engine.tts,
                   asr=engine.asr, progress=False)  # fmt: skip
    assert report.kept == 2
    manifest = tmp_path / "set" / "manifest.jsonl"
    with manifest.open("a") as f:  # a clip whose audio is garbage: recorded as an error, no crash
        (tmp_path / "set" / "audio" / "bad.wav").write_bytes(b"RIFF not really a wav")
        f.write(json.dumps({"id": "bad", "audio": "audio/bad.wav", "text": "what is this",
                            "answer": "nothing"}) + "\n")  # fmt: skip
    clips = load_manifest(manifest)
    assert [c.id for c in clips] == ["cap", "ham", "bad"] and clips[0].gold == ("Canberra",)

    seen = []
    strategies = ["final", "triggered"]
    records = await run_eval(server.ws_url, clips, strategies, progress=False,
                             on_record=seen.append)  # fmt: skip
    assert len(seen) == 6
    assert [(r.id, r.strategy) for r in records] == [
        (c, s) for c in ("cap", "ham", "bad") for s in strategies
    ]
    for r in records[:4]:
        assert r.error is None, r.error
        assert r.metrics["strategy"] == r.strategy and r.answer and r.answer_audio_ms > 500
        kinds = [e["type"] for e in r.events]
        assert kinds.index("end_of_turn") < kinds.index("final") < kinds.index("turn_metrics")
        assert r.client_first_audio_ms is not None and r.client_first_audio_ms > 0
        # unpaced audio: the turn ends long before its answer audio could have played out
        # (long answers only: the end also waits for the reuse audit's search, ~1 s at most)
        end = next(e["t_ms"] for e in r.events if e["type"] == "turn_metrics")
        first_audio = next(e["t_ms"] for e in r.events if e["type"] == "answer_delta")
        if r.answer_audio_ms >= 2500:
            assert end - first_audio < r.answer_audio_ms
    for r in records[:4]:  # (piper-exact: no sampling noise, the same audio in every run)
        assert r.transcript == next(e["text"] for e in r.events if e["type"] == "final")
        assert "capital of" in r.transcript.lower() or "who wrote" in r.transcript.lower()
    assert all(r.error and r.error.startswith("audio:") for r in records[4:])

    rows = await judge_records(records)
    for row, r in zip(rows[:4], records[:4], strict=True):
        verdict = judge(r.answer, r.gold, r.question_type, question=r.question)
        assert row["outcome"] == verdict.outcome
    assert rows[4]["outcome"] == "missing" and rows[4]["wer"] is None
    summary = summarize(rows, strategies)
    for s in strategies:
        assert summary[s]["turns"] == 3 and summary[s]["errors"] == 1
        assert summary[s]["latency"]["client_first_audio_ms"]["n"] == 2
        wers = [row["wer"] for row in rows if row["strategy"] == s and row["wer"] is not None]
        assert summary[s]["asr_wer"] == pytest.approx(np.mean(wers), abs=1e-3) and len(wers) == 2
        assert summary[s]["asr_wer"] < 0.5 and set(summary[s]["by_type"]) == {"simple", "unknown"}
    paths = write_report(tmp_path / "report", rows, summary, disagreements(rows, strategies),
                         strategies, {"title": "test run", "clips": 3})  # fmt: skip
    md = paths["md"].read_text()
    assert "## Headline" in md and "latency_cdf.png" in md and "## By question type" in md
    for png in ("latency_cdf.png", "stages.png", "accuracy_by_type.png"):
        assert (tmp_path / "report" / png).read_bytes()[:4] == b"\x89PNG"
    html = paths["html"].read_text()
    assert html.count("data:image/png;base64,") == 3 and "<table>" in html
    results = json.loads(paths["results"].read_text())
    assert len(results["turns"]) == 6 and set(results["summary"]) == set(strategies)


def _row(strategy, qid, outcome, wait, reuse="fresh", differs=None, **kw):
    return {
        "id": qid, "strategy": strategy, "question": f"q {qid}", "gold": ["g"], "domain": "d",
        "question_type": "simple", "transcript": f"q {qid}", "answer": f"a {outcome}",
        "outcome": outcome, "reason": "", "error": None, "wer": 0.0, "tool_wait_ms": wait,
        "calls": 2, "speculative_calls": 1, "cancelled": 0, "wasted": 1, "reuse": reuse,
        "reuse_differs": differs, "preempted": False, "client_first_audio_ms": 1000 + wait,
        **kw,
    }  # fmt: skip


def test_summary_and_disagreements():
    rows = [
        _row("final", "1", "correct", 800.0),
        _row("final", "2", "missing", 900.0),
        _row("triggered", "1", "correct", 0.0, reuse="c1", differs=False),
        _row("triggered", "2", "hallucinated", 5.0, reuse="c2", differs=True),
    ]
    summary = summarize(rows, ["final", "triggered"])
    f, t = summary["final"], summary["triggered"]
    assert (f["accuracy"], f["missing"], f["score"]) == (0.5, 0.5, 0.5)
    assert (t["accuracy"], t["hallucination"], t["score"]) == (0.5, 0.5, 0.0)
    assert f["zero_wait_share"] == 0.0 and t["zero_wait_share"] == 1.0
    assert f["reuse_share"] == 0.0 and f["reuse_error_rate"] is None
    assert t["reuse_share"] == 1.0 and t["reuse_error_rate"] == 0.5 and t["reuse_audited"] == 2
    assert f["latency"]["tool_wait_ms"]["p50"] == 850.0
    assert f["latency"]["client_first_audio_ms"]["p90"] == pytest.approx(1890.0)
    assert t["by_domain"]["d"]["n"] == 2 and f["calls_per_turn"] == 2
    disagreed = disagreements(rows, ["final", "triggered"])
    assert [d["id"] for d in disagreed] == ["2"]
    assert disagreed[0]["outcomes"] == {"final": "missing", "triggered": "hallucinated"}


def test_eval_cli_errors(tmp_path, capsys):
    assert main(["eval", str(tmp_path / "nope.jsonl")]) == 1
    assert "No such file" in capsys.readouterr().err
    bad = tmp_path / "manifest.jsonl"
    bad.write_text('{"id": "x"}\n')
    assert main(["eval", str(bad)]) == 1
    assert "manifest.jsonl:1: not a manifest row" in capsys.readouterr().err
    bad.write_text('{"id": "x", "audio": "gone.wav", "text": "hi", "answer": "a"}\n')
    assert main(["eval", str(bad), "--url", "ws://127.0.0.1:9/ws"]) == 1
    assert "1 audio files are missing" in capsys.readouterr().err
    assert main(["eval", str(bad), "--strategies", "final,psychic"]) == 2


def test_eval_unreachable_server_still_reports(tmp_path, capsys):
    """Every session fails to open: each turn is recorded as an error and a report is written."""
    write_wav(tmp_path / "a.wav", np.zeros(16000, np.float32), 16000)
    (tmp_path / "manifest.jsonl").write_text("".join(
        json.dumps({"id": i, "audio": "a.wav", "text": "hello there", "answer": "x"}) + "\n"
        for i in ("a", "b")))  # fmt: skip
    out = tmp_path / "out"
    code = main(["eval", str(tmp_path), "--url", "ws://127.0.0.1:9/ws", "--out", str(out),
                 "--no-progress", "--concurrency", "4"])  # fmt: skip
    assert code == 1
    results = json.loads((out / "results.json").read_text())
    assert [(t["id"], t["strategy"]) for t in results["turns"]] == [
        (i, s) for i in ("a", "b") for s in ("final", "fixed-interval", "triggered")
    ]  # in (clip, strategy) order, whatever order they finished in
    assert all(t["error"] and t["outcome"] == "missing" for t in results["turns"])
    events = [json.loads(line) for line in (out / "events.jsonl").open()]
    assert len(events) == 6 and all(e["error"].startswith("session:") for e in events)
    assert (out / "report.html").exists()


@pytest.mark.slow
async def test_eval_searches_each_questions_own_evidence(engine, tmp_path):
    """CRAG Task 1: a question's pages become its evidence, and the session searches only them."""
    from dataclasses import replace

    from streaming.server.app import bound_port, start_server
    from tools.corpus import load_questions

    q = next(q for q in load_questions() if q.id == "open-q001")  # carries a snippet page
    build([q], tmp_path / "set", voices=["piper-exact"], max_wer=10.0, tts=engine.tts, asr=engine.asr,
          progress=False)  # fmt: skip
    row = json.loads((tmp_path / "set" / "manifest.jsonl").read_text())
    assert row["evidence"] == "open-q001"
    passages = [json.loads(line) for line in (tmp_path / "set" / "evidence" / "open-q001.jsonl").open()]  # fmt: skip
    assert passages and all(p["id"].startswith("open-q001-") for p in passages)
    config = engine.config.replace(
        evidence_dir=str(tmp_path / "set" / "evidence"), kg=False, eval_mode=True
    )
    runner = await start_server(replace(engine, config=config), "127.0.0.1", 0)
    try:
        url = f"ws://127.0.0.1:{bound_port(runner)}/ws"
        clips = load_manifest(tmp_path / "set")
        bogus = replace(clips[0], id="bogus", evidence="no-such-question")
        records = await run_eval(url, [*clips, bogus], ["triggered"], progress=False)
    finally:
        await runner.cleanup()
    good, bad = records
    assert good.error is None, good.error
    results = [e for e in good.events if e["type"] == "tool_result" and e.get("results")]
    assert results and all(
        hit["id"].startswith("open-q001-") for e in results for hit in e["results"]
    )
    assert bad.error and bad.error.startswith("server: unknown_evidence")


def test_rescore_rebuilds_the_report_from_recorded_events(tmp_path):
    """--rescore judges events.jsonl again without replaying (and measures the reuse lead)."""
    write_wav(tmp_path / "a.wav", np.zeros(16000, np.float32), 16000)
    (tmp_path / "manifest.jsonl").write_text(json.dumps(
        {"id": "a", "audio": "a.wav", "text": "capital of australia", "answer": "Canberra"}) + "\n")  # fmt: skip
    out = tmp_path / "eval"
    out.mkdir()
    turn = {
        "id": "a", "strategy": "triggered", "question": "capital of australia",
        "gold": ["Canberra"], "domain": "open", "question_type": "simple", "voice": "piper",
        "transcript": "Capital of Australia?", "answer": "The capital is Canberra.",
        "metrics": {"reuse": "c2", "speech_end_ms": 2000, "tool_wait_ms": 0.0, "calls": 2,
                    "speculative_calls": 2, "cancelled": 1, "wasted": 0, "reuse_differs": False,
                    "first_audio_ms": 300.0, "asr_final_ms": 100.0, "retrieval_ms": 5.0,
                    "llm_first_sentence_ms": 1.0, "end_of_turn_wait_ms": 416},
        "client_first_audio_ms": 760.0, "answer_audio_ms": 1500,
        "events": [{"type": "tool_call", "id": "c1", "audio_ms": 900, "t_ms": 1400},
                   {"type": "tool_call", "id": "c2", "audio_ms": 1300, "t_ms": 1800}],
        "error": None,
    }  # fmt: skip
    (out / "events.jsonl").write_text(json.dumps(turn) + "\n")
    code = main(["eval", str(tmp_path), "--rescore", "--strategies", "triggered",
                 "--out", str(out)])  # fmt: skip
    assert code == 0
    results = json.loads((out / "results.json").read_text())
    (row,) = results["turns"]
    assert row["outcome"] == "correct" and row["reuse_lead_ms"] == 700.0
    assert row["tts_first_audio_ms"] == 194.0 and row["wer"] == 0.0
    summary = results["summary"]["triggered"]
    assert summary["zero_wait_share"] == 1.0 and summary["reuse_lead_ms"]["p50"] == 700.0
    assert (
        "| reused call fired before end of speech, P50 (ms) | 700 |"
        in (out / "report.md").read_text()
    )


def test_rescore_with_an_llm_judge(tmp_path):
    """--judge-url/--judge-model grade through an OpenAI-compatible endpoint (a local stand-in)."""
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    asked = []

    class Judge(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's naming)
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            asked.append(body["messages"][1]["content"])
            reply = {"choices": [{"message": {"content": '{"correct": true}'}}]}
            data = json.dumps(reply).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    http = HTTPServer(("127.0.0.1", 0), Judge)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    try:
        write_wav(tmp_path / "a.wav", np.zeros(16000, np.float32), 16000)
        (tmp_path / "manifest.jsonl").write_text(json.dumps(
            {"id": "a", "audio": "a.wav", "text": "who is older", "answer": "Denzel"}) + "\n")  # fmt: skip
        out = tmp_path / "eval"
        out.mkdir()
        turn = {"id": "a", "strategy": "final", "question": "who is older", "gold": ["Denzel"],
                "domain": "", "question_type": "comparison", "voice": "", "transcript": "who is older",
                "answer": "Washington was born first.", "metrics": {"calls": 1}, "events": [],
                "client_first_audio_ms": None, "answer_audio_ms": 0, "error": None}  # fmt: skip
        (out / "events.jsonl").write_text(json.dumps(turn) + "\n")
        code = main(["eval", str(tmp_path), "--rescore", "--strategies", "final", "--out", str(out),
                     "--judge-url", f"http://127.0.0.1:{http.server_port}",
                     "--judge-model", "grader"])  # fmt: skip
    finally:
        http.shutdown()
    assert code == 0 and len(asked) == 1 and "Washington was born first." in asked[0]
    results = json.loads((out / "results.json").read_text())
    assert results["turns"][0]["outcome"] == "correct"  # the rule judge alone says hallucinated
    assert results["meta"]["judge"] == "llm grader"
