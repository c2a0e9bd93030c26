"""Scoring an evaluation run: each turn judged the CRAG way, then per-strategy summaries.

A turn's row carries its verdict, the ASR's word error rate, and the latency figures the server
reported in ``turn_metrics`` plus the client's own end-of-speech -> first-audio time, and, given
the clips' word timestamps, the turn's oracle bound (``streaming.eval.oracle``). The headline
latency is the first *answer* audio: a spoken acknowledgement before it does not count.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np

from streaming.eval.judge import Verdict, breakdown, judge, score
from streaming.eval.llm_judge import LlmJudge
from streaming.eval.manifest import TurnRecord
from streaming.eval.oracle import Words, oracle_fire_ms, oracle_turn
from voice.wer import spoken_wer

ZERO_WAIT_MS = 10.0  # below this the user did not wait for a tool (local bookkeeping only)
# (key, label): the stages of a turn, in order, as reported by the server's turn_metrics.
STAGES = (
    ("end_of_turn_wait_ms", "VAD end-of-turn wait"),
    ("asr_final_ms", "end of turn -> final transcript"),
    ("retrieval_ms", "final -> evidence (tool wait)"),
    ("llm_first_sentence_ms", "evidence -> first answer sentence"),
    ("tts_first_audio_ms", "first sentence -> first audio"),
)
LATENCIES = (
    *STAGES,
    ("tool_wait_ms", "tool wait after the final transcript"),
    ("asr_decode_ms", "final transcript decode (wall, queue included)"),
    ("first_audio_ms", "end of turn -> first audio sent"),
    ("speech_end_to_first_audio_ms", "end of speech -> first audio (server)"),
    ("client_first_audio_ms", "end of speech -> first audio byte (client)"),
    ("first_answer_audio_ms", "end of turn -> first answer audio sent"),
    ("speech_end_to_first_answer_audio_ms", "end of speech -> first answer audio (server)"),
    ("client_first_answer_audio_ms", "end of speech -> first answer audio byte (client)"),
    ("oracle_tool_wait_ms", "oracle bound: tool wait"),
    ("oracle_first_answer_audio_ms", "oracle bound: end of speech -> first answer audio"),
    ("oracle_fire_before_speech_end_ms", "oracle fire time before the end of speech"),
)
HEADLINE_KEY = "client_first_answer_audio_ms"


def _tts_stage(m: dict[str, Any]) -> float | None:
    parts = [m.get(k) for k in ("first_audio_ms", "asr_final_ms", "retrieval_ms",
                                "llm_first_sentence_ms")]  # fmt: skip
    if any(p is None for p in parts):
        return None
    return round(max(0.0, parts[0] - sum(parts[1:])), 1)


def reuse_lead_ms(record: TurnRecord) -> float | None:
    """How long before the end of speech the reused speculative call fired (audio clock);
    None when the turn reused nothing."""
    reuse, speech_end = record.metrics.get("reuse"), record.metrics.get("speech_end_ms")
    if reuse in (None, "fresh") or speech_end is None:
        return None
    fired = {e["id"]: e.get("audio_ms") for e in record.events if e["type"] == "tool_call"}
    times = [fired[i] for i in reuse.split(",") if fired.get(i) is not None]
    return round(speech_end - min(times), 1) if times else None


def tool_latency_ms(record: TurnRecord) -> float | None:
    """How long the calls that answered the turn took (the reused ones and those fired at the
    end of turn; the slowest of them); None when one has no result."""
    reuse = record.metrics.get("reuse") or "fresh"
    used = set(reuse.split(",")) if reuse != "fresh" else set()
    used |= {
        e["id"]
        for e in record.events
        if e["type"] == "tool_call" and not e.get("speculative", True)
    }
    took = {e["id"]: e.get("elapsed_ms") for e in record.events if e["type"] == "tool_result"}
    if not used or any(took.get(i) is None for i in used):
        return None
    return max(float(took[i]) for i in used)


def _answer_audio(m: dict[str, Any], client_ms: float | None) -> dict[str, float | None]:
    """First *answer* audio figures; older runs (no acknowledgement) have only first audio."""
    first, answer = m.get("first_audio_ms"), m.get("first_answer_audio_ms", m.get("first_audio_ms"))
    gap = answer - first if answer is not None and first is not None else None
    return {
        "first_answer_audio_ms": answer,
        "speech_end_to_first_answer_audio_ms": m.get(
            "speech_end_to_first_answer_audio_ms", m.get("speech_end_to_first_audio_ms")
        ),
        # the client's first byte may be the acknowledgement: add the server's gap to the answer
        "client_first_answer_audio_ms": round(client_ms + gap, 1)
        if client_ms is not None and gap is not None
        else (client_ms if not m.get("acknowledged") else None),
    }


async def judge_records(
    records: Sequence[TurnRecord],
    llm: LlmJudge | None = None,
    words: dict[str, Words] | None = None,
) -> list[dict]:
    """One flat row per turn: verdict, WER, latencies, tool behaviour and, with the clips' word
    timestamps, the oracle bound (no events)."""
    rows = []
    words = words or {}
    for r in records:
        m = r.metrics
        if r.error and not m:
            verdict = Verdict("missing", f"no answer: {r.error}")
        elif llm is not None:
            verdict = await llm.judge(r.question, r.answer, r.gold, r.question_type)
        else:
            verdict = judge(r.answer, r.gold, r.question_type, question=r.question)
        row = {
            "id": r.id, "strategy": r.strategy, "question": r.question, "gold": r.gold[:1],
            "domain": r.domain, "question_type": r.question_type, "voice": r.voice,
            "transcript": r.transcript, "answer": r.answer, "outcome": verdict.outcome,
            "reason": verdict.reason, "error": r.error,
            "wer": round(spoken_wer(r.question, r.transcript), 4) if r.transcript else None,
            "client_first_audio_ms": (round(r.client_first_audio_ms, 1)
                                      if r.client_first_audio_ms is not None else None),
            "tts_first_audio_ms": _tts_stage(m), "reuse_lead_ms": reuse_lead_ms(r),
        }  # fmt: skip
        for key in ("end_of_turn_wait_ms", "asr_final_ms", "asr_decode_ms", "retrieval_ms",
                    "tool_wait_ms",
                    "llm_first_sentence_ms", "first_audio_ms", "speech_end_to_first_audio_ms",
                    "calls", "speculative_calls", "cancelled", "wasted", "hedged", "reuse", "covering",
                    "reuse_differs",
                    "preempted", "preempt_commit", "preempt_started", "preempt_discarded",
                    "preempt_discarded_cpu_ms", "acknowledged", "answer_source", "query",
                    "speech_end_ms", "end_of_turn_ms", "end_of_turn_reason"):  # fmt: skip
            row[key] = m.get(key)
        row |= _answer_audio(m, row["client_first_audio_ms"])
        row["tool_latency_ms"] = tool_latency_ms(r) if m else None
        fire = oracle_fire_ms(words.get(r.id) or [], m.get("query") or r.question)
        row["oracle_fire_ms"] = fire if r.id in words else None
        speech_end = m.get("speech_end_ms")
        row["oracle_fire_before_speech_end_ms"] = (
            speech_end - fire if speech_end is not None and row["oracle_fire_ms"] is not None
            else None
        )  # fmt: skip
        row |= oracle_turn(row, row["oracle_fire_ms"]) or {
            "oracle_tool_wait_ms": None, "oracle_first_answer_audio_ms": None}  # fmt: skip
        rows.append(row)
    return rows


def _pct(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 1) if values else None


def _mean(values: list[float]) -> float | None:
    return round(float(np.mean(values)), 3) if values else None


def _ratio(value: float | None, bound: float | None) -> float | None:
    """How far ``value`` is above the oracle ``bound`` (0.15 = 15 % over it)."""
    return round(value / bound - 1, 3) if value is not None and bound else None


def summarize(rows: Sequence[dict], strategies: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Per strategy: CRAG scores (overall, by domain, by type), ASR WER, latency P50/P90 per
    stage, zero-wait share, calls per turn and the reuse error rate."""
    by_strategy: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        by_strategy[row["strategy"]].append(row)
    out: dict[str, dict[str, Any]] = {}
    for s in strategies:
        turns = by_strategy.get(s, [])
        answered = [r for r in turns if r["error"] is None]
        verdicts = [Verdict(r["outcome"], r["reason"]) for r in turns]
        wers = [r["wer"] for r in turns if r["wer"] is not None]
        waits = [r["tool_wait_ms"] for r in answered if r["tool_wait_ms"] is not None]
        reused = [r for r in answered if r["reuse"] not in (None, "fresh")]
        leads = [r["reuse_lead_ms"] for r in reused if r.get("reuse_lead_ms") is not None]
        audited = [r for r in reused if r["reuse_differs"] is not None]
        latency = {}
        for key, _ in LATENCIES:
            values = [r[key] for r in answered if r.get(key) is not None]
            latency[key] = {"p50": _pct(values, 50), "p90": _pct(values, 90), "n": len(values)}
        out[s] = {
            "turns": len(turns),
            "errors": len(turns) - len(answered),
            **score(verdicts),
            "by_domain": breakdown(verdicts, [r["domain"] for r in turns]),
            "by_type": breakdown(verdicts, [r["question_type"] for r in turns]),
            "asr_wer": _mean(wers),
            "asr_exact_share": _mean([float(w == 0) for w in wers]),
            "latency": latency,
            "zero_wait_share": _mean([float(w < ZERO_WAIT_MS) for w in waits]),
            "calls_per_turn": _mean([r["calls"] or 0 for r in answered]),
            "speculative_calls_per_turn": _mean([r["speculative_calls"] or 0 for r in answered]),
            "cancelled_per_turn": _mean([r["cancelled"] or 0 for r in answered]),
            "wasted_per_turn": _mean([r["wasted"] or 0 for r in answered]),
            "hedged_per_turn": _mean([r.get("hedged") or 0 for r in answered]),
            "reuse_share": round(len(reused) / len(answered), 4) if answered else None,
            "covering_share": _mean([float((r.get("covering") or 0) > 1) for r in answered]),
            "reuse_error_rate": _mean([float(bool(r["reuse_differs"])) for r in audited]),
            "reuse_audited": len(audited),
            "reuse_lead_ms": {"p50": _pct(leads, 50), "p90": _pct(leads, 90), "n": len(leads)},
            "preempted_share": _mean([float(bool(r["preempted"])) for r in answered]),
            "preempt_answer_share": _mean(
                [float(r.get("preempt_commit") == "answer") for r in answered]
            ),
            "preempt_audio_share": _mean(
                [float(r.get("preempt_commit") == "audio") for r in answered]
            ),
            "preempt_started_per_turn": _mean([r.get("preempt_started") or 0 for r in answered]),
            "preempt_discarded_per_turn": _mean(
                [r.get("preempt_discarded") or 0 for r in answered]
            ),
            "preempt_discarded_cpu_ms_per_turn": _mean(
                [r.get("preempt_discarded_cpu_ms") or 0.0 for r in answered]
            ),
            "acknowledged_share": _mean([float(bool(r.get("acknowledged"))) for r in answered]),
            "vs_oracle_p50": _ratio(
                latency["speech_end_to_first_answer_audio_ms"]["p50"],
                latency["oracle_first_answer_audio_ms"]["p50"],
            ),
        }
    return out


def disagreements(rows: Sequence[dict], strategies: Sequence[str]) -> list[dict]:
    """Questions whose verdict differs between strategies, with each strategy's answer."""
    per_id: dict[str, dict[str, dict]] = defaultdict(dict)
    for row in rows:
        per_id[row["id"]][row["strategy"]] = row
    out = []
    for qid, by in per_id.items():
        outcomes = {s: by[s]["outcome"] for s in strategies if s in by}
        if len(set(outcomes.values())) > 1:
            first = next(iter(by.values()))
            out.append({
                "id": qid, "question": first["question"], "gold": first["gold"],
                "outcomes": outcomes,
                "answers": {s: by[s]["answer"] for s in strategies if s in by},
                "transcripts": {s: by[s]["transcript"] for s in strategies if s in by},
            })  # fmt: skip
    return out
