// The per-turn timeline: one SVG card per turn (speech, VAD wait, partials, tool calls, answer
// and audio on one time axis) and the turn's latency figures. Pure rendering of a `turn` object
// from turns.js into the card that view.js keeps for it.

const SVG_NS = "http://www.w3.org/2000/svg";

function s(tag, attrs, parent, text) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v !== undefined && v !== null) node.setAttribute(k, v);
  }
  if (text != null) node.textContent = text;
  if (parent) parent.appendChild(node);
  return node;
}

export function fmtMs(v) {
  if (v == null || Number.isNaN(v)) return "–";
  return `${Math.round(v).toLocaleString("en-US")} ms`;
}

// a new card for the turn, first in the container, which keeps at most maxTimelines cards
export function createTimeline(turn, container, maxTimelines) {
  const empty = container.querySelector(".empty");
  if (empty) empty.remove();
  const card = document.createElement("article");
  card.className = "timeline";
  card.dataset.turn = String(turn.n);
  card.innerHTML = `
    <header class="tl-head">
      <div class="tl-title"><span class="tl-num"></span><span class="tl-question"></span></div>
      <div class="tl-headline"><span class="value">–</span><span class="label">speech end → first audio</span></div>
    </header>
    <div class="tl-canvas"></div>
    <div class="tl-metrics"></div>`;
  container.prepend(card);
  const cards = container.querySelectorAll(".timeline");
  for (let i = maxTimelines; i < cards.length; i++) cards[i].remove();
  renderTimeline(turn, card);
  return card;
}

export function turnActive(turn, now, card) {
  if (!card || !card.isConnected) return false;
  if (!turn.metrics) return true;
  return turn.playEndWall != null && turn.playEndWall > now - 200;
}

function lastWall(turn) {
  const vals = [turn.startWall, turn.speechEndWall, turn.eotWall, turn.finalWall, turn.answerStartWall, turn.firstAudioWall, turn.playEndWall, ...turn.partials];
  for (const call of turn.tools.values()) vals.push(call.startWall, call.endWall);
  return Math.max(...vals.filter((v) => v != null));
}

export function renderTimeline(turn, card) {
  if (!card || !card.isConnected) return;
  const now = performance.now();
  const active = turnActive(turn, now, card);
  card.classList.toggle("active", active);
  card.classList.toggle("interrupted", turn.interrupted);
  card.dataset.strategy = turn.metrics?.strategy || turn.strategy;

  // header
  card.querySelector(".tl-num").textContent = `Turn ${turn.n}${turn.typed ? " · typed" : ""} · ${card.dataset.strategy}`;
  const q = turn.userText ?? (`${turn.stable} ${turn.tail}`.trim() || "listening…");
  card.querySelector(".tl-question").textContent = q ? `“${q}”` : "";
  const m = turn.metrics;
  const fromWall = turn.typed ? turn.startWall : turn.speechEndWall;
  let headline = m?.speech_end_to_first_audio_ms ?? (turn.typed ? m?.first_audio_ms : null);
  let estimated = false;
  if (headline == null && fromWall != null && turn.firstAudioWall != null) {
    headline = turn.firstAudioWall - fromWall;
    estimated = true;
  }
  const hv = card.querySelector(".tl-headline .value");
  hv.textContent = headline == null ? (active ? "…" : "–") : `${estimated ? "≈" : ""}${fmtMs(headline)}`;
  card.querySelector(".tl-headline .label").textContent = turn.typed ? "question → first audio" : "speech end → first audio";

  // geometry
  const box = card.querySelector(".tl-canvas");
  const W = Math.max(360, box.clientWidth || 640);
  const padL = 70;
  const padR = 18;
  const laneH = 24;
  const calls = [...turn.tools.values()];
  const toolRows = Math.max(1, Math.min(calls.length, 6));
  const lanes = [];
  if (!turn.typed) lanes.push({ key: "you", label: "you", rows: 1 });
  lanes.push({ key: "asr", label: turn.typed ? "typed" : "asr", rows: 1 });
  lanes.push({ key: "tools", label: "tools", rows: toolRows });
  lanes.push({ key: "answer", label: "answer", rows: 1 });
  const top = 18;
  let y = top;
  for (const lane of lanes) {
    lane.y = y;
    lane.h = lane.rows * laneH;
    y += lane.h;
  }
  const lanesBottom = y;
  const bracketY = lanesBottom + 14;
  const axisY = lanesBottom + 30;
  const H = axisY + 20;

  const t0 = turn.startWall - 120;
  let t1 = Math.max(lastWall(turn), active ? now : -Infinity) + 200;
  t1 = Math.max(t1, t0 + 2000);
  const x = (t) => padL + ((t - t0) / (t1 - t0)) * (W - padL - padR);
  const clampX = (t) => Math.max(padL, Math.min(W - padR, x(t)));
  const lane = (key) => lanes.find((l) => l.key === key);

  const svg = s("svg", {
    class: "tl-svg",
    width: W,
    height: H,
    viewBox: `0 0 ${W} ${H}`,
    role: "img",
    "aria-label": `Timeline of turn ${turn.n}`,
  });
  const defs = s("defs", {}, svg);
  const hatchId = `hatch-${turn.n}`;
  const specId = `spec-${turn.n}`;
  const ph = s("pattern", { id: hatchId, width: 6, height: 6, patternUnits: "userSpaceOnUse", patternTransform: "rotate(45)" }, defs);
  s("rect", { width: 6, height: 6, class: "hatch-bg" }, ph);
  s("line", { x1: 0, y1: 0, x2: 0, y2: 6, class: "hatch-line" }, ph);
  const ps = s("pattern", { id: specId, width: 7, height: 7, patternUnits: "userSpaceOnUse", patternTransform: "rotate(45)" }, defs);
  s("rect", { width: 7, height: 7, class: "spec-bg" }, ps);
  s("line", { x1: 0, y1: 0, x2: 0, y2: 7, class: "spec-line" }, ps);

  // lanes
  lanes.forEach((l, i) => {
    s("rect", { x: padL, y: l.y, width: W - padL - padR, height: l.h, class: `lane-bg ${i % 2 ? "odd" : "even"}` }, svg);
    s("text", { x: padL - 10, y: l.y + l.h / 2 + 4, class: "lane-label", "text-anchor": "end" }, svg, l.label);
  });

  // axis: ms since the turn started
  const span = t1 - t0;
  const steps = [100, 200, 250, 500, 1000, 2000, 2500, 5000, 10000, 20000];
  const step = steps.find((st) => span / st <= Math.max(4, Math.floor((W - padL) / 70))) || 20000;
  const axis = s("g", { class: "axis" }, svg);
  s("line", { x1: padL, y1: axisY, x2: W - padR, y2: axisY, class: "axis-line" }, axis);
  for (let v = 0; turn.startWall + v <= t1; v += step) {
    const xx = x(turn.startWall + v);
    if (xx < padL - 1) continue;
    s("line", { x1: xx, y1: top, x2: xx, y2: lanesBottom, class: "grid" }, axis);
    s("line", { x1: xx, y1: axisY, x2: xx, y2: axisY + 4, class: "axis-tick" }, axis);
    s("text", { x: xx, y: axisY + 15, class: "axis-label", "text-anchor": "middle" }, axis, v === 0 ? "0 ms" : `${v}`);
  }

  // you: speech span, partial ticks, VAD wait
  const you = lane("you");
  if (you) {
    const endSpeech = turn.speechEndWall ?? (active ? now : lastWall(turn));
    const sx = x(turn.startWall);
    s("rect", { x: sx, y: you.y + 5, width: Math.max(2, x(endSpeech) - sx), height: laneH - 10, rx: 4, class: "speech" }, svg);
    if (turn.speechEndWall != null && turn.eotWall != null) {
      const vx = x(turn.speechEndWall);
      s("rect", { x: vx, y: you.y + 5, width: Math.max(1, x(turn.eotWall) - vx), height: laneH - 10, fill: `url(#${hatchId})`, class: "vad-wait" }, svg);
    }
    for (const p of turn.partials) {
      s("line", { x1: x(p), y1: you.y + 2, x2: x(p), y2: you.y + laneH - 2, class: "partial partial-tick" }, svg);
    }
  }

  // end of turn (or typed question) marker across all lanes
  const eotWall = turn.typed ? turn.startWall : turn.eotWall;
  if (eotWall != null) {
    const ex = x(eotWall);
    s("line", { x1: ex, y1: top - 4, x2: ex, y2: lanesBottom, class: "eot-marker" }, svg);
    s("text", { x: ex, y: top - 7, class: "marker-label", "text-anchor": "middle" }, svg, turn.typed ? "asked" : "end of turn");
  }

  // asr: final transcript
  const asr = lane("asr");
  if (turn.finalWall != null && !turn.typed) {
    const fx = x(turn.finalWall);
    s("circle", { cx: fx, cy: asr.y + laneH / 2, r: 5, class: "final-dot" }, svg);
    const label = turn.eotWall != null ? `final +${Math.round(turn.finalWall - turn.eotWall)} ms` : "final";
    s("text", { x: fx + 9, y: asr.y + laneH / 2 + 4, class: "mark-text" }, svg, label);
  } else if (turn.typed) {
    s("circle", { cx: x(turn.startWall), cy: asr.y + laneH / 2, r: 5, class: "final-dot typed" }, svg);
    s("text", { x: x(turn.startWall) + 9, y: asr.y + laneH / 2 + 4, class: "mark-text" }, svg, "typed question");
  }

  // tools: one row per tool call, each labelled with its tool's name
  const search = lane("tools");
  if (!calls.length) {
    s("text", { x: padL + 8, y: search.y + laneH / 2 + 4, class: "mark-text muted" }, svg, active ? "no tool call yet" : "no tool call");
  }
  calls.slice(-toolRows).forEach((call, i) => {
    const ry = search.y + i * laneH;
    const end = call.endWall ?? (active ? now : call.startWall + 10);
    const cx0 = x(call.startWall);
    const w = Math.max(6, x(end) - cx0);
    const g = s("g", {
      class: `tool-call ${call.speculative ? "speculative" : "final-call"} ${call.status}`,
      "data-id": call.id,
      "data-speculative": String(call.speculative),
      "data-status": call.status,
    }, svg);
    s("title", {}, g, `${call.tool} “${call.query}” · ${call.speculative ? "speculative" : "after final"} · ${call.status}${call.elapsed != null ? ` · ${Math.round(call.elapsed)} ms` : ""}${call.note ? ` · ${call.note}` : ""}`);
    s("rect", {
      x: cx0,
      y: ry + 4,
      width: w,
      height: laneH - 8,
      rx: 4,
      class: "tool-bar",
      fill: call.speculative && call.status !== "reused" && call.status !== "cancelled" ? `url(#${specId})` : null,
    }, g);
    s("circle", { cx: cx0, cy: ry + laneH / 2, r: 3, class: "tool-start" }, g);
    const status = { running: "…", done: "", cancelled: "cancelled", reused: "reused", error: "error" }[call.status] ?? "";
    const ms = call.elapsed != null ? `${Math.round(call.elapsed)} ms` : "";
    const label = `${call.speculative ? "⚡ " : ""}${call.tool} “${truncate(call.query, 36)}” ${[ms, status].filter(Boolean).join(" · ")}`;
    const lx = cx0 + w + 6;
    const fitsRight = lx + label.length * 6 < W - padR;
    s("text", {
      x: fitsRight ? lx : Math.max(padL + 4, cx0 - 6),
      y: ry + laneH / 2 + 4,
      class: "tool-label",
      "text-anchor": fitsRight ? "start" : "end",
    }, g, label);
  });

  // answer: text start, first audio, playback span
  const ans = lane("answer");
  const ay = ans.y + laneH / 2;
  if (turn.playStartWall != null) {
    const px = x(turn.playStartWall);
    const pend = turn.playEndWall ?? now;
    s("rect", { x: px, y: ans.y + 6, width: Math.max(2, x(pend) - px), height: laneH - 12, rx: 3, class: `audio-span${turn.interrupted ? " cut" : ""}` }, svg);
  }
  if (turn.answerStartWall != null) {
    const ax = x(turn.answerStartWall);
    s("path", { d: `M${ax} ${ay - 6} L${ax + 6} ${ay} L${ax} ${ay + 6} L${ax - 6} ${ay} Z`, class: "answer-start" }, svg);
    s("text", { x: ax - 9, y: ay + 4, class: "mark-text", "text-anchor": "end" }, svg, "text");
  }
  if (turn.firstAudioWall != null) {
    const fx = x(turn.firstAudioWall);
    s("path", { d: `M${fx} ${ay - 7} L${fx + 10} ${ay} L${fx} ${ay + 7} Z`, class: "first-audio" }, svg);
    const after = turn.playEndWall != null ? x(turn.playEndWall) + 6 : fx + 14;
    const lbl = turn.interrupted ? "answer audio · interrupted" : "answer audio";
    if (after + lbl.length * 6 < W - padR) s("text", { x: after, y: ay + 4, class: "mark-text" }, svg, lbl);
  } else if (turn.answerStartWall == null && active && (turn.finalWall != null || turn.typed)) {
    s("text", { x: clampX(now) - 6, y: ay + 4, class: "mark-text muted", "text-anchor": "end" }, svg, "thinking…");
  }

  // bracket: end of speech -> first audio
  if (fromWall != null && turn.firstAudioWall != null) {
    const bx0 = x(fromWall);
    const bx1 = x(turn.firstAudioWall);
    s("path", { d: `M${bx0} ${bracketY - 5} V${bracketY} H${bx1} V${bracketY - 5}`, class: "bracket" }, svg);
    const text = `${fmtMs(headline)}${estimated ? " (client clock)" : ""}`;
    s("text", { x: (bx0 + bx1) / 2, y: bracketY - 3, class: "bracket-label", "text-anchor": "middle" }, svg, text);
  }

  // live "now" cursor
  if (active) {
    const nx = clampX(now);
    s("line", { x1: nx, y1: top, x2: nx, y2: lanesBottom, class: "now" }, svg);
  }

  box.replaceChildren(svg);
  renderMetrics(turn, card, active);
}

export function truncate(text, n) {
  const t = text || "";
  return t.length > n ? `${t.slice(0, n - 1)}…` : t;
}

function renderMetrics(turn, card, active) {
  const box = card.querySelector(".tl-metrics");
  const m = turn.metrics;
  if (!m) {
    box.innerHTML = `<span class="metric pending">${active ? "measuring…" : "no metrics"}</span>`;
    return;
  }
  const items = [
    ["end_of_turn_wait_ms", "VAD wait", m.end_of_turn_wait_ms],
    ["asr_final_ms", m.tentative_final_reused ? "ASR final (reused)" : "ASR final", m.asr_final_ms],
    ["tool_wait_ms", "tool wait", m.tool_wait_ms],
    ["llm_first_sentence_ms", "first sentence", m.llm_first_sentence_ms],
    ["first_audio_ms", m.typed ? "question → audio" : "end of turn → audio", m.first_audio_ms],
  ];
  const html = items
    .filter(([key, , v]) => !(m.typed && key === "end_of_turn_wait_ms") && !(m.typed && key === "asr_final_ms"))
    .map(([key, label, v]) => `<span class="metric" data-key="${key}"><b>${fmtMs(v)}</b> ${label}</span>`);
  html.push(`<span class="metric calls" data-key="calls"><b>${m.calls ?? 0}</b> ${m.calls === 1 ? "call" : "calls"} · <b>${m.cancelled ?? 0}</b> cancelled · <b>${m.wasted ?? 0}</b> wasted</span>`);
  if (m.answer_source) html.push(`<span class="badge ${m.answer_source}">${m.answer_source}</span>`);
  if (m.interrupted) html.push(`<span class="tag interrupted">interrupted</span>`);
  box.innerHTML = html.join("");
}
