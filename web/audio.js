// Audio in and out: microphone capture (getUserMedia + web/worklet.js, 16 kHz PCM16 frames) and answer playback (jitter buffer, flush).

export const ASR_RATE = 16000; // what we send: the server's native rate, so audio_ms == our sent ms
export const FRAME_MS = 20;
export const SUPPORTED_RATES = [8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000];
const INITIAL_BUFFER_S = 0.1; // jitter buffer before the first chunk of an answer plays
const FALLBACK_OUTPUT_RATE = 24000;

// One AudioContext for capture and playback, or null where Web Audio is missing.
export function createAudioContext() {
  const AudioCtx = window.AudioContext || window.webkitAudioContext;
  try {
    return AudioCtx ? new AudioCtx({ latencyHint: "interactive" }) : null;
  } catch (err) {
    return null;
  }
}

// The rate we ask the server to speak at: the context's own where the protocol allows it.
export function outputRate(ctx) {
  return ctx && SUPPORTED_RATES.includes(ctx.sampleRate) ? ctx.sampleRate : FALLBACK_OUTPUT_RATE;
}

export async function resumeAudio(ctx) {
  if (ctx && ctx.state === "suspended") {
    try {
      await ctx.resume();
    } catch (err) {
      /* needs a user gesture; we try again on the next one */
    }
  }
}

// --- playback: a small jitter buffer of back-to-back AudioBufferSourceNodes --------------------
export class Player {
  // stats: an object whose audioFramesPlayed, audioSamplesPlayed and underruns this counts up
  constructor(ctx, stats) {
    this.ctx = ctx;
    this.stats = stats;
    this.sources = new Set();
    this.nextTime = 0;
    this.rate = FALLBACK_OUTPUT_RATE;
  }

  get active() {
    return this.sources.size > 0;
  }

  // Schedule one PCM16 frame; returns when it will sound ({startWall, endWall}, in
  // performance.now() time, endWall being the end of everything buffered), or null.
  play(buffer) {
    const ctx = this.ctx;
    if (!ctx) return null;
    if (ctx.state !== "running") resumeAudio(ctx);
    const pcm = new Int16Array(buffer);
    const n = pcm.length;
    if (!n) return null;
    const now = performance.now();
    const samples = new Float32Array(n);
    for (let i = 0; i < n; i++) samples[i] = pcm[i] / 32768;
    const audio = ctx.createBuffer(1, n, this.rate);
    audio.copyToChannel(samples, 0);
    const src = ctx.createBufferSource();
    src.buffer = audio;
    src.connect(ctx.destination);
    const t = ctx.currentTime;
    if (this.nextTime < t + 0.005) {
      if (this.sources.size > 0) this.stats.underruns++;
      this.nextTime = t + INITIAL_BUFFER_S;
    }
    const startAt = this.nextTime;
    src.start(startAt);
    this.nextTime += audio.duration;
    src.onended = () => {
      this.sources.delete(src);
      if (!src.flushed) {
        this.stats.audioFramesPlayed++;
        this.stats.audioSamplesPlayed += n;
      }
    };
    this.sources.add(src);
    return { startWall: now + (startAt - t) * 1000, endWall: now + (this.nextTime - t) * 1000 };
  }

  // Stop everything queued at once (barge-in, a new question, a lost connection).
  flush() {
    for (const src of this.sources) {
      src.flushed = true;
      try {
        src.stop();
      } catch (err) {
        /* already stopped */
      }
    }
    this.sources.clear();
    this.nextTime = 0;
  }

  bufferedMs() {
    if (!this.ctx || !this.sources.size) return 0;
    return Math.max(0, (this.nextTime - this.ctx.currentTime) * 1000);
  }
}

// --- capture: getUserMedia -> AudioWorklet (resample to 16 kHz, PCM16, 20 ms) -----------------
const MIC_ERRORS = {
  noWebAudio: ["error", "This browser has no Web Audio support, so the microphone cannot be used. You can still type questions."],
  insecure: ["error", "The microphone needs a secure page: open the demo over https:// or on localhost. You can still type questions."],
  denied: ["denied", "Microphone access was denied. Allow it in the address bar’s site settings and press Start talking again, or type your question below."],
  missing: ["missing", "No microphone was found. Plug one in and press Start talking again, or type your question below."],
  busy: ["error", "The microphone is busy or could not be opened (is another app using it?)."],
  unplugged: ["missing", "The microphone was disconnected."],
};

export class Capture {
  // callbacks: onFrame(pcm16 ArrayBuffer, rms), onInfo(inputRate), onState(state, errorMessage?)
  // with state one of off | starting | on | denied | missing | error, and onStop() when a
  // running microphone is switched off (so the caller can end the turn)
  constructor(ctx, { agc = true, onFrame, onInfo, onState, onStop }) {
    this.ctx = ctx;
    this.agc = agc;
    this.onFrame = onFrame;
    this.onInfo = onInfo;
    this.onState = onState;
    this.onStop = onStop;
    this.state = "off";
    this.stream = this.source = this.node = this.sink = null;
    this.moduleLoaded = false;
  }

  get running() {
    return this.state === "on" || this.state === "starting";
  }

  setState(value, message) {
    this.state = value;
    this.onState(value, message);
  }

  fail([kind, message]) {
    this.setState(kind, message);
  }

  async start() {
    const ctx = this.ctx;
    if (!ctx) return this.fail(MIC_ERRORS.noWebAudio);
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) return this.fail(MIC_ERRORS.insecure);
    this.setState("starting");
    await resumeAudio(ctx);
    try {
      if (!this.moduleLoaded) {
        await ctx.audioWorklet.addModule("/static/worklet.js");
        this.moduleLoaded = true;
      }
      const stream = await navigator.mediaDevices.getUserMedia({
        audio: {
          echoCancellation: true,
          noiseSuppression: true,
          autoGainControl: this.agc,
          channelCount: 1,
        },
      });
      if (this.state !== "starting") {
        // switched off while the permission prompt was open
        stream.getTracks().forEach((t) => t.stop());
        return;
      }
      this.stream = stream;
      this.source = ctx.createMediaStreamSource(stream);
      this.node = new AudioWorkletNode(ctx, "pcm-capture", {
        numberOfInputs: 1,
        numberOfOutputs: 1,
        outputChannelCount: [1],
        channelCount: 1,
        channelCountMode: "explicit",
        channelInterpretation: "speakers",
        processorOptions: { targetRate: ASR_RATE, frameMs: FRAME_MS },
      });
      this.node.port.onmessage = (e) => this.onMessage(e.data);
      // the worklet writes no output; a muted sink keeps it in the rendered graph
      this.sink = ctx.createGain();
      this.sink.gain.value = 0;
      this.source.connect(this.node);
      this.node.connect(this.sink);
      this.sink.connect(ctx.destination);
      const [track] = stream.getAudioTracks();
      if (track) {
        track.onended = () => {
          this.stop();
          this.fail(MIC_ERRORS.unplugged);
        };
      }
      this.setState("on");
    } catch (err) {
      this.stop(false);
      const name = err && err.name;
      if (name === "NotAllowedError" || name === "SecurityError") this.fail(MIC_ERRORS.denied);
      else if (name === "NotFoundError" || name === "OverconstrainedError") this.fail(MIC_ERRORS.missing);
      else if (name === "NotReadableError" || name === "AbortError") this.fail(MIC_ERRORS.busy);
      else this.fail(["error", `Could not start the microphone: ${(err && err.message) || err}`]);
    }
  }

  stop(endTurn = true) {
    if (this.stream) this.stream.getTracks().forEach((t) => t.stop());
    for (const node of [this.source, this.node, this.sink]) {
      if (node) {
        try {
          node.disconnect();
        } catch (err) {
          /* not connected */
        }
      }
    }
    if (this.node) this.node.port.onmessage = null;
    this.stream = this.source = this.node = this.sink = null;
    if (endTurn && this.onStop) this.onStop();
    if (this.running) this.setState("off");
  }

  onMessage(msg) {
    if (msg.type === "info") this.onInfo(msg.inputRate);
    else if (msg.type === "frame") this.onFrame(msg.pcm, msg.rms);
  }
}
