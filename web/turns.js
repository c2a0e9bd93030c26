// Pure turn reducer: server events and client actions in, new turn state out (no DOM, socket, audio or globals).
//
// Every function returns a new state and never changes the one it is given (untouched turns are
// shared). Times are client wall times: `time.now`, and `time.toWall(audio_ms)` for the server's
// audio clock. The wire protocol is in docs/protocol.md.

export const MAX_TURNS = 50; // turns kept (and shown in the conversation list)
export const MAX_TURN_EVENTS = 200; // event types logged per turn
export const MAX_PARTIALS = 300; // partial-transcript times per turn (~30 s of speech)
export const MAX_TOOL_CALLS = 24; // tool calls per turn
export const MAX_RESULTS = 10; // search results kept per tool call
export const MAX_ANSWER_CHARS = 8000; // answer text per turn
export const MAX_EVENTS = 2000; // event types in the session-wide log
export const MAX_HISTORY = 200; // transcripts, answers, metrics and errors kept

function freshAudio() {
  // answer: the generation of the latest answer_delta (binary frames belong to it), null if unknown
  // flushed: a generation flushed here, whose frames are dropped until a newer answer starts
  // lastFrame: what audioFrame decided for the latest binary frame ("play" | "drop")
  return { answer: null, flushed: null, lastFrame: null };
}

export function initialState({ strategy = null } = {}) {
  return {
    strategy, // for new turns; null: the server's default, announced in `ready`
    sessionId: null,
    asrModel: null,
    llmBackend: null,
    outputSampleRate: null,
    session: 0, // connections that reached `ready`
    serverTurns: 0, // turns begun on this session, as the server counts them for turn_metrics
    seq: 0, // client turn numbers (turn.n), never reused
    turns: [],
    currentN: null, // the turn being heard / looked up
    answerN: null, // the turn whose answer is being received
    replacedN: null, // an answer a typed question cut short; the server's `interrupted` is about it
    inSpeech: false,
    audio: freshAudio(),
    audioFramesReceived: 0,
    audioFramesDropped: 0,
    partialCount: 0,
    toolCalls: 0,
    toolResults: 0,
    toolCancelled: 0,
    toolReused: 0,
    interruptions: 0,
    transcripts: [],
    answers: [],
    metrics: [],
    errors: [],
    events: [],
  };
}

// --- small helpers (all copy, none mutate their inputs) ---------------------------------------

function push(list, item, cap) {
  const out = list.length >= cap ? list.slice(list.length - cap + 1) : list.slice();
  out.push(item);
  return out;
}

function setCapped(map, key, value, cap) {
  const out = new Map(map);
  out.set(key, value);
  for (const k of out.keys()) {
    if (out.size <= cap) break;
    out.delete(k);
  }
  return out;
}

export function findTurn(state, n) {
  if (n == null) return null;
  for (let i = state.turns.length - 1; i >= 0; i--) if (state.turns[i].n === n) return state.turns[i];
  return null;
}

export const currentTurn = (state) => findTurn(state, state.currentN);
export const answerTurn = (state) => findTurn(state, state.answerN);
function findTool(state, id) {
  for (let i = state.turns.length - 1; i >= 0; i--) {
    const call = state.turns[i].tools.get(id);
    if (call) return [state.turns[i], call];
  }
  return [null, null];
}

function turnOfAnswer(state, gen) {
  if (gen == null) return null;
  for (let i = state.turns.length - 1; i >= 0; i--) {
    const t = state.turns[i];
    if (t.session === state.session && t.answerGen === gen) return t;
  }
  return null;
}

// s is a draft (a shallow copy of the state); returns the new turn, already in s.turns
function newTurn(s, typed, startWall) {
  const turn = {
    n: s.seq + 1,
    session: s.session,
    serverTurn: null,
    typed,
    strategy: s.strategy,
    startWall,
    speechStartMs: null,
    speechEndWall: null,
    eotWall: null,
    partials: [],
    stable: "",
    tail: "",
    finalWall: null,
    userText: null,
    tools: new Map(),
    evidence: null,
    answer: "",
    source: null,
    answerGen: null,
    answerStartWall: null,
    answerDone: false,
    answerAudioMs: null,
    firstAudioWall: null,
    playStartWall: null,
    playEndWall: null,
    interrupted: false,
    metrics: null,
    orphan: false,
    events: [],
  };
  s.seq = turn.n;
  s.turns = push(s.turns, turn, MAX_TURNS);
  s.currentN = turn.n;
  return turn;
}

// replace turn n in the draft by a copy with `patch` (an object, or a function of the old turn)
function edit(s, n, patch, logType) {
  s.turns = s.turns.map((t) => {
    if (t.n !== n) return t;
    const next = { ...t, ...(typeof patch === "function" ? patch(t) : patch) };
    if (logType) next.events = push(t.events, logType, MAX_TURN_EVENTS);
    return next;
  });
  return findTurn(s, n);
}

// the answer generation whose audio we are cutting off locally: drop its frames from now on
function markFlushed(s) {
  if (s.audio.answer != null) s.audio = { ...s.audio, flushed: s.audio.answer };
}

const genOf = (event) => (Number.isInteger(event.answer) ? event.answer : null);

// the turn an answer_delta / answer_done belongs to
function answerTarget(s, gen) {
  if (gen != null && gen === s.audio.flushed) {
    // a sentence of the answer we just cut off, still in flight: never the new turn's
    return turnOfAnswer(s, gen) || findTurn(s, s.replacedN);
  }
  return turnOfAnswer(s, gen) || answerTurn(s) || currentTurn(s);
}

// --- the reducer for server events -------------------------------------------------------------

export function reduce(state, event, time = {}) {
  const now = time.now ?? 0;
  const toWall = (ms) => (ms == null || !time.toWall ? now : time.toWall(ms));
  const type = event && event.type;
  const s = { ...state, events: push(state.events, type, MAX_EVENTS) };
  switch (type) {
    case "ready":
      s.session = state.session + 1;
      s.sessionId = event.session_id ?? null;
      s.asrModel = event.asr_model ?? null;
      s.llmBackend = event.llm_backend ?? null;
      s.outputSampleRate = event.output_sample_rate ?? null;
      if (event.strategy) s.strategy = event.strategy;
      s.serverTurns = 0;
      // turns of an earlier connection will never get their metrics
      s.turns = state.turns.map((t) => (t.metrics || t.orphan ? t : { ...t, orphan: true }));
      s.currentN = s.answerN = s.replacedN = null;
      s.inSpeech = false;
      s.audio = freshAudio();
      break;
    case "speech_start": {
      s.inSpeech = true;
      const turn = newTurn(s, false, toWall(event.audio_ms));
      edit(s, turn.n, { speechStartMs: event.audio_ms ?? null }, type);
      break;
    }
    case "partial": {
      s.partialCount = state.partialCount + 1;
      let turn = currentTurn(s);
      if (!turn || turn.typed || turn.finalWall != null) turn = newTurn(s, false, toWall(event.audio_ms));
      const at = toWall(event.audio_ms);
      edit(s, turn.n, (t) => ({ partials: push(t.partials, at, MAX_PARTIALS), stable: event.stable || "", tail: event.tail || "" }), type);
      break;
    }
    case "end_of_turn": {
      s.inSpeech = false;
      let turn = currentTurn(s);
      if (!turn || turn.typed || turn.serverTurn != null) turn = newTurn(s, false, toWall(event.speech_end_ms));
      s.serverTurns = state.serverTurns + 1;
      edit(s, turn.n, { speechEndWall: toWall(event.speech_end_ms), eotWall: toWall(event.audio_ms), serverTurn: s.serverTurns }, type);
      break;
    }
    case "final": {
      const text = (event.text || "").trim();
      s.transcripts = push(state.transcripts, text, MAX_HISTORY);
      let turn = currentTurn(s);
      if (!turn || turn.typed || turn.finalWall != null) turn = newTurn(s, false, now);
      edit(s, turn.n, { finalWall: now, userText: text }, type);
      if (text) s.answerN = turn.n;
      break;
    }
    case "tool_call": {
      s.toolCalls = state.toolCalls + 1;
      const turn = currentTurn(s) || newTurn(s, false, now);
      const call = {
        id: event.id,
        tool: event.tool,
        query: event.query,
        speculative: !!event.speculative,
        startWall: turn.typed ? now : Math.min(now, toWall(event.audio_ms)),
        endWall: null,
        elapsed: null,
        status: "running",
        hits: 0,
        results: [],
        note: "",
      };
      edit(s, turn.n, (t) => ({ tools: setCapped(t.tools, event.id, call, MAX_TOOL_CALLS) }), type);
      break;
    }
    case "tool_result": {
      s.toolResults = state.toolResults + 1;
      const [turn, call] = findTool(s, event.id);
      if (!call) break;
      const results = Array.isArray(event.results) ? event.results : [];
      const next = {
        ...call,
        elapsed: event.elapsed_ms ?? null,
        endWall: call.startWall + (event.elapsed_ms || 0),
        hits: results.length,
        results: results.slice(0, MAX_RESULTS),
      };
      if (event.error) {
        next.status = "error";
        next.note = String(event.error);
      } else if (call.status === "running") {
        next.status = "done";
      }
      const useful = next.results.length && call.status !== "cancelled";
      edit(s, turn.n, (t) => ({ tools: setCapped(t.tools, call.id, next, MAX_TOOL_CALLS), ...(useful ? { evidence: next.results } : {}) }), type);
      break;
    }
    case "tool_cancelled": {
      s.toolCancelled = state.toolCancelled + 1;
      const [turn, call] = findTool(s, event.id);
      if (!call) break;
      const next = { ...call, status: "cancelled", note: event.reason || "", endWall: call.endWall ?? now };
      edit(s, turn.n, (t) => ({ tools: setCapped(t.tools, call.id, next, MAX_TOOL_CALLS) }), type);
      break;
    }
    case "tool_reused": {
      s.toolReused = state.toolReused + 1;
      const [turn, call] = findTool(s, event.id);
      if (!call) break;
      const next = { ...call, status: "reused", note: event.final_query ? `for “${event.final_query}”` : "" };
      const useful = call.results && call.results.length;
      edit(s, turn.n, (t) => ({ tools: setCapped(t.tools, call.id, next, MAX_TOOL_CALLS), ...(useful ? { evidence: call.results } : {}) }), type);
      break;
    }
    case "answer_delta": {
      const gen = genOf(event);
      const turn = answerTarget(s, gen);
      // binary frames from now on voice this answer; a newer one ends any dropping
      s.audio = { ...state.audio, answer: gen, flushed: gen != null && gen !== state.audio.flushed ? null : state.audio.flushed };
      if (!turn) break;
      edit(s, turn.n, (t) => ({
        answerStartWall: t.answerStartWall ?? now,
        answer: (t.answer + (event.text || "")).slice(0, MAX_ANSWER_CHARS),
        source: t.source || event.source || null,
        answerGen: t.answerGen ?? gen,
      }), type);
      break;
    }
    case "answer_done": {
      s.answers = push(state.answers, event.text || "", MAX_HISTORY);
      const turn = answerTarget(s, genOf(event));
      if (!turn) break;
      edit(s, turn.n, (t) => ({
        answerDone: true,
        answerAudioMs: event.audio_ms ?? null,
        answer: t.answer || (event.text || "").slice(0, MAX_ANSWER_CHARS),
      }), type);
      break;
    }
    case "interrupted": {
      s.interruptions = state.interruptions + 1;
      markFlushed(s); // the client flushes its playback on `interrupted`
      const turn = findTurn(s, s.replacedN) || answerTurn(s);
      if (turn) {
        edit(s, turn.n, (t) => ({ interrupted: true, playEndWall: t.playEndWall != null ? Math.min(t.playEndWall, now) : null }), type);
        if (turn.n === s.answerN) s.answerN = null;
      }
      s.replacedN = null;
      break;
    }
    case "turn_metrics": {
      const m = event.metrics && typeof event.metrics === "object" ? event.metrics : {};
      s.metrics = push(state.metrics, m, MAX_HISTORY);
      let turn;
      if (Number.isInteger(event.turn)) {
        // the server numbers turns per session; metrics of an interrupted answer can arrive
        // after the next turn has begun
        turn = s.turns.find((t) => t.session === s.session && t.serverTurn === event.turn) || null;
      } else {
        // an old server without `turn`: the oldest finished turn still waiting for its metrics
        turn = s.turns.find((t) => !t.metrics && !t.orphan && (t.typed || t.finalWall != null)) || currentTurn(s);
      }
      if (!turn) break;
      edit(s, turn.n, (t) => ({
        metrics: m,
        serverTurn: Number.isInteger(event.turn) ? event.turn : t.serverTurn,
        interrupted: t.interrupted || !!m.interrupted,
        answer: t.answer || (typeof m.answer === "string" ? m.answer.slice(0, MAX_ANSWER_CHARS) : ""),
        source: t.source || m.answer_source || null,
      }), type);
      break;
    }
    case "error":
      s.errors = push(state.errors, { code: event.code, message: event.message }, MAX_HISTORY);
      break;
    default:
      break;
  }
  return s;
}

// --- client actions ----------------------------------------------------------------------------

// Whether a binary frame arriving now should be played: not if it voices an answer flushed here.
export function frameWanted(audio) {
  return !(audio.flushed != null && audio.answer === audio.flushed);
}

// A binary (answer audio) frame arrived; state.audio.lastFrame says whether to play it.
export function audioFrame(state, time = {}) {
  const now = time.now ?? 0;
  const s = { ...state, audioFramesReceived: state.audioFramesReceived + 1 };
  if (!frameWanted(state.audio)) {
    s.audioFramesDropped = state.audioFramesDropped + 1;
    s.audio = { ...state.audio, lastFrame: "drop" };
    return s;
  }
  s.audio = { ...state.audio, lastFrame: "play" };
  const turn = answerTurn(s);
  if (turn && turn.firstAudioWall == null) edit(s, turn.n, { firstAudioWall: now });
  return s;
}

// A played frame was scheduled to sound from startWall to endWall (client wall time).
export function audioScheduled(state, startWall, endWall) {
  const turn = answerTurn(state);
  if (!turn) return state;
  const s = { ...state };
  edit(s, turn.n, (t) => ({ playStartWall: t.playStartWall ?? startWall, playEndWall: endWall }));
  return s;
}

// The client flushed its playback (barge-in, a user stop): drop the rest of that answer's audio.
export function flushed(state) {
  const s = { ...state };
  markFlushed(s);
  return s;
}

// The user typed a question (already sent): it replaces whatever answer was playing.
export function askTyped(state, text, time = {}) {
  const now = time.now ?? 0;
  const s = flushed(state);
  const playing = answerTurn(s);
  s.replacedN = playing && !playing.metrics ? playing.n : null;
  const turn = newTurn(s, true, now);
  s.serverTurns = state.serverTurns + 1;
  edit(s, turn.n, { userText: text, finalWall: now, serverTurn: s.serverTurns }, "typed");
  s.answerN = turn.n;
  return s;
}

// The websocket closed (or is being replaced): nothing is heard or played any more.
export function disconnected(state) {
  return { ...state, inSpeech: false, audio: freshAudio() };
}

export function setStrategy(state, strategy) {
  return { ...state, strategy };
}
