// Microphone capture: downmix to mono, resample from the context's real rate (the global
// `sampleRate` of this AudioWorkletGlobalScope; never assume 44.1 or 48 kHz) to the target rate,
// and post little-endian PCM16 frames of `frameMs` milliseconds to the main thread.
//
// Downsampling uses an area-averaging (box) filter with fractional edges: each output sample is
// the mean of the input over exactly its own interval, which works for any ratio (48000 -> 16000,
// 44100 -> 16000, ...) and suppresses most of the aliasing a plain decimator would let through.
// Upsampling (a context slower than the target, rare) falls back to linear interpolation.

class PcmCaptureProcessor extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const opts = (options && options.processorOptions) || {};
    this.targetRate = opts.targetRate || 16000;
    this.frameSamples = Math.round((this.targetRate * (opts.frameMs || 20)) / 1000);
    this.ratio = sampleRate / this.targetRate; // input samples per output sample
    this.frame = new Int16Array(this.frameSamples);
    this.fill = 0;
    this.sumSquares = 0;
    // box filter state
    this.acc = 0;
    this.filled = 0;
    // linear interpolation state (ratio < 1)
    this.prev = 0;
    this.phase = 0;
    this.enabled = true;
    this.port.onmessage = (e) => {
      if (e.data && e.data.type === "enable") this.enabled = !!e.data.value;
    };
    this.port.postMessage({ type: "info", inputRate: sampleRate, targetRate: this.targetRate, ratio: this.ratio });
  }

  emit(value) {
    const v = value > 1 ? 1 : value < -1 ? -1 : value;
    this.frame[this.fill++] = v < 0 ? v * 0x8000 : v * 0x7fff;
    this.sumSquares += v * v;
    if (this.fill === this.frameSamples) {
      const rms = Math.sqrt(this.sumSquares / this.frameSamples);
      const pcm = this.frame.buffer;
      this.port.postMessage({ type: "frame", pcm, rms }, [pcm]);
      this.frame = new Int16Array(this.frameSamples);
      this.fill = 0;
      this.sumSquares = 0;
    }
  }

  pushSample(x) {
    const ratio = this.ratio;
    if (ratio === 1) {
      this.emit(x);
    } else if (ratio > 1) {
      const room = ratio - this.filled;
      if (room > 1) {
        this.acc += x;
        this.filled += 1;
      } else {
        // this input sample straddles the end of the output interval
        this.acc += x * room;
        this.emit(this.acc / ratio);
        const rest = 1 - room;
        this.acc = x * rest;
        this.filled = rest;
      }
    } else {
      // upsample: emit every output position that falls between prev and x
      while (this.phase < 1) {
        this.emit(this.prev + (x - this.prev) * this.phase);
        this.phase += ratio;
      }
      this.phase -= 1;
      this.prev = x;
    }
  }

  process(inputs) {
    const input = inputs[0];
    if (!this.enabled || !input || input.length === 0) return true;
    const channels = input.length;
    const n = input[0].length;
    if (channels === 1) {
      const ch = input[0];
      for (let i = 0; i < n; i++) this.pushSample(ch[i]);
    } else {
      for (let i = 0; i < n; i++) {
        let s = 0;
        for (let c = 0; c < channels; c++) s += input[c][i];
        this.pushSample(s / channels);
      }
    }
    return true;
  }
}

registerProcessor("pcm-capture", PcmCaptureProcessor);
