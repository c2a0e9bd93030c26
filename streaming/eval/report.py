"""The evaluation report: ``results.json``, ``report.md`` and ``report.html`` with three plots
(latency CDF per strategy, stacked stage breakdown, accuracy by question type).

The tables are built once and rendered to both Markdown and HTML; the plots are PNG files next to
the Markdown and inlined (base64) in the HTML, so the HTML is one self-contained file.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from streaming.eval.score import HEADLINE_KEY, LATENCIES, STAGES

Table = tuple[str, list[str], list[list[str]]]  # title, header, rows
PLOTS = (
    ("latency_cdf.png", "End of speech to first answer audio (client), CDF per strategy"),
    ("stages.png", "Where the time goes: median of each stage after the user stops"),
    ("accuracy_by_type.png", "Accuracy and hallucination by question type"),
)


def _f(value: Any, kind: str = "ms") -> str:
    """A number as ms, % or x.xx; kind "" passes text through."""
    if value is None:
        return "–"
    if kind == "":
        return str(value)
    if kind == "ms":
        return f"{value:.0f}"
    if kind == "%":
        return f"{100 * value:.1f} %"
    return f"{value:.2f}"


def headline(summary: dict[str, dict], strategies: Sequence[str]) -> Table:
    rows: list[list[str]] = []

    def add(label: str, get: Any, kind: str) -> None:
        rows.append([label, *(_f(get(summary[s]), kind) for s in strategies)])

    add("accuracy", lambda x: x["accuracy"], "%")
    add("hallucination", lambda x: x["hallucination"], "%")
    add("missing", lambda x: x["missing"], "%")
    add("score (accuracy − hallucination)", lambda x: x["score"], "%")
    add("ASR word error rate", lambda x: x["asr_wer"], "%")
    add("end of speech → first answer audio P50 (ms)",
        lambda x: x["latency"][HEADLINE_KEY]["p50"], "ms")  # fmt: skip
    add("end of speech → first answer audio P90 (ms)",
        lambda x: x["latency"][HEADLINE_KEY]["p90"], "ms")  # fmt: skip
    add("oracle bound: end of speech → first answer audio P50 (ms)",
        lambda x: x["latency"]["oracle_first_answer_audio_ms"]["p50"], "ms")  # fmt: skip
    add("P50 over the oracle bound's P50 (server clock)", lambda x: x.get("vs_oracle_p50"), "%")
    add("tool wait after final P50 (ms)", lambda x: x["latency"]["tool_wait_ms"]["p50"], "ms")
    add("tool wait after final P90 (ms)", lambda x: x["latency"]["tool_wait_ms"]["p90"], "ms")
    add("turns with zero tool wait", lambda x: x["zero_wait_share"], "%")
    add("tool calls per turn", lambda x: x["calls_per_turn"], "x")
    add("cancelled / wasted calls per turn",
        lambda x: f"{x['cancelled_per_turn'] or 0:.2f} / {x['wasted_per_turn'] or 0:.2f}", "")  # fmt: skip
    add("turns answered from a speculative call", lambda x: x["reuse_share"], "%")
    add("… from several speculative searches together", lambda x: x.get("covering_share"), "%")
    add("reused call fired before end of speech, P50 (ms)",
        lambda x: x["reuse_lead_ms"]["p50"], "ms")  # fmt: skip
    add("reuse error rate (audited)", lambda x: x["reuse_error_rate"], "%")
    add("preemptive answer committed (whole / first audio)",
        lambda x: f"{_f(x.get('preempted_share'), '%')} ({_f(x.get('preempt_answer_share'), '%')}"
                  f" / {_f(x.get('preempt_audio_share'), '%')})", "")  # fmt: skip
    add("discarded preparations per turn (CPU ms)",
        lambda x: f"{x.get('preempt_discarded_per_turn') or 0:.2f} "
                  f"({x.get('preempt_discarded_cpu_ms_per_turn') or 0:.0f})", "")  # fmt: skip
    add("turns acknowledged (“Let me check.”)", lambda x: x.get("acknowledged_share"), "%")
    add("turns (errors)", lambda x: f"{x['turns']} ({x['errors']})", "")
    return ("Headline", ["", *strategies], rows)


def latency_table(summary: dict[str, dict], strategies: Sequence[str]) -> Table:
    rows = [
        [label, *(f"{_f(summary[s]['latency'][key]['p50'])} / "
                  f"{_f(summary[s]['latency'][key]['p90'])}" for s in strategies)]
        for key, label in LATENCIES
    ]  # fmt: skip
    return ("Latency by stage, P50 / P90 (ms)", ["stage", *strategies], rows)


def breakdown_table(summary: dict[str, dict], strategies: Sequence[str], key: str) -> Table:
    groups = sorted({g for s in strategies for g in summary[s][key]})
    rows = []
    for g in groups:
        cells = []
        for s in strategies:
            x = summary[s][key].get(g)
            cells.append(f"{_f(x['accuracy'], '%')} / {_f(x['hallucination'], '%')} / "
                         f"{_f(x['score'], '%')}" if x else "–")  # fmt: skip
        n = next((summary[s][key][g]["n"] for s in strategies if g in summary[s][key]), 0)
        rows.append([g, str(n), *cells])
    name = {"by_domain": "domain", "by_type": "question type"}[key]
    return (f"By {name}: accuracy / hallucination / score", [name, "n", *strategies], rows)


def disagreement_table(items: Sequence[dict], strategies: Sequence[str], limit: int) -> Table:
    rows = [
        [d["question"], "; ".join(d["gold"]),
         *(f"{d['outcomes'].get(s, '–')}: {d['answers'].get(s, '')[:90]}" for s in strategies)]
        for d in items[:limit]
    ]  # fmt: skip
    more = f" (first {limit} of {len(items)})" if len(items) > limit else ""
    title = f"Questions where the strategies disagreed: {len(items)}{more}"
    return (title, ["question", "gold", *strategies], rows)


GLOSSARY = (
    ("end of speech", "the last voiced 10 ms of the clip, as sent by the client"),
    ("first answer audio", "the first byte of the answer's own audio arriving at the client "
     "(client clock); an optional spoken acknowledgement before it is not the answer"),
    ("oracle bound", "the turn had its final query been fired the moment its last content word "
     "was spoken (faster-whisper word timestamps), with the latency its calls had and every "
     "other stage as measured (streaming/eval/oracle.py)"),
    ("preemptive answer", "prepared at the first pause (or when evidence lands during it); "
     "committed whole when the final asks the same over the same evidence, or its first audio "
     "when the answer's first sentence is the prepared one"),
    ("VAD end-of-turn wait", "silence the voice activity detector waits for before ending the "
     "turn"),
    ("tool wait", "from the final transcript until the evidence is in hand; zero when a "
     "speculative call already answered it"),
    ("reuse", "the turn was answered from a call fired while the user was still speaking; every "
     "reuse is audited by running the final query too, and a different top result counts as a "
     "reuse error"),
    ("correct / missing / hallucinated", "CRAG's +1 / 0 / −1; score = accuracy − hallucination"),
)  # fmt: skip


def to_markdown(tables: Sequence[Table]) -> str:
    def cell(x: str) -> str:
        return x.replace("|", "\\|").replace("\n", " ")

    out = []
    for title, header, rows in tables:
        out += [f"## {title}", "", "| " + " | ".join(header) + " |",
                "|" + "---|" * len(header)]  # fmt: skip
        out += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
        out.append("")
    return "\n".join(out)


def to_html_tables(tables: Sequence[Table]) -> str:
    out = []
    for title, header, rows in tables:
        out.append(f"<h2>{html.escape(title)}</h2><table><tr>"
                   + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr>")  # fmt: skip
        for row in rows:
            out.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>")
        out.append("</table>")
    return "\n".join(out)


def make_plots(
    rows: Sequence[dict], summary: dict[str, dict], strategies: Sequence[str], out: Path
) -> list[str]:
    """Write the PNG plots; returns their file names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    written = []
    fig, ax = plt.subplots(figsize=(7, 4))
    for s in strategies:
        xs = sorted(r[HEADLINE_KEY] for r in rows
                    if r["strategy"] == s and r.get(HEADLINE_KEY) is not None)  # fmt: skip
        if xs:
            ax.step(xs, np.arange(1, len(xs) + 1) / len(xs), where="post", label=s)
    ax.set(xlabel="end of user speech → first answer audio at the client (ms)",
           ylabel="share of turns", ylim=(0, 1.02))  # fmt: skip
    ax.grid(alpha=0.3)
    if ax.get_lines():
        ax.legend()
    written.append(_save(fig, out / PLOTS[0][0]))

    fig, ax = plt.subplots(figsize=(7, 3.6))
    left = np.zeros(len(strategies))
    for key, label in STAGES:
        widths = np.array([summary[s]["latency"][key]["p50"] or 0.0 for s in strategies])
        ax.barh(strategies, widths, left=left, label=label)
        left += widths
    ax.set(xlabel="ms (medians, stacked)")
    ax.invert_yaxis()
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.3), ncol=3, frameon=False)
    written.append(_save(fig, out / PLOTS[1][0]))

    types = sorted({t for s in strategies for t in summary[s]["by_type"]})
    fig, ax = plt.subplots(figsize=(max(6, 1.1 * len(types) + 2), 3.8))
    width = 0.8 / max(1, len(strategies))
    x = np.arange(len(types))
    for i, s in enumerate(strategies):
        acc = [summary[s]["by_type"].get(t, {}).get("accuracy", 0) for t in types]
        hal = [summary[s]["by_type"].get(t, {}).get("hallucination", 0) for t in types]
        bars = ax.bar(x + i * width, acc, width, label=f"{s} accuracy")
        ax.bar(x + i * width, [-h for h in hal], width, color=bars.patches[0].get_facecolor(),
               alpha=0.45)  # fmt: skip
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xticks(x + width * (len(strategies) - 1) / 2, types, rotation=20, fontsize=8)
    ax.set(ylabel="accuracy (up) / hallucination (down)", ylim=(-1, 1))
    ax.legend(fontsize=7)
    written.append(_save(fig, out / PLOTS[2][0]))
    return written


def _save(fig: Any, path: Path) -> str:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path.name


def write_report(
    out: str | Path,
    rows: Sequence[dict],
    summary: dict[str, dict],
    disagreed: Sequence[dict],
    strategies: Sequence[str],
    meta: dict[str, Any],
    max_disagreements: int = 40,
) -> dict[str, Path]:
    """Write results.json, report.md, report.html and the plots into ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    results = {"meta": meta, "summary": summary, "disagreements": list(disagreed),
               "turns": list(rows)}  # fmt: skip
    (out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    tables = [
        headline(summary, strategies),
        latency_table(summary, strategies),
        breakdown_table(summary, strategies, "by_domain"),
        breakdown_table(summary, strategies, "by_type"),
        disagreement_table(disagreed, strategies, max_disagreements),
    ]
    plots = make_plots(rows, summary, strategies, out)
    intro = _intro(meta)
    md = [f"# {meta.get('title', 'Evaluation report')}", "", intro, "", to_markdown(tables[:2])]
    md += [f"![{title}]({name})\n" for (name, title) in PLOTS if name in plots]
    md.append(to_markdown(tables[2:]))
    md += ["## Terms", ""] + [f"- **{term}**: {text}" for term, text in GLOSSARY] + [""]
    (out / "report.md").write_text("\n".join(md))
    images = "".join(
        f"<figure><img alt='{html.escape(t)}' src='data:image/png;base64,"
        f"{base64.b64encode((out / n).read_bytes()).decode()}'><figcaption>{html.escape(t)}"
        "</figcaption></figure>"
        for n, t in PLOTS
        if n in plots
    )
    page = (
        "<!doctype html><meta charset='utf-8'><title>streamrag evaluation</title><style>"
        "body{font:14px system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
        "table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;"
        "padding:3px 7px;text-align:left;vertical-align:top}th{background:#f3f3f3}"
        "img{max-width:100%}figure{margin:1em 0}</style>"
        f"<h1>{html.escape(meta.get('title', 'Evaluation report'))}</h1>"
        f"<p>{html.escape(intro)}</p>{to_html_tables(tables[:2])}{images}"
        f"{to_html_tables(tables[2:])}<h2>Terms</h2><ul>"
        + "".join(f"<li><b>{html.escape(t)}</b>: {html.escape(x)}</li>" for t, x in GLOSSARY)
        + "</ul>"
    )
    (out / "report.html").write_text(page)
    return {"results": out / "results.json", "md": out / "report.md", "html": out / "report.html"}


def _intro(meta: dict[str, Any]) -> str:
    server = meta.get("server") or {}
    bits = [
        f"{meta.get('clips', '?')} spoken questions from {meta.get('manifest', '?')}",
        f"strategies {', '.join(meta.get('strategies', []))}",
        f"replayed at real time with concurrency {meta.get('concurrency', 1)}",
        f"judge: {meta.get('judge', 'rule')}",
    ]
    if server:
        bits.append("server: " + ", ".join(f"{k} {v}" for k, v in server.items() if v is not None))
    if meta.get("machine"):
        bits.append(f"machine: {meta['machine']}")
    if meta.get("started"):
        bits.append(f"run {meta['started']} in {meta.get('elapsed_s', '?')} s")
    return "; ".join(bits) + "."
