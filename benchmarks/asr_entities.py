"""Do entities survive the ASR? WER and entity-word recall of the final decode, per setting.

Spoken demo questions (piper and espeak-ng en-us, alternating) are decoded by the bundled whisper
base in several final-decode settings: greedy or beam, unbiased or biased (faster-whisper
``hotwords``) toward the names that the speculative lookups would already hold: the KG entity and
the top-3 search titles for the partial transcript that ends 1 s before the pause ("in hand"), or
for the unbiased final itself ("2-pass", a re-decode). Entity words are the gold question's words
that name its own pages' titles or a KG entity found exactly in it. Then the knowledge graph
parses all 190 greedy transcripts: is the gold question's entity found, and how long does it take.
Usage: python benchmarks/asr_entities.py [--clips 60] [--kg-only] [--e2e N] [--out FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from streaming.eval.clips import parse_voice, synthesize  # noqa: E402
from tools.corpus import load_documents, load_questions  # noqa: E402
from tools.kg.graph import KnowledgeGraph  # noqa: E402
from tools.kg.names import norm_tokens  # noqa: E402
from tools.language.corrections import make_query  # noqa: E402
from tools.language.text import STOPWORDS  # noqa: E402
from tools.search.bm25 import Bm25Index  # noqa: E402
from voice.asr import RATE, hotword_text  # noqa: E402
from voice.wer import spoken_wer  # noqa: E402

VOICES = ("piper", "espeak:en-us")
CACHE = Path("/tmp/streamrag-asr-entities")
OUT = Path(__file__).parent / "results" / "asr_entities.json"
# (name, beam, hotword source); "in hand": lookups on the partial that ends 1 s before the pause
SETTINGS = (("greedy", 1, None), ("beam 5", 5, None), ("greedy + in hand", 1, "partial"),
            ("beam 5 + in hand", 5, "partial"), ("greedy + 2-pass", 1, "final"))  # fmt: skip


def entity_words(q, kg: KnowledgeGraph) -> set[str]:
    """Gold words that name something: in its pages' titles or a KG entity matched exactly."""
    names = [r["page_name"] for r in q.search_results]
    names += [row.name for row, score in kg.find_entities(q.query, 5) if score >= 0.95]
    named = {t for n in names for t in norm_tokens(n)}
    return {t for t in norm_tokens(q.query) if t in named and t not in STOPWORDS}


def recall(words: set[str], text: str) -> tuple[int, int]:
    have = set(norm_tokens(text.replace("-", " ")))
    return sum(w in have for w in words), len(words)


def names_in_hand(text: str, kg: KnowledgeGraph, index: Bm25Index) -> list[str]:
    """What ``Lookup.hotwords`` would hold after the speculative calls for ``text``."""
    query = make_query(text)
    if not query:
        return []
    parsed = kg.parse(text)
    names = [parsed.entity] if parsed else []
    return names + [h.doc.title for h in index.search(query, 3)]


def clip(q, voice: str, tts) -> np.ndarray:
    path = CACHE / f"{q.id}-{voice.replace(':', '_')}.npy"
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        np.save(path, synthesize(parse_voice(voice), q.query, tts).astype(np.float32))
    return np.load(path)


def decode(asr, audio: np.ndarray, beam: int, hotwords: str = "") -> tuple[str, float]:
    t0 = time.perf_counter()
    text = asr.transcribe(audio, beam, hotwords)
    return text, (time.perf_counter() - t0) * 1000


def asr_part(questions, kg, index, n_clips: int) -> tuple[dict, list[dict]]:
    from streaming.server.engine import load_asr, load_tts

    asr, tts = load_asr("base"), load_tts()
    asr.transcribe(np.zeros(RATE, np.float32))
    subset = {q.id for q in questions[::3][:n_clips]}
    rows: list[dict] = []
    for i, q in enumerate(tqdm(questions, desc="clips", file=sys.stderr)):
        voice = VOICES[i % 2]
        audio = clip(q, voice, tts)
        greedy, ms = decode(asr, audio, 1)
        row = {"id": q.id, "voice": voice, "gold": q.query, "greedy": greedy, "greedy_ms": ms}
        if q.id in subset:
            partial, _ = decode(asr, audio[: max(RATE // 2, audio.size - RATE)], 1)
            row["partial"] = partial
            sources = {"partial": names_in_hand(partial, kg, index),
                       "final": names_in_hand(greedy, kg, index)}  # fmt: skip
            row["hotwords"] = {k: hotword_text(v) for k, v in sources.items()}
            for name, beam, source in SETTINGS[1:]:
                row[name], row[f"{name}_ms"] = decode(
                    asr, audio, beam, row["hotwords"][source] if source else ""
                )
        rows.append(row)
    return asr_table(rows, questions, kg), rows


def asr_table(rows: list[dict], questions, kg: KnowledgeGraph) -> dict:
    """WER, exact clips, entity-word recall and decode time per voice and setting."""
    by_id, table = {q.id: q for q in questions}, {}
    picked = [r for r in rows if "partial" in r]
    groups = [(v, [r for r in picked if r["voice"] == v]) for v in VOICES] + [("all", picked)]
    for group, part in groups:
        for name, _, _ in SETTINGS:
            got = [recall(entity_words(by_id[r["id"]], kg), r[name]) for r in part]
            times = [r[f"{name}_ms"] for r in part]
            table[f"{group}|{name}"] = {
                "clips": len(part),
                "wer": round(statistics.mean(spoken_wer(r["gold"], r[name]) for r in part), 4),
                "exact": sum(spoken_wer(r["gold"], r[name]) == 0 for r in part),
                "entity_recall": round(sum(g for g, _ in got) / max(1, sum(n for _, n in got)), 4),
                "decode_ms_p50": round(statistics.median(times), 1),
                "decode_ms_p90": round(sorted(times)[int(0.9 * (len(times) - 1))], 1),
            }
    return table


def kg_part(questions, kg: KnowledgeGraph, rows: list[dict]) -> dict:
    """Entity found correctly on the greedy transcripts, and the parse time (cold, per partial)."""
    text = {r["id"]: r["greedy"] for r in rows}
    found = exact_found = total = 0
    cold, partial_ms = [], []
    for q in questions:
        gold = kg.parse(q.query)
        gold_ids = {gold.entity_id} if gold else {r.id for r, s in kg.find_entities(q.query, 1)}
        if not gold_ids or q.id not in text:
            continue
        total += 1
        kg.clear_caches()
        t0 = time.perf_counter()
        heard = kg.parse(text[q.id])
        cold.append((time.perf_counter() - t0) * 1000)
        ids = {heard.entity_id} if heard else set()
        exact_found += bool(ids & gold_ids)
        found += bool(gold_ids & {r.id for r, _ in kg.find_entities(text[q.id], 3)})
        words = text[q.id].split()
        t0 = time.perf_counter()
        for n in range(1, len(words) + 1):  # the partials of one turn, warm caches
            kg.parse(" ".join(words[:n]))
        partial_ms.append((time.perf_counter() - t0) * 1000)
    return {
        "questions": total,
        "parse_entity_correct": round(exact_found / total, 4),
        "find_entities_top3": round(found / total, 4),
        "cold_parse_ms_p50": round(statistics.median(cold), 2),
        "cold_parse_ms_p90": round(sorted(cold)[int(0.9 * (len(cold) - 1))], 2),
        "turn_parse_ms_p50": round(statistics.median(partial_ms), 2),
    }


async def e2e_part(questions, kg, n: int) -> dict:
    """Real-time replay through the server (triggered, default tool latencies), bias off/on."""
    from benchmarks.latency import replay, summarize
    from streaming.server.app import bound_port, start_server
    from streaming.server.config import Config
    from streaming.server.engine import Engine

    engine = Engine.load(Config(llm_backend="extractive"))
    engine.warm_up()
    picked = questions[::3][:n]
    clips = [(q, np.concatenate([np.zeros(RATE // 2, np.float32), clip(q, VOICES[i % 2],
              engine.tts)])) for i, q in enumerate(picked)]  # fmt: skip
    runner = await start_server(engine, "127.0.0.1", 0)
    out = {}
    try:
        url = f"ws://127.0.0.1:{bound_port(runner)}/ws"
        for bias in (False, True):
            rows = await replay(url, clips, f"bias {bias}", {"strategy": "triggered",
                                                              "asr_bias": bias})  # fmt: skip
            got = [
                recall(entity_words(q, kg), r["final"])
                for (q, _), r in zip(clips, rows, strict=True)
            ]
            summary = summarize(rows)
            out[f"bias {'on' if bias else 'off'}"] = {
                "clips": len(rows),
                "wer": round(
                    statistics.mean(spoken_wer(r["question"], r["final"]) for r in rows), 4
                ),
                "entity_recall": round(sum(g for g, _ in got) / max(1, sum(k for _, k in got)), 4),
                "asr_final_ms_p50": round(summary["asr_final_ms"]["p50"], 1),
                "tentative_final_reused": round(summary["tentative_final_reused_share"], 3),
                "speech_end_to_first_audio_p50": round(
                    summary["client_speech_end_to_first_audio_ms"]["p50"], 1
                ),
                "finals": [r["final"] for r in rows],
            }
    finally:
        await runner.cleanup()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=60)
    ap.add_argument("--kg-only", action="store_true", help="reuse the transcripts in --out")
    ap.add_argument("--e2e", type=int, default=0, help="also replay N clips through the server")
    ap.add_argument("--limit", type=int, default=0, help="first N questions only (smoke runs)")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    questions, docs = load_questions(), load_documents()
    questions = questions[: args.limit or None]
    kg, index = KnowledgeGraph.build(docs), Bm25Index(docs)
    if args.kg_only:
        rows = json.loads(args.out.read_text())["rows"]
        table = asr_table(rows, questions, kg)
    else:
        table, rows = asr_part(questions, kg, index, args.clips)
    kg_table = kg_part(questions, kg, rows)
    e2e = asyncio.run(e2e_part(questions, kg, args.e2e)) if args.e2e else {}
    for name, r in e2e.items():
        print(name, {k: v for k, v in r.items() if k != "finals"})
    print(f"{'voice':12} {'setting':18} {'clips':>5} {'WER':>7} {'exact':>5} {'ent.recall':>10} "
          f"{'P50 ms':>7} {'P90 ms':>7}")  # fmt: skip
    for key, r in table.items():
        group, name = key.split("|")
        print(f"{group:12} {name:18} {r['clips']:5} {r['wer']:7.1%} {r['exact']:5} "
              f"{r['entity_recall']:10.1%} {r['decode_ms_p50']:7.0f} {r['decode_ms_p90']:7.0f}")  # fmt: skip
    print("knowledge graph on the greedy transcripts:", json.dumps(kg_table))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    result = {"voices": VOICES, "settings": [s[0] for s in SETTINGS], "asr": table,
              "kg": kg_table, "e2e": e2e, "rows": rows}  # fmt: skip
    args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
