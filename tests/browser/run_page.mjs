// Drive the web demo in Debian's chromium with a fake microphone that plays a WAV file.
//
//   node tests/browser/run_page.mjs <page-url> <question.wav> <screenshot.png>
//
// Loads the page, presses the talk button, waits until window.streamrag shows a final
// transcript, a tool call and played answer audio, takes a full-page screenshot and prints one
// JSON line with the page state. Exits 1 on timeout or error (the state is printed anyway).
// Environment: STREAMRAG_BROWSER_TIMEOUT_MS (default 80000), CHROMIUM (default /usr/bin/chromium).

import { mkdtempSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { chromium } from "playwright-core";

const [url, wav, screenshot] = process.argv.slice(2);
if (!url || !wav || !screenshot) {
  console.error("usage: node run_page.mjs <url> <wav> <screenshot.png>");
  process.exit(2);
}
const wavPath = resolve(wav);
if (!existsSync(wavPath)) {
  // chromium would silently give a silent microphone
  console.error(`fake microphone file not found: ${wavPath}`);
  process.exit(2);
}
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
const budgetMs = Number(process.env.STREAMRAG_BROWSER_TIMEOUT_MS || 80000);
const t0 = Date.now();
const left = () => Math.max(1000, budgetMs - (Date.now() - t0));
const userDataDir = mkdtempSync(join(tmpdir(), "streamrag-chromium-"));

const args = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--use-fake-ui-for-media-stream",
  "--use-fake-device-for-media-stream",
  `--use-file-for-fake-audio-capture=${wavPath}%noloop`,
  "--autoplay-policy=no-user-gesture-required",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
  "--disable-quic",
];
// a fresh, empty profile (playwright takes it as launchPersistentContext's first argument, the
// equivalent of --user-data-dir)

const snapshot = () => {
  const s = window.streamrag || {};
  return {
    connected: s.connected,
    connection: s.connection,
    sessionId: s.sessionId,
    strategy: s.strategy,
    micState: s.micState,
    contextSampleRate: s.contextSampleRate,
    captureRate: s.captureRate,
    outputSampleRate: s.outputSampleRate,
    transcripts: s.transcripts,
    partialCount: s.partialCount,
    toolCalls: s.toolCalls,
    toolResults: s.toolResults,
    answers: s.answers,
    audioFramesReceived: s.audioFramesReceived,
    audioFramesPlayed: s.audioFramesPlayed,
    audioSamplesPlayed: s.audioSamplesPlayed,
    captureFrames: s.captureFrames,
    framesSent: s.framesSent,
    captureRms: s.captureRms,
    metrics: s.metrics,
    errors: s.errors,
    events: (s.events || []).filter((t) => t !== "partial"),
    dom: {
      finalTranscript: document.querySelector("#final-transcript")?.textContent ?? null,
      timelineToolCalls: document.querySelectorAll(".timeline .tool-call").length,
      conversationTurns: document.querySelectorAll("#conversation .turn").length,
    },
  };
};

let browser;
let page;
let state = null;
let ok = false;
const consoleLines = [];
try {
  browser = await chromium.launchPersistentContext(userDataDir, {
    executablePath,
    args,
    headless: true,
    viewport: { width: 1360, height: 900 },
    timeout: left(),
  });
  page = browser.pages()[0] || (await browser.newPage());
  page.on("console", (msg) => consoleLines.push(`[${msg.type()}] ${msg.text()}`));
  page.on("pageerror", (err) => consoleLines.push(`[pageerror] ${err.message}`));
  await page.goto(url, { waitUntil: "load", timeout: left() });
  await page.waitForFunction(() => window.streamrag && window.streamrag.connected, null, { timeout: left() });
  await page.click("#talk");
  await page.waitForFunction(
    () => {
      const s = window.streamrag;
      return s.transcripts.some((t) => t.length > 0) && s.toolCalls > 0 && s.audioFramesPlayed > 0;
    },
    null,
    { timeout: left(), polling: 100 },
  );
  ok = true;
  // nicer screenshot: let the turn finish (its metrics arrive once the answer audio is sent)
  await page
    .waitForFunction(() => window.streamrag.metrics.length > 0, null, { timeout: Math.min(25000, left()), polling: 200 })
    .catch(() => {});
  await page.waitForTimeout(400);
  state = await page.evaluate(snapshot);
  await page.screenshot({ path: screenshot, fullPage: true });
} catch (err) {
  console.error(`run_page: ${err && err.message ? err.message.split("\n")[0] : err}`);
  if (page) {
    state = await page.evaluate(snapshot).catch(() => null);
    await page.screenshot({ path: screenshot, fullPage: true }).catch(() => {});
  }
} finally {
  if (consoleLines.length) console.error(consoleLines.slice(-40).join("\n"));
  console.log(JSON.stringify({ ok, elapsed_ms: Date.now() - t0, state }));
  if (browser) await browser.close().catch(() => {});
  rmSync(userDataDir, { recursive: true, force: true });
}
process.exit(ok ? 0 : 1);
