// streamrag web demo: microphone -> websocket -> live transcript, tool calls, spoken answer.
// Plain ES module, no build step. The wire protocol is in docs/protocol.md.

import { createTimeline, fmtMs, renderTimeline, truncate, turnActive } from "./timeline.js";

const ASR_RATE = 16000; // what we send: the server's native rate, so audio_ms == our sent ms
const FRAME_MS = 20;
const SUPPORTED_RATES = [8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000];
const STRATEGIES = ["final", "fixed-interval", "triggered"];
const INITIAL_BUFFER_S = 0.1; // jitter buffer before the first chunk of an answer plays
const MAX_TIMELINES = 4;
const MAX_EVENTS = 2000;
const END_SILENCE_MS = 800; // sent when the mic is switched off mid-sentence, so the VAD ends the turn

const params = new URLSearchParams(location.search);
const AGC = params.get("agc") !== "0";

const $ = (id) => document.getElementById(id);
const el = {
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

// ---------------------------------------------------------------------------------------------
// State exposed for tests and for curious humans (open the console: window.streamrag)
// ---------------------------------------------------------------------------------------------
const state = {
  connected: false,
  connection: "connecting",
  sessionId: null,
  // null: use the server's default strategy (announced in `ready`)
  strategy: STRATEGIES.includes(params.get("strategy")) ? params.get("strategy") : null,
  asrModel: null,
  llmBackend: null,
  outputSampleRate: null,
  contextSampleRate: null,
  captureRate: null,
  micState: "off", // off | starting | on | denied | missing | error
  transcripts: [],
  partialCount: 0,
  toolCalls: 0,
  toolResults: 0,
  toolCancelled: 0,
  toolReused: 0,
  answers: [],
  audioFramesReceived: 0,
  audioFramesPlayed: 0,
  audioSamplesPlayed: 0,
  underruns: 0,
  interruptions: 0,
  captureFrames: 0,
  framesSent: 0,
  captureRms: 0,
  metrics: [],
  errors: [],
  reconnects: 0,
  events: [],
};
window.streamrag = state;

function logEvent(type) {
  state.events.push(type);
  if (state.events.length > MAX_EVENTS) state.events.splice(0, state.events.length - MAX_EVENTS);
}

function notice(message, kind = "error") {
  if (!message) {
    el.notice.hidden = true;
    return;
  }
  el.notice.textContent = message;
  el.notice.dataset.kind = kind;
  el.notice.hidden = false;
}

// ---------------------------------------------------------------------------------------------
// Audio: one AudioContext for capture and playback
// ---------------------------------------------------------------------------------------------
const AudioCtx = window.AudioContext || window.webkitAudioContext;
let ctx = null;
try {
  ctx = AudioCtx ? new AudioCtx({ latencyHint: "interactive" }) : null;
} catch (err) {
  ctx = null;
}
state.contextSampleRate = ctx ? ctx.sampleRate : null;

function outputRate() {
  return ctx && SUPPORTED_RATES.includes(ctx.sampleRate) ? ctx.sampleRate : 24000;
}

async function resumeAudio() {
  if (ctx && ctx.state === "suspended") {
    try {
      await ctx.resume();
    } catch (err) {
      /* needs a user gesture; we try again on the next one */
    }
  }
  updateAudioInfo();
}

// --- playback: a small jitter buffer of back-to-back AudioBufferSourceNodes ------------------
const playback = {
  sources: new Set(),
  nextTime: 0,
  rate: 24000,
};

function playPcm16(buffer) {
  state.audioFramesReceived++;
  const now = performance.now();
  const turn = answerTurn;
  if (turn && turn.firstAudioWall == null) {
    turn.firstAudioWall = now;
    setListenState("Speaking");
  }
  if (!ctx) return;
  if (ctx.state !== "running") resumeAudio();
  const pcm = new Int16Array(buffer);
  const n = pcm.length;
  if (!n) return;
  const samples = new Float32Array(n);
  for (let i = 0; i < n; i++) samples[i] = pcm[i] / 32768;
  const audio = ctx.createBuffer(1, n, playback.rate);
  audio.copyToChannel(samples, 0);
  const src = ctx.createBufferSource();
  src.buffer = audio;
  src.connect(ctx.destination);
  const t = ctx.currentTime;
  if (playback.nextTime < t + 0.005) {
    if (playback.sources.size > 0) state.underruns++;
    playback.nextTime = t + INITIAL_BUFFER_S;
  }
  const startAt = playback.nextTime;
  src.start(startAt);
  playback.nextTime += audio.duration;
  src.onended = () => {
    playback.sources.delete(src);
    if (!src.flushed) {
      state.audioFramesPlayed++;
      state.audioSamplesPlayed += n;
    }
  };
  playback.sources.add(src);
  if (turn) {
    const startWall = now + (startAt - t) * 1000;
    if (turn.playStartWall == null) turn.playStartWall = startWall;
    turn.playEndWall = now + (playback.nextTime - t) * 1000;
  }
  scheduleRender();
}

function flushPlayback() {
  for (const src of playback.sources) {
    src.flushed = true;
    try {
      src.stop();
    } catch (err) {
      /* already stopped */
    }
  }
  playback.sources.clear();
  playback.nextTime = 0;
}

function bufferedMs() {
  if (!ctx || !playback.sources.size) return 0;
  return Math.max(0, (playback.nextTime - ctx.currentTime) * 1000);
}

function updateAudioInfo() {
  if (!ctx) {
    el.audioInfo.textContent = "Web Audio is not available in this browser";
    return;
  }
  const parts = [`Audio ${ctx.state} at ${ctx.sampleRate} Hz`];
  if (state.captureRate) parts.push(`mic ${state.captureRate} Hz → ${ASR_RATE} Hz`);
  if (playback.sources.size) parts.push(`buffered ${Math.round(bufferedMs())} ms`);
  parts.push(`${state.audioFramesPlayed} answer frames played`);
  if (state.underruns) parts.push(`${state.underruns} underruns`);
  el.audioInfo.textContent = parts.join(" · ");
}

// --- capture: getUserMedia -> AudioWorklet (resample to 16 kHz, PCM16, 20 ms) -------------------
const mic = { stream: null, source: null, node: null, sink: null, moduleLoaded: false };
let inSpeech = false;
let meterLevel = 0;

async function startMic() {
  if (!ctx) {
    micFailed("error", "This browser has no Web Audio support, so the microphone cannot be used. You can still type questions.");
    return;
  }
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    micFailed("error", "The microphone needs a secure page: open the demo over https:// or on localhost. You can still type questions.");
    return;
  }
  setMicState("starting");
  await resumeAudio();
  try {
    if (!mic.moduleLoaded) {
      await ctx.audioWorklet.addModule("/static/worklet.js");
      mic.moduleLoaded = true;
    }
    const stream = await navigator.mediaDevices.getUserMedia({
      audio: {
        echoCancellation: true,
        noiseSuppression: true,
        autoGainControl: AGC,
        channelCount: 1,
      },
    });
    if (state.micState !== "starting") {
      // switched off while the permission prompt was open
      stream.getTracks().forEach((t) => t.stop());
      return;
    }
    mic.stream = stream;
    mic.source = ctx.createMediaStreamSource(stream);
    mic.node = new AudioWorkletNode(ctx, "pcm-capture", {
      numberOfInputs: 1,
      numberOfOutputs: 1,
      outputChannelCount: [1],
      channelCount: 1,
      channelCountMode: "explicit",
      channelInterpretation: "speakers",
      processorOptions: { targetRate: ASR_RATE, frameMs: FRAME_MS },
    });
    mic.node.port.onmessage = onCaptureMessage;
    // the worklet writes no output; a muted sink keeps it in the rendered graph
    mic.sink = ctx.createGain();
    mic.sink.gain.value = 0;
    mic.source.connect(mic.node);
    mic.node.connect(mic.sink);
    mic.sink.connect(ctx.destination);
    const [track] = stream.getAudioTracks();
    if (track) {
      track.onended = () => {
        stopMic();
        micFailed("missing", "The microphone was disconnected.");
      };
    }
    setMicState("on");
    notice(null);
  } catch (err) {
    stopMic(false);
    const name = err && err.name;
    if (name === "NotAllowedError" || name === "SecurityError") {
      micFailed("denied", "Microphone access was denied. Allow it in the address bar’s site settings and press Start talking again, or type your question below.");
    } else if (name === "NotFoundError" || name === "OverconstrainedError") {
      micFailed("missing", "No microphone was found. Plug one in and press Start talking again, or type your question below.");
    } else if (name === "NotReadableError" || name === "AbortError") {
      micFailed("error", "The microphone is busy or could not be opened (is another app using it?).");
    } else {
      micFailed("error", `Could not start the microphone: ${(err && err.message) || err}`);
    }
  }
}

function stopMic(endTurn = true) {
  if (mic.stream) mic.stream.getTracks().forEach((t) => t.stop());
  for (const node of [mic.source, mic.node, mic.sink]) {
    if (node) {
      try {
        node.disconnect();
      } catch (err) {
        /* not connected */
      }
    }
  }
  if (mic.node) mic.node.port.onmessage = null;
  mic.stream = mic.source = mic.node = mic.sink = null;
  if (endTurn && inSpeech) sendSilence(END_SILENCE_MS);
  meterLevel = 0;
  el.meter.style.transform = "scaleX(0)";
  if (state.micState === "on" || state.micState === "starting") setMicState("off");
}

function micFailed(kind, message) {
  setMicState(kind);
  notice(message, "error");
}

function setMicState(value) {
  state.micState = value;
  const on = value === "on" || value === "starting";
  el.talk.setAttribute("aria-pressed", String(on));
  el.talk.dataset.state = value;
  el.talkLabel.textContent = value === "starting" ? "Starting…" : on ? "Stop talking" : "Start talking";
  document.body.dataset.mic = value;
  if (value === "on") setListenState(inSpeech ? "Hearing you…" : "Listening");
  else if (value === "off") setListenState("Microphone off");
  else if (value === "denied") setListenState("Microphone blocked");
  else if (value === "missing") setListenState("No microphone");
  else if (value === "error") setListenState("Microphone error");
}

function setListenState(text) {
  el.listenState.textContent = text;
}

function onCaptureMessage(e) {
  const msg = e.data;
  if (msg.type === "info") {
    state.captureRate = msg.inputRate;
    updateAudioInfo();
    return;
  }
  if (msg.type !== "frame") return;
  state.captureFrames++;
  if (msg.rms > state.captureRms) state.captureRms = msg.rms;
  meterLevel = Math.max(msg.rms, meterLevel * 0.85);
  sendAudio(msg.pcm);
}

function sendSilence(ms) {
  sendAudio(new Int16Array(Math.round((ASR_RATE * ms) / 1000)).buffer);
}

// ---------------------------------------------------------------------------------------------
// Audio clock: audio_ms (16 kHz samples the server received) -> client wall time
// ---------------------------------------------------------------------------------------------
const clock = { sentMs: 0, marks: [] }; // marks: [audio_ms at end of a frame, performance.now()]

function resetClock() {
  clock.sentMs = 0;
  clock.marks = [[0, performance.now()]];
}

function audioToWall(audioMs) {
  const marks = clock.marks;
  if (!marks.length || audioMs == null) return performance.now();
  if (audioMs <= marks[0][0]) return marks[0][1] - (marks[0][0] - audioMs);
  const last = marks[marks.length - 1];
  if (audioMs >= last[0]) return last[1] + (audioMs - last[0]);
  let lo = 0;
  let hi = marks.length - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (marks[mid][0] <= audioMs) lo = mid;
    else hi = mid;
  }
  const [a0, w0] = marks[lo];
  const [a1, w1] = marks[hi];
  return a1 === a0 ? w0 : w0 + ((audioMs - a0) / (a1 - a0)) * (w1 - w0);
}

// ---------------------------------------------------------------------------------------------
// Connection: websocket with automatic reconnect and backoff
// ---------------------------------------------------------------------------------------------
let ws = null;
let started = false;
let attempt = 0;
let reconnectTimer = null;

function wsUrl() {
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  return `${proto}//${location.host}/ws`;
}

function setConn(value, label) {
  state.connection = value;
  el.conn.dataset.state = value;
  el.connLabel.textContent = label;
}

function connect() {
  clearTimeout(reconnectTimer);
  reconnectTimer = null;
  setConn(attempt ? "reconnecting" : "connecting", attempt ? "Reconnecting…" : "Connecting…");
  let sock;
  try {
    sock = new WebSocket(wsUrl());
  } catch (err) {
    scheduleReconnect(String(err));
    return;
  }
  ws = sock;
  started = false;
  sock.binaryType = "arraybuffer";
  sock.onopen = () => {
    if (sock !== ws) return;
    playback.rate = outputRate();
    sock.send(
      JSON.stringify({
        type: "start",
        sample_rate: ASR_RATE,
        encoding: "pcm16",
        output_sample_rate: playback.rate,
        options: state.strategy ? { strategy: state.strategy } : {},
      }),
    );
    started = true;
    resetClock();
  };
  sock.onmessage = (e) => {
    if (sock !== ws) return;
    if (typeof e.data === "string") {
      let msg;
      try {
        msg = JSON.parse(e.data);
      } catch (err) {
        return;
      }
      onEvent(msg);
    } else {
      playPcm16(e.data);
    }
  };
  sock.onclose = (e) => {
    if (sock !== ws) return;
    const wasReady = state.connected;
    state.connected = false;
    started = false;
    ws = null;
    flushPlayback();
    inSpeech = false;
    el.talk.classList.remove("hearing");
    scheduleReconnect(e.reason || (wasReady ? "connection lost" : "server unreachable"));
  };
  sock.onerror = () => {
    /* a close event follows; reconnect is handled there */
  };
}

function scheduleReconnect(reason) {
  const delay = Math.min(10000, 500 * 2 ** attempt) * (0.8 + Math.random() * 0.4);
  attempt++;
  state.reconnects++;
  const secs = Math.max(1, Math.round(delay / 1000));
  setConn(attempt > 4 ? "error" : "reconnecting", `${attempt > 4 ? "Offline" : "Reconnecting"} in ${secs} s (${reason})`);
  clearTimeout(reconnectTimer);
  reconnectTimer = setTimeout(connect, delay);
}

function reconnectNow() {
  const old = ws;
  ws = null;
  started = false;
  state.connected = false;
  if (old) {
    try {
      old.close(1000, "strategy changed");
    } catch (err) {
      /* ignore */
    }
  }
  flushPlayback();
  attempt = 0;
  connect();
}

function sendAudio(buffer) {
  if (!ws || !started || ws.readyState !== WebSocket.OPEN) return;
  ws.send(buffer);
  state.framesSent++;
  clock.sentMs += (buffer.byteLength / 2 / ASR_RATE) * 1000;
  clock.marks.push([clock.sentMs, performance.now()]);
  if (clock.marks.length > 12000) clock.marks.splice(0, 2000);
}

function sendJson(obj) {
  if (!ws || !started || ws.readyState !== WebSocket.OPEN) return false;
  ws.send(JSON.stringify(obj));
  return true;
}

// ---------------------------------------------------------------------------------------------
// Turns: what happened, in client wall time (performance.now)
// ---------------------------------------------------------------------------------------------
const turns = [];
let currentTurn = null; // the turn being heard / looked up
let answerTurn = null; // the turn whose answer is being received
let replacedTurn = null; // an answer a typed question cut short; the server's `interrupted` is about it
let turnSeq = 0;

function newTurn(typed, startWall) {
  const turn = {
    n: ++turnSeq,
    typed,
    startWall,
    speechEndWall: null,
    eotWall: null,
    partials: [],
    stable: "",
    tail: "",
    finalWall: null,
    userText: null,
    tools: new Map(),
    answer: "",
    source: null,
    answerStartWall: null,
    firstAudioWall: null,
    playStartWall: null,
    playEndWall: null,
    answerDone: false,
    interrupted: false,
    metrics: null,
    strategy: state.strategy,
  };
  turns.push(turn);
  currentTurn = turn;
  createConversationItem(turn);
  createTimeline(turn, el.timelines, MAX_TIMELINES);
  return turn;
}

function findTool(id) {
  for (let i = turns.length - 1; i >= 0; i--) {
    const call = turns[i].tools.get(id);
    if (call) return [turns[i], call];
  }
  return [null, null];
}

function onEvent(msg) {
  const now = performance.now();
  const type = msg.type;
  logEvent(type);
  switch (type) {
    case "ready":
      state.connected = true;
      state.sessionId = msg.session_id;
      state.asrModel = msg.asr_model;
      state.llmBackend = msg.llm_backend;
      state.outputSampleRate = msg.output_sample_rate;
      state.strategy = msg.strategy;
      el.strategy.value = msg.strategy;
      attempt = 0;
      // turns of an earlier connection will never get their metrics
      for (const t of turns) if (!t.metrics) t.orphan = true;
      currentTurn = answerTurn = replacedTurn = null;
      setConn("ready", "Ready");
      el.sessionInfo.textContent = `Session ${msg.session_id} · ASR ${msg.asr_model} · answers ${msg.llm_backend} · strategy ${msg.strategy}`;
      if (el.notice.dataset.kind === "connection") notice(null);
      break;
    case "speech_start": {
      inSpeech = true;
      const turn = newTurn(false, audioToWall(msg.audio_ms));
      turn.speechStartMs = msg.audio_ms;
      showLive("", "", null);
      el.talk.classList.add("hearing");
      setListenState("Hearing you…");
      break;
    }
    case "partial": {
      state.partialCount++;
      const turn = currentTurn && !currentTurn.typed && currentTurn.finalWall == null ? currentTurn : newTurn(false, audioToWall(msg.audio_ms));
      turn.partials.push(audioToWall(msg.audio_ms));
      turn.stable = msg.stable || "";
      turn.tail = msg.tail || "";
      showLive(turn.stable, turn.tail, null);
      updateConversationItem(turn);
      break;
    }
    case "end_of_turn": {
      inSpeech = false;
      el.talk.classList.remove("hearing");
      const turn = currentTurn && !currentTurn.typed ? currentTurn : newTurn(false, audioToWall(msg.speech_end_ms));
      turn.speechEndWall = audioToWall(msg.speech_end_ms);
      turn.eotWall = audioToWall(msg.audio_ms);
      setListenState("Thinking…");
      break;
    }
    case "final": {
      const text = (msg.text || "").trim();
      state.transcripts.push(text);
      const turn = currentTurn && !currentTurn.typed && currentTurn.finalWall == null ? currentTurn : newTurn(false, now);
      turn.finalWall = now;
      turn.userText = text;
      showLive("", "", text || "(nothing recognised)");
      if (text) answerTurn = turn;
      else setListenState(state.micState === "on" ? "Listening" : "Microphone off");
      updateConversationItem(turn);
      break;
    }
    case "tool_call": {
      state.toolCalls++;
      const turn = currentTurn || newTurn(false, now);
      const startWall = turn.typed ? now : Math.min(now, audioToWall(msg.audio_ms));
      turn.tools.set(msg.id, {
        id: msg.id,
        tool: msg.tool,
        query: msg.query,
        speculative: !!msg.speculative,
        startWall,
        endWall: null,
        elapsed: null,
        status: "running",
        hits: 0,
        note: "",
      });
      break;
    }
    case "tool_result": {
      state.toolResults++;
      const [turnOf, call] = findTool(msg.id);
      if (call) {
        call.elapsed = msg.elapsed_ms;
        call.endWall = call.startWall + (msg.elapsed_ms || 0);
        call.hits = (msg.results || []).length;
        call.results = msg.results || [];
        if (call.results.length && call.status !== "cancelled" && turnOf) turnOf.evidence = call.results;
        if (msg.error) {
          call.status = "error";
          call.note = msg.error;
        } else if (call.status === "running") {
          call.status = "done";
        }
      }
      break;
    }
    case "tool_cancelled": {
      state.toolCancelled++;
      const [, call] = findTool(msg.id);
      if (call) {
        call.status = "cancelled";
        call.note = msg.reason || "";
        if (call.endWall == null) call.endWall = now;
      }
      break;
    }
    case "tool_reused": {
      state.toolReused++;
      const [turnOf, call] = findTool(msg.id);
      if (call) {
        if (call.results && call.results.length && turnOf) turnOf.evidence = call.results;
        call.status = "reused";
        call.note = msg.final_query ? `for “${msg.final_query}”` : "";
      }
      break;
    }
    case "answer_delta": {
      const turn = answerTurn || currentTurn;
      if (!turn) break;
      if (turn.answerStartWall == null) turn.answerStartWall = now;
      turn.answer += msg.text || "";
      if (!turn.source) turn.source = msg.source;
      updateConversationItem(turn);
      break;
    }
    case "answer_done": {
      const turn = answerTurn || currentTurn;
      state.answers.push(msg.text || "");
      if (turn) {
        turn.answerDone = true;
        turn.answerAudioMs = msg.audio_ms;
        if (!turn.answer && msg.text) turn.answer = msg.text;
        updateConversationItem(turn);
      }
      break;
    }
    case "interrupted": {
      state.interruptions++;
      flushPlayback();
      const turn = replacedTurn || answerTurn;
      if (turn) {
        turn.interrupted = true;
        if (turn.playEndWall != null) turn.playEndWall = Math.min(turn.playEndWall, now);
        updateConversationItem(turn);
      }
      if (turn === answerTurn) answerTurn = null;
      replacedTurn = null;
      break;
    }
    case "turn_metrics": {
      const m = msg.metrics || {};
      state.metrics.push(m);
      // metrics of an interrupted answer can arrive after the next turn's speech_start
      const turn =
        turns.find((t) => !t.metrics && !t.orphan && (t.typed || t.finalWall != null)) || currentTurn;
      if (turn) {
        turn.metrics = m;
        turn.serverTurn = msg.turn;
        if (m.interrupted) turn.interrupted = true;
        if (!turn.answer && m.answer) turn.answer = m.answer;
        if (!turn.source && m.answer_source) turn.source = m.answer_source;
        updateConversationItem(turn);
      }
      if (!inSpeech) setListenState(state.micState === "on" ? "Listening" : "Microphone off");
      break;
    }
    case "error":
      state.errors.push({ code: msg.code, message: msg.message });
      if (msg.code === "server_busy") {
        notice("The server is busy (too many open sessions). Retrying shortly…", "connection");
      } else if (msg.code !== "rate_limited") {
        notice(`Server: ${msg.message} (${msg.code})`, "warning");
      }
      break;
    default:
      break;
  }
  scheduleRender();
}

function showLive(stable, tail, finalText) {
  el.stable.textContent = stable ? `${stable} ` : "";
  el.tail.textContent = tail || "";
  el.final.textContent = finalText || "";
  el.live.dataset.state = finalText != null ? "final" : stable || tail ? "partial" : "listening";
  el.placeholder.hidden = !!(stable || tail || finalText) || inSpeech;
  if (inSpeech && !stable && !tail && finalText == null) {
    el.tail.textContent = "…";
  }
}

// ---------------------------------------------------------------------------------------------
// Conversation list
// ---------------------------------------------------------------------------------------------
function createConversationItem(turn) {
  const empty = el.conversation.querySelector(".empty");
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
  turn.li = li;
  el.conversation.appendChild(li);
  updateConversationItem(turn);
}

function updateConversationItem(turn) {
  const li = turn.li;
  if (!li) return;
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
  const hits = (turn.evidence || []).slice(0, 3);
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
  if (userIsNearBottom(el.conversation)) el.conversation.scrollTop = el.conversation.scrollHeight;
}

function userIsNearBottom(box) {
  return box.scrollHeight - box.scrollTop - box.clientHeight < 120;
}

// ---------------------------------------------------------------------------------------------
// Rendering: timelines redraw on animation frames while a turn is live
// ---------------------------------------------------------------------------------------------
let renderPending = false;
let lastRender = 0;

function scheduleRender() {
  if (renderPending) return;
  renderPending = true;
  requestAnimationFrame(renderLoop);
}

function renderLoop(ts) {
  renderPending = false;
  if (ts - lastRender < 80) {
    scheduleRender();
    return;
  }
  lastRender = ts;
  const now = performance.now();
  let any = false;
  for (const turn of turns.slice(-MAX_TIMELINES)) {
    if (turn.card && turn.card.isConnected && (turn.dirty !== false || turnActive(turn, now))) {
      renderTimeline(turn);
      turn.dirty = turnActive(turn, now);
      any = any || turn.dirty;
    }
  }
  updateMeter();
  updateAudioInfo();
  if (any || state.micState === "on" || playback.sources.size) scheduleRender();
}

function updateMeter() {
  if (state.micState !== "on") return;
  meterLevel *= 0.92;
  const level = Math.min(1, Math.sqrt(meterLevel) * 2.2);
  el.meter.style.transform = `scaleX(${level.toFixed(3)})`;
}

window.addEventListener("resize", () => {
  for (const turn of turns) turn.dirty = true;
  scheduleRender();
});

// ---------------------------------------------------------------------------------------------
// UI wiring
// ---------------------------------------------------------------------------------------------
if (state.strategy) el.strategy.value = state.strategy;
el.strategy.addEventListener("change", () => {
  state.strategy = el.strategy.value;
  const url = new URL(location.href);
  url.searchParams.set("strategy", state.strategy);
  history.replaceState(null, "", url);
  reconnectNow();
});

el.talk.addEventListener("click", async () => {
  await resumeAudio();
  if (state.micState === "on" || state.micState === "starting") {
    stopMic();
  } else {
    await startMic();
  }
  scheduleRender();
});

el.ask.addEventListener("submit", (e) => {
  e.preventDefault();
  resumeAudio();
  const text = el.question.value.trim();
  if (!text) return;
  if (!state.connected || !sendJson({ type: "text", text })) {
    notice("Not connected to the server yet; your question was not sent.", "connection");
    return;
  }
  flushPlayback(); // a new question replaces whatever was playing
  replacedTurn = answerTurn && !answerTurn.metrics ? answerTurn : null;
  const turn = newTurn(true, performance.now());
  turn.userText = text;
  turn.finalWall = performance.now();
  answerTurn = turn;
  showLive("", "", text);
  updateConversationItem(turn);
  el.question.value = "";
  setListenState("Thinking…");
  scheduleRender();
});

// any gesture may unlock audio output
for (const type of ["pointerdown", "keydown", "touchstart"]) {
  window.addEventListener(type, resumeAudio, { passive: true });
}

el.talk.disabled = false;
setMicState("off");
resumeAudio();
connect();
scheduleRender();
