// The websocket to the server (/ws): the `start` message, events and audio frames out to callbacks, reconnect with backoff.

const MAX_BACKOFF_MS = 10000;
const FIRST_BACKOFF_MS = 500;
const OFFLINE_AFTER = 4; // failed attempts before the badge says "Offline"
const MAX_CLOCK_MARKS = 12000; // ~4 min of 20 ms frames
const CLOCK_TRIM = 2000;

// The page's own ?token= (a server started with --token) goes on to the websocket.
export function wsUrl(loc = location) {
  const proto = loc.protocol === "https:" ? "wss:" : "ws:";
  const token = new URLSearchParams(loc.search || "").get("token");
  return `${proto}//${loc.host}/ws${token ? `?token=${encodeURIComponent(token)}` : ""}`;
}

export function startMessage({ sampleRate, outputSampleRate, strategy }) {
  return {
    type: "start",
    sample_rate: sampleRate,
    encoding: "pcm16",
    output_sample_rate: outputSampleRate,
    options: strategy ? { strategy } : {},
  };
}

// Audio clock: audio_ms (milliseconds of audio the server received on this connection) -> our
// wall time (performance.now), from marks taken as each frame is sent.
export class AudioClock {
  constructor(sampleRate) {
    this.sampleRate = sampleRate;
    this.reset();
  }

  reset(now = performance.now()) {
    this.sentMs = 0;
    this.marks = [[0, now]]; // [audio_ms at the end of a frame, wall time it was sent]
  }

  sent(byteLength, now = performance.now()) {
    this.sentMs += (byteLength / 2 / this.sampleRate) * 1000;
    this.marks.push([this.sentMs, now]);
    if (this.marks.length > MAX_CLOCK_MARKS) this.marks.splice(0, CLOCK_TRIM);
  }

  toWall(audioMs, now = performance.now()) {
    const marks = this.marks;
    if (!marks.length || audioMs == null) return now;
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
}

export class Connection {
  // options: sampleRate (what we send), outputSampleRate() and strategy() (read at each start),
  // stats (its connected, reconnects and framesSent are kept up to date), and callbacks
  // onEvent(msg), onAudio(ArrayBuffer), onClose() (also when a connection is replaced) and
  // onState(state, label) with state connecting | reconnecting | ready | error.
  constructor({ url = wsUrl(), sampleRate, outputSampleRate, strategy, stats, onEvent, onAudio, onClose, onState }) {
    Object.assign(this, { url, sampleRate, outputSampleRate, strategy, stats, onEvent, onAudio, onClose, onState });
    this.clock = new AudioClock(sampleRate);
    this.ws = null;
    this.started = false;
    this.attempt = 0;
    this.timer = null;
  }

  connect() {
    clearTimeout(this.timer);
    this.timer = null;
    this.onState(this.attempt ? "reconnecting" : "connecting", this.attempt ? "Reconnecting…" : "Connecting…");
    let sock;
    try {
      sock = new WebSocket(this.url);
    } catch (err) {
      this.scheduleReconnect(String(err));
      return;
    }
    this.ws = sock;
    this.started = false;
    sock.binaryType = "arraybuffer";
    sock.onopen = () => {
      if (sock !== this.ws) return;
      sock.send(
        JSON.stringify(
          startMessage({ sampleRate: this.sampleRate, outputSampleRate: this.outputSampleRate(), strategy: this.strategy() }),
        ),
      );
      this.started = true;
      this.clock.reset();
    };
    sock.onmessage = (e) => {
      if (sock !== this.ws) return;
      if (typeof e.data !== "string") {
        this.onAudio(e.data);
        return;
      }
      let msg;
      try {
        msg = JSON.parse(e.data);
      } catch (err) {
        return;
      }
      if (!msg || typeof msg !== "object") return;
      if (msg.type === "ready") {
        this.stats.connected = true;
        this.attempt = 0;
        this.onState("ready", "Ready");
      }
      this.onEvent(msg);
    };
    sock.onclose = (e) => {
      if (sock !== this.ws) return;
      const wasReady = this.stats.connected;
      this.stats.connected = false;
      this.started = false;
      this.ws = null;
      this.onClose();
      this.scheduleReconnect(e.reason || (wasReady ? "connection lost" : "server unreachable"));
    };
    sock.onerror = () => {
      /* a close event follows; reconnect is handled there */
    };
  }

  scheduleReconnect(reason) {
    const delay = Math.min(MAX_BACKOFF_MS, FIRST_BACKOFF_MS * 2 ** this.attempt) * (0.8 + Math.random() * 0.4);
    this.attempt++;
    this.stats.reconnects++;
    const secs = Math.max(1, Math.round(delay / 1000));
    const offline = this.attempt > OFFLINE_AFTER;
    this.onState(offline ? "error" : "reconnecting", `${offline ? "Offline" : "Reconnecting"} in ${secs} s (${reason})`);
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.connect(), delay);
  }

  // Drop this connection and open a new one at once (e.g. the strategy changed).
  reconnectNow(reason = "strategy changed") {
    const old = this.ws;
    this.ws = null;
    this.started = false;
    this.stats.connected = false;
    if (old) {
      try {
        old.close(1000, reason);
      } catch (err) {
        /* ignore */
      }
    }
    this.onClose();
    this.attempt = 0;
    this.connect();
  }

  get open() {
    return !!this.ws && this.started && this.ws.readyState === WebSocket.OPEN;
  }

  sendAudio(buffer) {
    if (!this.open) return false;
    this.ws.send(buffer);
    this.stats.framesSent++;
    this.clock.sent(buffer.byteLength);
    return true;
  }

  sendJson(obj) {
    if (!this.open) return false;
    this.ws.send(JSON.stringify(obj));
    return true;
  }
}
