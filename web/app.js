// Wiring: connects audio.js, connection.js, the turns.js reducer and view.js, and exposes the page state as window.streamrag.
// streamrag web demo: microphone -> websocket -> live transcript, tool calls, spoken answer.
// Plain ES modules, no build step. The wire protocol is in docs/protocol.md.

import { ASR_RATE, Capture, Player, createAudioContext, outputRate, resumeAudio } from "./audio.js";
import { Connection } from "./connection.js";
import * as turns from "./turns.js";
import { View } from "./view.js";

const STRATEGIES = ["final", "fixed-interval", "triggered"];
const END_SILENCE_MS = 800; // sent when the mic is switched off mid-sentence, so the VAD ends the turn

const params = new URLSearchParams(location.search);
const AGC = params.get("agc") !== "0";
const ctx = createAudioContext();

// ---------------------------------------------------------------------------------------------
// State exposed for tests and for curious humans (open the console: window.streamrag). Audio,
// microphone and connection fields are counted here; the rest are live views of the turn state.
// ---------------------------------------------------------------------------------------------
const status = {
  connected: false,
  connection: "connecting",
  contextSampleRate: ctx ? ctx.sampleRate : null,
  captureRate: null,
  micState: "off", // off | starting | on | denied | missing | error
  audioFramesPlayed: 0,
  audioSamplesPlayed: 0,
  underruns: 0,
  captureFrames: 0,
  framesSent: 0,
  captureRms: 0,
  reconnects: 0,
};
// null: use the server's default strategy (announced in `ready`)
let turnState = turns.initialState({ strategy: STRATEGIES.includes(params.get("strategy")) ? params.get("strategy") : null });
const FROM_TURN_STATE = [
  "strategy", "sessionId", "asrModel", "llmBackend", "outputSampleRate", "transcripts", "partialCount",
  "toolCalls", "toolResults", "toolCancelled", "toolReused", "answers", "audioFramesReceived",
  "audioFramesDropped", "interruptions", "metrics", "errors", "events", "turns",
];
for (const key of FROM_TURN_STATE) Object.defineProperty(status, key, { enumerable: true, get: () => turnState[key] });
Object.defineProperty(status, "state", { get: () => turnState });
window.streamrag = status;

const player = new Player(ctx, status);

const view = new View({
  audioInfo: () =>
    ctx && {
      state: ctx.state,
      sampleRate: ctx.sampleRate,
      captureRate: status.captureRate,
      asrRate: ASR_RATE,
      bufferedMs: player.active ? player.bufferedMs() : null,
      framesPlayed: status.audioFramesPlayed,
      underruns: status.underruns,
    },
  busy: () => player.active,
});

const conn = new Connection({
  sampleRate: ASR_RATE,
  outputSampleRate: () => (player.rate = outputRate(ctx)),
  strategy: () => turnState.strategy,
  stats: status,
  onState: (value, label) => {
    status.connection = value;
    view.setConn(value, label);
  },
  onEvent,
  onAudio,
  onClose: () => {
    player.flush();
    turnState = turns.disconnected(turnState);
    view.disconnected(turnState);
  },
});

// times for the reducer: now, and the server's audio_ms on the same (performance.now) clock
const clock = () => ({ now: performance.now(), toWall: (ms) => conn.clock.toWall(ms) });

function onEvent(msg) {
  if (msg.type === "interrupted") player.flush(); // the reducer drops the rest of that answer
  turnState = turns.reduce(turnState, msg, clock());
  view.event(msg, turnState);
}

function onAudio(buffer) {
  turnState = turns.audioFrame(turnState, clock());
  if (turnState.audio.lastFrame === "play") {
    const at = player.play(buffer);
    if (at) turnState = turns.audioScheduled(turnState, at.startWall, at.endWall);
  }
  view.sync(turnState);
}

async function resume() {
  await resumeAudio(ctx);
  view.updateAudioInfo();
}

const capture = new Capture(ctx, {
  agc: AGC,
  onFrame: (pcm, rms) => {
    status.captureFrames++;
    if (rms > status.captureRms) status.captureRms = rms;
    view.meter(rms);
    conn.sendAudio(pcm);
  },
  onInfo: (rate) => {
    status.captureRate = rate;
    view.updateAudioInfo();
  },
  onState: (value, message) => {
    status.micState = value;
    view.setMicState(value);
    if (message) view.notice(message, "error");
    else if (value === "on") view.notice(null);
  },
  onStop: () => {
    if (turnState.inSpeech) conn.sendAudio(new Int16Array(Math.round((ASR_RATE * END_SILENCE_MS) / 1000)).buffer);
  },
});

// ---------------------------------------------------------------------------------------------
// UI wiring
// ---------------------------------------------------------------------------------------------
view.setStrategy(turnState.strategy);
view.onStrategyChange((value) => {
  turnState = turns.setStrategy(turnState, value);
  const url = new URL(location.href);
  url.searchParams.set("strategy", value);
  history.replaceState(null, "", url);
  conn.reconnectNow();
});

view.onTalk(async () => {
  await resume();
  if (capture.running) capture.stop();
  else await capture.start();
  view.scheduleRender();
});

view.onAsk((text) => {
  resume();
  if (!status.connected || !conn.sendJson({ type: "text", text })) {
    view.notice("Not connected to the server yet; your question was not sent.", "connection");
    return false;
  }
  player.flush(); // a new question replaces whatever was playing
  turnState = turns.askTyped(turnState, text, clock());
  view.typed(text, turnState);
  return true;
});

// any gesture may unlock audio output
for (const type of ["pointerdown", "keydown", "touchstart"]) {
  window.addEventListener(type, resume, { passive: true });
}

view.enableTalk();
view.setMicState("off");
resume();
conn.connect();
view.sync(turnState);
