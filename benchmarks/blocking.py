"""Blocking work on the event loop: what each CPU-bound tool call costs, and what the loop feels.

Part 1 times each call by itself (P50/P99/max, ms) on the bundled data, over realistic inputs:
- the knowledge-graph parse of every demo question's word prefixes (what a partial transcript
  looks like) and of the full questions (resolve), cold (no memo) and as one session now pays it
  (memo warm from that question's earlier partials only);
- the reflector's local sufficiency check (``top_ids`` of both: two BM25 top-k searches) for each
  speculative query against the final one, cold and memoized;
- the per-question evidence index (CRAG pages from ../shared/crag, else passages of the bundled
  knowledge base), built cold, and served from the LRU;
- for comparison the work that stays inline: the predictor's pure logic, the SQLite fact lookup.

Part 2 replays the demo questions' partials through ``Lookup`` (triggered strategy, real KG and
BM25 tools, no simulated latency) from several concurrent sessions, and sessions that start on
an evidence id, while a heartbeat measures event-loop lag. "before" runs the same code with the
blocking calls inline on the loop (an inline executor, no KG memo); "after" is the code as it is.

Usage: python benchmarks/blocking.py [--sessions 4] [--gap-ms 20]
Writes benchmarks/results/blocking.json.
"""

from __future__ import annotations

import argparse
import asyncio
import bz2
import gc
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future
from pathlib import Path
from types import SimpleNamespace

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from streaming.rag.lookup import Lookup  # noqa: E402
from streaming.rag.predictor import Predictor  # noqa: E402
from streaming.server.config import Config  # noqa: E402
from streaming.server.toolset import ToolSet  # noqa: E402
from tools.corpus import Document, Question, load_documents, load_questions  # noqa: E402
from tools.kg.graph import KnowledgeGraph  # noqa: E402
from tools.kg.tool import KgTool  # noqa: E402
from tools.language.corrections import apply_corrections, make_query  # noqa: E402
from tools.language.understood import understand  # noqa: E402
from tools.search.bm25 import Bm25Index, LocalSearchTool  # noqa: E402
from tools.search.evidence import evidence_documents  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CRAG = ROOT.parent / "shared" / "crag"
OUT = ROOT / "benchmarks" / "results" / "blocking.json"


class InlineExecutor(Executor):
    """Runs the work inside ``submit``: on the event loop, as the code did before."""

    def submit(self, fn, /, *args, **kwargs):  # type: ignore[override]
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 (handed to the awaiting task)
            future.set_exception(exc)
        return future


class InlineLookup(Lookup):
    """``Lookup`` as it was: every plan (the KG parse) made inside ``on_partial``, on the loop."""

    def on_partial(self, text: str, audio_ms: int, tail: str = "") -> None:
        question = understand(text)
        self.planner.plans(question)  # memoized, so the lookup finds it known
        super().on_partial(question, audio_ms, tail)


class GcPauses:
    """Garbage-collector pauses (they stall the loop too, whatever the code does)."""

    def __init__(self) -> None:
        self.pauses: list[float] = []
        self._t0 = 0.0

    def __call__(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._t0 = time.perf_counter()
        else:
            self.pauses.append((time.perf_counter() - self._t0) * 1000)

    def __enter__(self) -> GcPauses:
        gc.callbacks.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self)

    def summary(self) -> dict:
        return {"n": len(self.pauses), "max_ms": round(max(self.pauses, default=0.0), 3)}


def stats(ms: list[float]) -> dict:
    a = np.asarray(ms, dtype=float)
    return {
        "n": int(a.size),
        "p50_ms": round(float(np.percentile(a, 50)), 3) if a.size else None,
        "p99_ms": round(float(np.percentile(a, 99)), 3) if a.size else None,
        "max_ms": round(float(a.max()), 3) if a.size else None,
    }


def timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1000


def prefixes(text: str) -> list[str]:
    """The word prefixes of a question, as partial transcripts, that the predictor would parse."""
    words = text.split()
    out = [apply_corrections(" ".join(words[:i])) for i in range(1, len(words) + 1)]
    return [p for p in out if make_query(p)]


def evidence_questions() -> list[Question]:
    """Questions with web pages: the CRAG files in ../shared when present."""
    out: list[Question] = []
    for path in (CRAG / "dev_data.jsonl.bz2", CRAG / "subset15" / "questions.jsonl"):
        if not path.is_file():
            continue
        opener = bz2.open if path.suffix == ".bz2" else open
        with opener(path, "rt", encoding="utf-8") as f:
            for n, line in enumerate(f):
                row = json.loads(line)
                qid = str(row.get("interaction_id") or f"{path.stem}-{n}")
                out.append(Question(qid, row["query"], str(row.get("answer", "")),
                                    search_results=row.get("search_results") or []))  # fmt: skip
    return out


def write_evidence(folder: Path, docs: list[Document]) -> list[str]:
    """Evidence files ``<id>.jsonl`` as ``audiocrag build`` writes them; returns the ids."""
    groups: list[list[Document]] = []
    source = "bundled kb"
    for i, q in enumerate(evidence_questions()):
        passages = evidence_documents(q)
        if passages:
            groups.append(passages)
            source = "CRAG pages (../shared/crag)"
        if i > 40:
            break
    if not groups:  # no CRAG data: the bundled knowledge base, 40 documents per "question"
        groups = [docs[i : i + 40] for i in range(0, len(docs), 40)]
    ids = []
    for n, group in enumerate(groups):
        eid = f"ev{n:03d}"
        with open(folder / f"{eid}.jsonl", "w", encoding="utf-8") as f:
            for d in group:
                row = {"id": d.id, "title": d.title, "text": d.text, "url": d.url}
                f.write(json.dumps(row) + "\n")
        ids.append(eid)
    print(f"evidence: {len(ids)} ids from {source}, "
          f"{sum(len(g) for g in groups) / len(groups):.0f} passages each on average")  # fmt: skip
    return ids


def make_toolset(engine: SimpleNamespace) -> ToolSet:
    ts = ToolSet(engine)  # type: ignore[arg-type]
    ts.search = LocalSearchTool(engine.index, engine.config.top_k)
    ts.kg = KgTool(engine.kg, {d.id: d for d in engine.docs})
    return ts


# --- part 1: each call by itself ---------------------------------------------------------------
def per_call(engine: SimpleNamespace, questions: list[Question], evidence_ids: list[str]) -> dict:
    kg: KnowledgeGraph = engine.kg
    ts = make_toolset(engine)
    rows: dict[str, dict] = {}
    partials = [(q, p) for q in questions for p in prefixes(q.query)]
    finals = [apply_corrections(q.query) for q in questions]

    def cold_parse(text: str) -> float:
        kg.clear_caches()
        return timed(lambda: kg.kg_key(text))

    rows["kg_parse partial, cold"] = stats([cold_parse(p) for _, p in partials])
    rows["kg_parse final, cold"] = stats([cold_parse(t) for t in finals])
    incremental = []
    for q in questions:  # one session's partials: memo warm from this question only
        kg.clear_caches()
        incremental += [timed(lambda p=p: kg.kg_key(p)) for p in prefixes(q.query)]
    rows["kg_parse partial, per-session memo"] = stats(incremental)
    for _, p in partials:
        kg.kg_key(p)
    rows["kg_parse memo hit"] = stats([timed(lambda p=p: kg.kg_key(p)) for _, p in partials])

    parsed = [q for t in finals if (q := kg.parse(t)) is not None]
    rows["kg fact lookup (SQLite)"] = stats([timed(lambda q=q: kg.lookup(q)) for q in parsed])

    def predictor_step(q: Question) -> list[float]:
        p = Predictor("triggered")
        return [timed(lambda t=t, i=i: p.on_partial(t, i)) for i, t in enumerate(prefixes(q.query))]

    rows["predictor.on_partial, no KG"] = stats([t for q in questions for t in predictor_step(q)])

    pairs = [(make_query(p), make_query(q.query)) for q, p in partials]

    local_check = lambda a, b: ts.top_ids(a) == ts.top_ids(b)  # noqa: E731 (the reflector's)

    def cold_check(a: str, b: str) -> float:
        ts._top_ids.cache_clear()
        return timed(lambda: local_check(a, b))

    rows["top_ids check, cold"] = stats([cold_check(a, b) for a, b in pairs])
    for a, b in pairs:
        local_check(a, b)
    rows["top_ids check, memoized"] = stats([timed(lambda a=a, b=b: local_check(a, b))
                                             for a, b in pairs])  # fmt: skip
    rows["bm25 search (one query)"] = stats(
        [timed(lambda a=a: engine.index.search(a, 3)) for a, _ in pairs]
    )

    folder = Path(engine.config.evidence_dir)
    rows["evidence index build, cold"] = stats([
        timed(lambda e=e: ts._load_evidence(e, folder / f"{e}.jsonl")) for e in evidence_ids
    ])  # fmt: skip

    async def warm_sessions() -> list[float]:
        for e in evidence_ids:
            await ts.for_session(e)
        out = []
        for e in evidence_ids:
            t0 = time.perf_counter()
            await ts.for_session(e)
            out.append((time.perf_counter() - t0) * 1000)
        return out

    rows["for_session(evidence), LRU hit"] = stats(asyncio.run(warm_sessions()))
    kg.clear_caches()
    return rows


# --- part 2: the event loop under concurrent sessions ------------------------------------------
async def heartbeat(lags: list[float], stop: asyncio.Event, period_s: float = 0.001) -> None:
    while not stop.is_set():
        t0 = time.perf_counter()
        await asyncio.sleep(period_s)
        lags.append(max(0.0, (time.perf_counter() - t0 - period_s) * 1000))


async def session(
    ts: ToolSet, q: Question, gap_s: float, before: bool, on_partial_ms, resolve_ms
) -> None:
    cls, executor = (InlineLookup, InlineExecutor()) if before else (Lookup, None)
    lookup = cls(ts.tools(), lambda e: None, "triggered", 3.0, top_ids=ts.top_ids,
                 executor=executor)  # fmt: skip
    lookup.reset()
    words = q.query.split()
    for i in range(1, len(words) + 1):
        t0 = time.perf_counter()
        lookup.on_partial(" ".join(words[:i]), 300 * i)
        on_partial_ms.append((time.perf_counter() - t0) * 1000)
        await asyncio.sleep(gap_s)
    t0 = time.perf_counter()
    await lookup.resolve(q.query, 300 * len(words) + 600)
    resolve_ms.append((time.perf_counter() - t0) * 1000)
    lookup.close()


async def replay(engine, questions, mode: str, sessions: int, gap_s: float) -> dict:
    """``sessions`` concurrent sessions replaying the questions' partials, then resolving."""
    before = mode == "before"
    kg = KnowledgeGraph(engine.kg.conn, 0, 0) if before else engine.kg  # before: no memo at all
    local = SimpleNamespace(**{**vars(engine), "kg": kg})
    ts = make_toolset(local)
    lags: list[float] = []
    on_partial_ms: list[float] = []
    resolve_ms: list[float] = []
    stop = asyncio.Event()
    beat = asyncio.create_task(heartbeat(lags, stop))
    queue = list(questions)

    async def worker() -> None:
        while queue:
            q = queue.pop(0)
            await session(ts, q, gap_s, before, on_partial_ms, resolve_ms)

    with GcPauses() as pauses:
        await asyncio.gather(*(worker() for _ in range(sessions)))
    stop.set()
    await beat
    return {
        "loop_lag": stats(lags),
        "on_partial_on_loop": stats(on_partial_ms),
        "resolve_wall": stats(resolve_ms),
        "gc_pauses": pauses.summary(),
    }


async def evidence_starts(engine, evidence_ids: list[str], mode: str, sessions: int) -> dict:
    """Sessions starting on evidence ids (each id once, cold) while the heartbeat runs."""
    ts = make_toolset(engine)
    folder = Path(engine.config.evidence_dir)
    lags: list[float] = []
    stop = asyncio.Event()
    beat = asyncio.create_task(heartbeat(lags, stop))
    queue = list(evidence_ids)

    async def worker() -> None:
        while queue:
            e = queue.pop(0)
            if mode == "before":
                ts._load_evidence(e, folder / f"{e}.jsonl")  # what for_session did inline
            else:
                await ts.for_session(e)
            await asyncio.sleep(0.005)

    with GcPauses() as pauses:
        await asyncio.gather(*(worker() for _ in range(sessions)))
    stop.set()
    await beat
    return {"loop_lag": stats(lags), "gc_pauses": pauses.summary()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sessions", type=int, default=4, help="concurrent sessions in part 2")
    ap.add_argument("--gap-ms", type=float, default=20, help="time between partials in part 2")
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--no-gc-freeze", action="store_true",
                    help="keep the loaded graph and indexes in the collector's view (a full "
                         "collection then stalls the loop for tens of ms, in both runs)")  # fmt: skip
    args = ap.parse_args()

    docs = load_documents()
    questions = load_questions()
    with tempfile.TemporaryDirectory() as tmp:
        config = Config(evidence_dir=tmp, search_url="local")
        kg = KnowledgeGraph.build(docs)
        engine = SimpleNamespace(config=config, docs=docs, index=Bm25Index(docs), kg=kg)
        evidence_ids = write_evidence(Path(tmp), docs)
        if not args.no_gc_freeze:  # what a server would do after loading: GC pauses stay small
            gc.collect()
            gc.freeze()
        calls = per_call(engine, questions, evidence_ids)
        loop = {}
        for mode in ("before", "after"):
            kg.clear_caches()
            loop[mode] = asyncio.run(replay(engine, questions, mode, args.sessions,
                                            args.gap_ms / 1000))  # fmt: skip
            starts = asyncio.run(evidence_starts(engine, evidence_ids, mode, args.sessions))
            loop[mode]["evidence_start_loop_lag"] = starts["loop_lag"]
            loop[mode]["evidence_start_gc_pauses"] = starts["gc_pauses"]

    where = {
        "kg_parse": "executor (Lookup worker / resolve; memoized)",
        "top_ids check": "executor when the reflector needs it (resolve)",
        "evidence index build": "executor (ToolSet.for_session, LRU by id)",
        "bm25 search": "executor (LocalSearchTool; inside top_ids)",
        "kg fact lookup": "inline (KgTool, after the parse)",
        "predictor": "inline (pure logic)",
        "for_session": "inline (dict lookup)",
    }
    print(f"\nper call, ms ({os.cpu_count()} CPUs, {platform.python_version()})")
    print(f"{'call':40} {'n':>5} {'P50':>8} {'P99':>8} {'max':>8}  runs")
    for name, s in calls.items():
        s["runs"] = next(v for k, v in where.items() if name.startswith(k))
        print(f"{name:40} {s['n']:5d} {s['p50_ms']:8.3f} {s['p99_ms']:8.3f} {s['max_ms']:8.3f}"
              f"  {s['runs']}")  # fmt: skip
    print(f"\nevent loop, {args.sessions} concurrent sessions, a partial every {args.gap_ms:g} ms")
    print(f"{'measure':34} {'before P50/P99/max':>26} {'after P50/P99/max':>26}")
    for m in ("loop_lag", "on_partial_on_loop", "resolve_wall", "evidence_start_loop_lag"):
        b, a = loop["before"][m], loop["after"][m]
        fmt = lambda s: f"{s['p50_ms']:.2f}/{s['p99_ms']:.2f}/{s['max_ms']:.2f}"  # noqa: E731
        print(f"{m:34} {fmt(b):>26} {fmt(a):>26}")
    for m in ("gc_pauses", "evidence_start_gc_pauses"):
        b, a = loop["before"][m], loop["after"][m]
        fmt = lambda s: f"{s['n']} (max {s['max_ms']:.1f} ms)"  # noqa: E731
        print(f"{m:34} {fmt(b):>26} {fmt(a):>26}")
    result = {
        "env": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "machine": platform.machine(),
            "sessions": args.sessions,
            "gap_ms": args.gap_ms,
            "questions": len(questions),
            "evidence_ids": len(evidence_ids),
        },  # fmt: skip
        "calls": calls,
        "loop": loop,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
