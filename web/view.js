// The page's DOM: status badges, live transcript, conversation list and timelines, drawn from the turn state of turns.js.

import { createTimeline, fmtMs, renderTimeline, truncate, turnActive } from "./timeline.js";

const MAX_TIMELINES = 4; // timeline cards on the page
const RENDER_EVERY_MS = 80; // timelines redraw at most this often while a turn is live
const SCROLL_STICK_PX = 120;
const MAX_SOURCES = 3; // search results linked under an answer

// what the conversation item of a turn shows; it is redrawn when one of these changes
const SHOWN = ["typed", "userText", "stable", "tail", "answer", "answerStartWall", "finalWall", "interrupted", "source", "metrics", "evidence"];

export class View {
  // options: audioInfo() -> null (no Web Audio) or {state, sampleRate, captureRate, asrRate,
  // bufferedMs (null when nothing is queued), framesPlayed, underruns}; busy() -> whether audio is playing (keeps the render loop going)
  constructor({ audioInfo, busy }) {
    const $ = (id) => document.getElementById(id);
    this.el = {
      conn: $("conn"),
      connLabel: $("conn-label"),
      strategy: $("strategy"),
      talk: $("talk"),
      talkLabel: $("talk-label"),
      meter: $("meter-fill"),
      listenState: $("listen-state"),
      live: $("live"),
      stable: $("partial-stable"),
      tail: $("partial-tail"),
      final: $("final-transcript"),
      placeholder: $("live-placeholder"),
      ask: $("ask"),
      question: $("question"),
      notice: $("notice"),
      conversation: $("conversation"),
      timelines: $("timelines"),
      sessionInfo: $("session-info"),
      audioInfo: $("audio-info"),
    };
    this.audioInfo = audioInfo;
    this.busy = busy;
    this.state = null; // the turn state last drawn
    this.items = new Map(); // turn.n -> {turn, li, card, dirty}
    this.micState = "off";
    this.meterLevel = 0;
    this.renderPending = false;
    this.lastRender = 0;
    window.addEventListener("resize", () => {
      for (const item of this.items.values()) item.dirty = true;
      this.scheduleRender();
    });
  }

  // --- controls ------------------------------------------------------------------------------
  onStrategyChange(fn) {
    this.el.strategy.addEventListener("change", () => fn(this.el.strategy.value));
  }

  onTalk(fn) {
    this.el.talk.addEventListener("click", fn);
  }

  // fn(text) returns true when the question was sent (the input is then cleared)
  onAsk(fn) {
    this.el.ask.addEventListener("submit", (e) => {
      e.preventDefault();
      const text = this.el.question.value.trim();
      if (text && fn(text)) this.el.question.value = "";
    });
  }

  setStrategy(value) {
    if (value) this.el.strategy.value = value;
  }

  enableTalk() {
    this.el.talk.disabled = false;
  }

  // --- status --------------------------------------------------------------------------------
  notice(message, kind = "error") {
    const box = this.el.notice;
    if (!message) {
      box.hidden = true;
      return;
    }
    box.textContent = message;
    box.dataset.kind = kind;
    box.hidden = false;
  }

  setConn(value, label) {
    this.el.conn.dataset.state = value;
    this.el.connLabel.textContent = label;
  }

  setMicState(value) {
    this.micState = value;
    const el = this.el;
    const on = value === "on" || value === "starting";
    el.talk.setAttribute("aria-pressed", String(on));
    el.talk.dataset.state = value;
    el.talkLabel.textContent = value === "starting" ? "Starting…" : on ? "Stop talking" : "Start talking";
    document.body.dataset.mic = value;
    if (value !== "on") {
      this.meterLevel = 0;
      el.meter.style.transform = "scaleX(0)";
    }
    if (value === "on") this.setListenState(this.state?.inSpeech ? "Hearing you…" : "Listening");
    else if (value === "off") this.setListenState("Microphone off");
    else if (value === "denied") this.setListenState("Microphone blocked");
    else if (value === "missing") this.setListenState("No microphone");
    else if (value === "error") this.setListenState("Microphone error");
    this.scheduleRender();
  }

  setListenState(text) {
    this.el.listenState.textContent = text;
  }

  idle() {
    this.setListenState(this.micState === "on" ? "Listening" : "Microphone off");
  }

  meter(rms) {
    this.meterLevel = Math.max(rms, this.meterLevel * 0.85);
  }

  showLive(stable, tail, finalText) {
    const el = this.el;
    const inSpeech = !!this.state?.inSpeech;
    el.stable.textContent = stable ? `${stable} ` : "";
    el.tail.textContent = tail || "";
    el.final.textContent = finalText || "";
    el.live.dataset.state = finalText != null ? "final" : stable || tail ? "partial" : "listening";
    el.placeholder.hidden = !!(stable || tail || finalText) || inSpeech;
    if (inSpeech && !stable && !tail && finalText == null) el.tail.textContent = "…";
  }

  // --- the state after an event --------------------------------------------------------------

  // A server event was reduced into `state`: react to it, then redraw what changed.
  event(msg, state) {
    this.sync(state);
    const el = this.el;
    switch (msg.type) {
      case "ready":
        this.setStrategy(msg.strategy);
        el.sessionInfo.textContent = `Session ${msg.session_id} · ASR ${msg.asr_model} · answers ${msg.llm_backend} · strategy ${msg.strategy}`;
        if (el.notice.dataset.kind === "connection") this.notice(null);
        break;
      case "speech_start":
        this.showLive("", "", null);
        el.talk.classList.add("hearing");
        this.setListenState("Hearing you…");
        break;
      case "partial": {
        const turn = state.turns.find((t) => t.n === state.currentN);
        if (turn) this.showLive(turn.stable, turn.tail, null);
        break;
      }
      case "end_of_turn":
        el.talk.classList.remove("hearing");
        this.setListenState("Thinking…");
        break;
      case "final": {
        const text = (msg.text || "").trim();
        this.showLive("", "", text || "(nothing recognised)");
        if (!text) this.idle();
        break;
      }
      case "turn_metrics":
        if (!state.inSpeech) this.idle();
        break;
      case "error":
        if (msg.code === "server_busy") {
          this.notice("The server is busy (too many open sessions). Retrying shortly…", "connection");
        } else if (msg.code !== "rate_limited") {
          this.notice(`Server: ${msg.message} (${msg.code})`, "warning");
        }
        break;
      default:
        break;
    }
  }

  typed(text, state) {
    this.sync(state);
    this.showLive("", "", text);
    this.setListenState("Thinking…");
  }

  disconnected(state) {
    this.sync(state);
    this.el.talk.classList.remove("hearing");
  }

  // Bring the conversation list and timelines in line with `state` (turns are compared by
  // identity: the reducer gives a changed turn a new object).
  sync(state) {
    this.state = state;
    const kept = new Set();
    for (const turn of state.turns) {
      kept.add(turn.n);
      let item = this.items.get(turn.n);
      if (!item) {
        item = { turn, li: this.createItem(), card: createTimeline(turn, this.el.timelines, MAX_TIMELINES), dirty: true };
        this.items.set(turn.n, item);
        this.updateItem(item, turn);
      } else if (item.turn !== turn) {
        if (turn.firstAudioWall != null && item.turn.firstAudioWall == null) this.setListenState("Speaking");
        if (SHOWN.some((k) => item.turn[k] !== turn[k])) this.updateItem(item, turn);
        item.turn = turn;
        item.dirty = true;
      }
    }
    for (const [n, item] of this.items) {
      if (kept.has(n)) continue;
      item.li.remove();
      if (item.card) item.card.remove();
      this.items.delete(n);
    }
    this.scheduleRender();
  }

  // --- conversation list ---------------------------------------------------------------------
  createItem() {
    const box = this.el.conversation;
    const empty = box.querySelector(".empty");
    if (empty) empty.remove();
    const li = document.createElement("li");
    li.className = "turn";
    li.innerHTML = `
      <div class="bubble user">
        <div class="who"><span class="how"></span></div>
        <p class="text"></p>
      </div>
      <div class="bubble assistant" hidden>
        <div class="who">assistant <span class="badge"></span><span class="tag interrupted" hidden>interrupted</span></div>
        <p class="text"></p>
        <div class="sources" hidden></div>
        <div class="figure"></div>
      </div>`;
    box.appendChild(li);
    return li;
  }

  updateItem(item, turn) {
    const li = item.li;
    const user = li.querySelector(".user .text");
    li.querySelector(".user .how").textContent = turn.typed ? "you typed" : "you said";
    if (turn.userText != null) {
      user.textContent = turn.userText || "(nothing recognised)";
      user.classList.remove("pending");
    } else {
      user.innerHTML = "";
      const s = document.createElement("span");
      s.textContent = turn.stable ? `${turn.stable} ` : "";
      const t = document.createElement("span");
      t.className = "tail";
      t.textContent = turn.tail || "…";
      user.append(s, t);
      user.classList.add("pending");
    }
    const asst = li.querySelector(".assistant");
    const hasAnswer = !!turn.answer || turn.answerStartWall != null || turn.interrupted;
    asst.hidden = !hasAnswer && !(turn.userText && turn.finalWall != null) && !turn.typed;
    const text = asst.querySelector(".text");
    text.textContent = turn.answer.trim() || (turn.interrupted ? "" : "…");
    text.classList.toggle("pending", !turn.answer);
    const badge = asst.querySelector(".badge");
    badge.textContent = turn.source || "";
    badge.className = `badge ${turn.source || "none"}`;
    badge.hidden = !turn.source;
    asst.querySelector(".interrupted").hidden = !turn.interrupted;
    const m = turn.metrics;
    const fig = asst.querySelector(".figure");
    if (m && m.speech_end_to_first_audio_ms != null) {
      fig.textContent = `${fmtMs(m.speech_end_to_first_audio_ms)} from end of speech to voice`;
    } else if (m && m.first_audio_ms != null) {
      fig.textContent = `${fmtMs(m.first_audio_ms)} to first audio`;
    } else {
      fig.textContent = "";
    }
    const src = asst.querySelector(".sources");
    const hits = (turn.evidence || []).slice(0, MAX_SOURCES);
    src.hidden = !hits.length || !turn.answer;
    if (hits.length) {
      src.replaceChildren();
      const label = document.createElement("span");
      label.className = "sources-label";
      label.textContent = "looked up";
      src.append(label);
      for (const h of hits) {
        const a = document.createElement(h.url ? "a" : "span");
        a.className = "source";
        a.textContent = truncate(h.title || h.id || "result", 40);
        if (h.url) {
          a.href = h.url;
          a.target = "_blank";
          a.rel = "noopener";
        }
        a.title = h.snippet || "";
        src.append(a);
      }
    }
    li.dataset.source = turn.source || "";
    const box = this.el.conversation;
    if (box.scrollHeight - box.scrollTop - box.clientHeight < SCROLL_STICK_PX) box.scrollTop = box.scrollHeight;
  }

  // --- rendering: timelines redraw on animation frames while a turn is live --------------------
  scheduleRender() {
    if (this.renderPending) return;
    this.renderPending = true;
    requestAnimationFrame((ts) => this.renderLoop(ts));
  }

  renderLoop(ts) {
    this.renderPending = false;
    if (ts - this.lastRender < RENDER_EVERY_MS) {
      this.scheduleRender();
      return;
    }
    this.lastRender = ts;
    const now = performance.now();
    let any = false;
    for (const turn of (this.state?.turns || []).slice(-MAX_TIMELINES)) {
      const item = this.items.get(turn.n);
      if (!item || !item.card || !item.card.isConnected) continue;
      if (item.dirty || turnActive(turn, now, item.card)) {
        renderTimeline(turn, item.card);
        item.dirty = turnActive(turn, now, item.card);
        any = any || item.dirty;
      }
    }
    this.updateMeter();
    this.updateAudioInfo();
    if (any || this.micState === "on" || this.busy()) this.scheduleRender();
  }

  updateMeter() {
    if (this.micState !== "on") return;
    this.meterLevel *= 0.92;
    const level = Math.min(1, Math.sqrt(this.meterLevel) * 2.2);
    this.el.meter.style.transform = `scaleX(${level.toFixed(3)})`;
  }

  updateAudioInfo() {
    const info = this.audioInfo();
    if (!info) {
      this.el.audioInfo.textContent = "Web Audio is not available in this browser";
      return;
    }
    const parts = [`Audio ${info.state} at ${info.sampleRate} Hz`];
    if (info.captureRate) parts.push(`mic ${info.captureRate} Hz → ${info.asrRate} Hz`);
    if (info.bufferedMs != null) parts.push(`buffered ${Math.round(info.bufferedMs)} ms`);
    parts.push(`${info.framesPlayed} answer frames played`);
    if (info.underruns) parts.push(`${info.underruns} underruns`);
    this.el.audioInfo.textContent = parts.join(" · ");
  }
}
