// Unit tests of the pure turn reducer (web/turns.js) with node's own test runner: node --test tests/web/
import assert from "node:assert/strict";
import { test } from "node:test";

import * as T from "../../web/turns.js";

// feed events one per 10 ms of wall time; audio_ms maps to wall time 1:1 from wall 0
function run(events, state = T.initialState(), start = 1000) {
  let now = start;
  for (const ev of events) {
    now += 10;
    const time = { now, toWall: (ms) => ms };
    if (ev === "frame") state = T.audioFrame(state, time);
    else if (ev.typed != null) state = T.askTyped(state, ev.typed, time);
    else if (ev.flush) state = T.flushed(state);
    else state = T.reduce(state, ev, time);
  }
  return state;
}

const ready = { type: "ready", session_id: "s1", strategy: "triggered", asr_model: "tiny", llm_backend: "extractive", output_sample_rate: 24000 };

function spokenTurn({ turn = 1, answer, question = "what is the capital of australia", text = "Canberra." } = {}) {
  const gen = answer == null ? {} : { answer };
  return [
    { type: "speech_start", audio_ms: 500 },
    { type: "partial", stable: "what is", tail: "the", audio_ms: 800 },
    { type: "partial", stable: "what is the capital", tail: "of australia", audio_ms: 1200 },
    { type: "tool_call", id: `c${turn}`, tool: "search", query: "capital of australia", speculative: true, audio_ms: 1200 },
    { type: "end_of_turn", audio_ms: 2000, speech_end_ms: 1600 },
    { type: "final", text: ` ${question} `, audio_ms: 2000 },
    { type: "tool_result", id: `c${turn}`, tool: "search", elapsed_ms: 120, results: [{ id: "d1", title: "Canberra", url: "https://x/c", snippet: "…", score: 1 }] },
    { type: "tool_reused", id: `c${turn}`, query: "capital of australia", final_query: question },
    { type: "answer_delta", text: `${text} `, source: "extractive", ...gen },
    "frame",
    "frame",
    { type: "answer_done", text, audio_ms: 1200, ...gen },
  ];
}

const metrics = (turn, extra = {}) => ({ type: "turn_metrics", turn, metrics: { first_audio_ms: 300, answer: "x", answer_source: "llm", ...extra } });

test("a full spoken turn produces the expected state", () => {
  const s = run([ready, ...spokenTurn({ answer: 1 }), metrics(1, { speech_end_to_first_audio_ms: 700 })]);
  assert.equal(s.sessionId, "s1");
  assert.equal(s.strategy, "triggered");
  assert.equal(s.turns.length, 1);
  const t = s.turns[0];
  assert.equal(t.n, 1);
  assert.equal(t.serverTurn, 1);
  assert.equal(t.typed, false);
  assert.equal(t.strategy, "triggered");
  assert.equal(t.startWall, 500);
  assert.equal(t.speechEndWall, 1600);
  assert.equal(t.eotWall, 2000);
  assert.deepEqual(t.partials, [800, 1200]);
  assert.equal(t.stable, "what is the capital");
  assert.equal(t.userText, "what is the capital of australia");
  assert.equal(t.finalWall, 1070);
  const call = t.tools.get("c1");
  assert.equal(call.status, "reused");
  assert.equal(call.speculative, true);
  assert.equal(call.hits, 1);
  assert.equal(call.startWall, 1050); // never later than when it arrived
  assert.equal(call.endWall, 1050 + 120);
  assert.equal(t.evidence[0].title, "Canberra");
  assert.equal(t.answer, "Canberra. ");
  assert.equal(t.source, "extractive");
  assert.equal(t.answerGen, 1);
  assert.equal(t.answerDone, true);
  assert.equal(t.answerAudioMs, 1200);
  assert.equal(t.firstAudioWall, 1110);
  assert.equal(t.metrics.speech_end_to_first_audio_ms, 700);
  assert.equal(t.interrupted, false);
  assert.deepEqual(t.events, ["speech_start", "partial", "partial", "tool_call", "end_of_turn", "final", "tool_result", "tool_reused", "answer_delta", "answer_done", "turn_metrics"]);
  assert.equal(s.currentN, 1);
  assert.equal(s.answerN, 1);
  assert.equal(s.inSpeech, false);
  assert.deepEqual(s.transcripts, ["what is the capital of australia"]);
  assert.deepEqual(s.answers, ["Canberra."]);
  assert.equal(s.partialCount, 2);
  assert.equal(s.toolCalls, 1);
  assert.equal(s.toolResults, 1);
  assert.equal(s.toolReused, 1);
  assert.equal(s.audioFramesReceived, 2);
  assert.equal(s.audioFramesDropped, 0);
  assert.equal(s.events.length, 12); // server events only, not the binary frames
  assert.equal(s.events[0], "ready");
});

test("the reducer never changes the state it is given", () => {
  const before = run([ready, ...spokenTurn({ answer: 1 })]);
  const snapshot = JSON.stringify(before, (k, v) => (v instanceof Map ? [...v] : v));
  const firstTurn = before.turns[0];
  run([{ type: "partial", stable: "x", tail: "", audio_ms: 3000 }, metrics(1), { typed: "and of peru?" }, "frame"], before);
  assert.equal(JSON.stringify(before, (k, v) => (v instanceof Map ? [...v] : v)), snapshot);
  assert.equal(before.turns[0], firstTurn);
});

test("turn_metrics attaches to the turn it names, even after the next turn began", () => {
  let s = run([ready, ...spokenTurn({ answer: 1 })]);
  // barge-in: turn 2 starts before turn 1's metrics arrive
  s = run([{ type: "speech_start", audio_ms: 4000 }, { type: "interrupted", audio_ms: 4000, dropped_audio_ms: 500 }, { type: "end_of_turn", audio_ms: 5000, speech_end_ms: 4600 }, { type: "final", text: "and peru", audio_ms: 5000 }], s);
  assert.equal(s.turns.length, 2);
  assert.equal(s.turns[1].serverTurn, 2);
  s = run([metrics(1, { interrupted: true })], s);
  assert.equal(s.turns[0].metrics.interrupted, true);
  assert.equal(s.turns[0].interrupted, true);
  assert.equal(s.turns[1].metrics, null);
  s = run([metrics(2, { first_audio_ms: 99 })], s);
  assert.equal(s.turns[1].metrics.first_audio_ms, 99);
  assert.equal(s.turns[0].metrics.first_audio_ms, 300);
});

test("typed questions count as server turns too", () => {
  let s = run([ready, { typed: "capital of peru?" }, ...spokenTurn({ answer: 2 })]);
  assert.equal(s.turns[0].typed, true);
  assert.equal(s.turns[0].serverTurn, 1);
  assert.equal(s.turns[1].serverTurn, 2);
  s = run([metrics(2), metrics(1)], s);
  assert.equal(s.turns[0].metrics.answer, "x");
  assert.ok(s.turns[1].metrics);
  // a metrics number no kept turn has is recorded but attached to nothing
  s = run([metrics(7, { first_audio_ms: 1 })], s);
  assert.equal(s.metrics.length, 3);
  assert.ok(s.turns.every((t) => t.metrics.first_audio_ms === 300));
});

test("turns of an earlier connection are never matched by a new session's numbers", () => {
  let s = run([ready, ...spokenTurn({ answer: 1 })]);
  s = T.disconnected(s);
  s = run([{ ...ready, session_id: "s2" }, ...spokenTurn({ answer: 1 }), metrics(1)], s);
  assert.equal(s.turns[0].orphan, true);
  assert.equal(s.turns[0].metrics, null);
  assert.ok(s.turns[1].metrics);
});

test("the caps hold when thousands of events flood in", () => {
  let s = run([ready]);
  const flood = [];
  for (let i = 0; i < 5000; i++) {
    flood.push({ type: "partial", stable: `word ${i}`, tail: "", audio_ms: i });
    if (i % 50 === 0) flood.push({ type: "tool_call", id: `t${i}`, tool: "search", query: `q${i}`, speculative: true, audio_ms: i });
    if (i % 10 === 0) flood.push({ type: "answer_delta", text: "blah blah blah blah. ", source: "llm", answer: 1 });
    if (i % 7 === 0) flood.push({ type: "error", code: "rate_limited", message: "slow down" });
  }
  s = run(flood, s);
  assert.equal(s.turns.length, 1);
  const t = s.turns[0];
  assert.equal(t.partials.length, T.MAX_PARTIALS);
  assert.equal(t.partials.at(-1), 4999); // the newest are kept
  assert.equal(t.tools.size, T.MAX_TOOL_CALLS);
  assert.ok(t.tools.has("t4950") && !t.tools.has("t0"));
  assert.ok(t.answer.length <= T.MAX_ANSWER_CHARS);
  assert.equal(t.events.length, T.MAX_TURN_EVENTS);
  assert.equal(s.events.length, T.MAX_EVENTS);
  assert.equal(s.errors.length, T.MAX_HISTORY);
  assert.equal(s.partialCount, 5000);

  // many turns: only the newest MAX_TURNS are kept, numbering goes on
  const many = [];
  const N = Math.max(3 * T.MAX_TURNS, T.MAX_HISTORY + 10);
  for (let i = 0; i < N; i++) many.push(...spokenTurn({ turn: i + 2, answer: i + 2 }), metrics(i + 1)); // the flood turn never ended
  s = run(many, s);
  assert.equal(s.turns.length, T.MAX_TURNS);
  assert.equal(s.turns.at(-1).n, 1 + N);
  assert.ok(s.turns.every((x) => x.metrics));
  assert.equal(s.transcripts.length, T.MAX_HISTORY);
  assert.equal(s.answers.length, T.MAX_HISTORY);
  assert.equal(s.metrics.length, T.MAX_HISTORY);
  const results = Array.from({ length: 100 }, (_, i) => ({ id: `d${i}`, title: `r${i}` }));
  s = run([{ type: "tool_call", id: "big", tool: "search", query: "q", audio_ms: 0 }, { type: "tool_result", id: "big", elapsed_ms: 5, results }], s);
  const big = s.turns.at(-1).tools.get("big");
  assert.equal(big.results.length, T.MAX_RESULTS);
  assert.equal(big.hits, 100);
});

test("audio of a flushed answer is dropped until a newer answer begins", () => {
  let s = run([ready, ...spokenTurn({ answer: 3 })]);
  assert.equal(s.audio.lastFrame, "play");
  // the user types a new question while answer 3 is still arriving
  s = run([{ typed: "and of peru?" }, "frame", "frame", { type: "answer_delta", text: "Late sentence. ", source: "llm", answer: 3 }, "frame"], s);
  assert.equal(s.audio.lastFrame, "drop");
  assert.equal(s.audioFramesDropped, 3);
  assert.equal(s.audioFramesReceived, 5);
  const [first, typed] = s.turns;
  assert.equal(first.answer, "Canberra. Late sentence. "); // a late sentence stays with its own turn
  assert.equal(typed.answer, "");
  assert.equal(typed.firstAudioWall, null);
  assert.equal(s.replacedN, first.n);
  s = run([{ type: "interrupted", audio_ms: 100, dropped_audio_ms: 40 }, "frame"], s);
  assert.equal(s.turns[0].interrupted, true);
  assert.equal(s.audio.lastFrame, "drop");
  s = run([{ type: "answer_delta", text: "Lima. ", source: "llm", answer: 4 }, "frame", "frame"], s);
  assert.equal(s.audio.lastFrame, "play");
  assert.equal(s.audioFramesDropped, 4);
  assert.equal(s.turns[1].answer, "Lima. ");
  assert.equal(s.turns[1].answerGen, 4);
  assert.notEqual(s.turns[1].firstAudioWall, null);
});

test("a barge-in (interrupted) drops the rest of the answer's audio", () => {
  let s = run([ready, ...spokenTurn({ answer: 1 }).slice(0, -1)]);
  s = run([{ type: "speech_start", audio_ms: 3000 }, { type: "interrupted", audio_ms: 3000, dropped_audio_ms: 200 }, "frame", "frame"], s);
  assert.equal(s.audioFramesDropped, 2);
  assert.equal(s.answerN, null);
  assert.equal(s.turns[0].interrupted, true);
  assert.equal(T.frameWanted(s.audio), false);
  s = run([{ type: "end_of_turn", audio_ms: 4000, speech_end_ms: 3500 }, { type: "final", text: "peru", audio_ms: 4000 }, { type: "answer_delta", text: "Lima.", answer: 2 }, "frame"], s);
  assert.equal(T.frameWanted(s.audio), true);
  assert.equal(s.audioFramesDropped, 2);
  assert.equal(s.turns[1].answer, "Lima.");
  // a local flush (e.g. a user stop) works the same way
  s = run([{ flush: true }, "frame"], s);
  assert.equal(s.audio.lastFrame, "drop");
});

test("without the `answer` field (old servers) nothing is dropped and metrics go to the oldest waiting turn", () => {
  let s = run([ready, ...spokenTurn()]);
  s = run([{ typed: "and of peru?" }, "frame", { type: "answer_delta", text: "Late. ", source: "llm" }, "frame"], s);
  assert.equal(s.audioFramesDropped, 0);
  assert.equal(s.audio.lastFrame, "play");
  assert.equal(s.turns[1].answer, "Late. "); // as before: the typed turn is receiving the answer
  s = run([{ type: "interrupted", audio_ms: 10, dropped_audio_ms: 0 }, "frame"], s);
  assert.equal(s.audioFramesDropped, 0);
  s = run([{ type: "turn_metrics", metrics: { first_audio_ms: 1 } }, { type: "turn_metrics", metrics: { first_audio_ms: 2 } }], s);
  assert.equal(s.turns[0].metrics.first_audio_ms, 1);
  assert.equal(s.turns[1].metrics.first_audio_ms, 2);
});
