"""Streaming ASR on faster-whisper: partial hypotheses while the user talks, a final at turn end.

``WhisperAsr`` is the shared, blocking model. ``StreamingTranscriber`` is one per session: it
buffers the turn's audio, asks for a partial decode every ``partial_interval_ms`` of new audio
(never more than one in flight), splits hypotheses into a stable prefix and an unstable tail with
LocalAgreement-2, and starts a *tentative final* decode as soon as the VAD sees a pause, so the
final transcript is usually ready when the end of turn is declared.

Partials may come from a smaller, faster model than the final (``partial_asr``: tiny.en while the
final is base): speculation then gets a hypothesis every ~320 ms for ~100 ms of CPU each, and a
partial from that model is never taken as the final; the tentative final at the pause is always
decoded by the final model.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

import numpy as np

from .local_agreement import LocalAgreement
from .models import ModelWorker, Priority, run_in_thread, whisper_model_dir

log = logging.getLogger(__name__)
RATE = 16_000
MIN_DECODE_SAMPLES = RATE * 3 // 10  # whisper hallucinates on slivers of audio
COVER_PAD = RATE * 64 // 1000  # a partial covers the speech if it has this much audio past its end
MAX_HOTWORD_CHARS = 200  # about 40 tokens of names: a longer prompt costs decode time


class WhisperAsr:
    """A CTranslate2 Whisper model loaded from a local folder, English, greedy by default.

    Whisper pads every input to a 30 s window, so a 2 s question costs a full 30 s encode.
    With ``window_pad_s`` > 0 the encoder sees only the audio plus that much silence (CTranslate2
    accepts shorter inputs; whisper.cpp calls this ``audio_ctx``), with the output length bounded
    and n-gram repeats blocked, which stops the loops a short window can otherwise cause.
    Measured here (38 piper/espeak questions, base): 0.33 s per decode and 15.8 % WER with a 5 s
    pad, against 1.33 s and 17.6 % for the full window. See docs/decisions.md.
    """

    def __init__(
        self, model: str = "base", threads: int = 2, window_pad_s: float = 5.0, nice: int = 0
    ) -> None:
        from faster_whisper import WhisperModel
        from faster_whisper.tokenizer import Tokenizer

        self.path = whisper_model_dir(model)
        self.name = model
        self.window_pad_s = window_pad_s
        self.model = run_in_thread(  # nice > 0: its compute threads yield to other models'
            lambda: WhisperModel(
                self.path, device="cpu", compute_type="int8", cpu_threads=threads, num_workers=1
            ),
            nice,
        )
        self.tokenizer = Tokenizer(
            self.model.hf_tokenizer,
            self.model.model.is_multilingual,
            task="transcribe",
            language="en",
        )
        self.prompt = self.model.get_prompt(self.tokenizer, [], without_timestamps=True)
        self.worker = ModelWorker(f"asr-{model}", nice=nice)

    def transcribe(self, audio: np.ndarray, beam_size: int = 1, hotwords: str = "") -> str:
        """Blocking decode of 16 kHz float32 audio; ``hotwords`` (names, titles) bias it."""
        if self.window_pad_s > 0 and audio.size / RATE + self.window_pad_s <= 30:
            return self._short_window(audio, beam_size, hotwords)
        return self._full_window(audio, beam_size, hotwords)

    def transcribe_batch(self, jobs: list[tuple[np.ndarray, int, str]]) -> list[str]:
        """Blocking decode of several ``(audio, beam_size, hotwords)`` at once (other sessions'
        turns): one encoder call over the batch, each padded with silence to the longest plus
        the window pad, and one ``generate`` with each job's own prompt and length bound."""
        longest = max(audio.size for audio, _, _ in jobs) / RATE
        if self.window_pad_s <= 0 or longest + self.window_pad_s > 30:
            return [self.transcribe(*job) for job in jobs]
        prompts = _aligned([self._prompt(hotwords) for _, _, hotwords in jobs], self.tokenizer)
        if len({len(p) for p in prompts}) > 1:  # CTranslate2 wants <|startoftranscript|> aligned
            groups: dict[int, list[int]] = {}
            for i, prompt in enumerate(prompts):
                groups.setdefault(len(prompt), []).append(i)
            out = [""] * len(jobs)
            for rows in groups.values():
                texts = self._batch([jobs[i] for i in rows], [prompts[i] for i in rows])
                for i, text in zip(rows, texts, strict=True):
                    out[i] = text
            return out
        return self._batch(jobs, prompts)

    def _batch(
        self, jobs: list[tuple[np.ndarray, int, str]], prompts: list[list[int]]
    ) -> list[str]:
        """One encoder call and one ``generate`` for jobs whose prompts have one length."""
        if len(jobs) == 1:
            return [self.transcribe(*jobs[0])]
        longest = max(audio.size for audio, _, _ in jobs) / RATE
        import ctranslate2

        size = int((longest + self.window_pad_s) * RATE)
        features = np.stack(
            [
                self.model.feature_extractor(np.pad(audio, (0, size - audio.size)))
                for audio, _, _ in jobs
            ]
        )
        frames = min(3000, features.shape[-1] - features.shape[-1] % 2)
        encoded = self.model.model.encode(
            ctranslate2.StorageView.from_array(
                np.ascontiguousarray(features[:, :, :frames], dtype=np.float32)
            ),
            to_cpu=False,
        )
        bounds = [int(audio.size / RATE * 5) + 6 for audio, _, _ in jobs]
        result = self.model.model.generate(
            encoded,
            prompts,
            beam_size=max(beam for _, beam, _ in jobs),
            max_length=max(len(p) + b for p, b in zip(prompts, bounds, strict=True)),
            suppress_blank=True,
            suppress_tokens=[-1],
            no_repeat_ngram_size=3,
        )
        return [  # each cut to its own length bound, as a lone decode would be
            self.tokenizer.decode(r.sequences_ids[0][:bound]).strip()
            for r, bound in zip(result, bounds, strict=True)
        ]

    def _prompt(self, hotwords: str) -> list[int]:
        """The decoder prompt; hotwords go after <|startofprev|>, as faster-whisper does."""
        if not hotwords.strip():
            return self.prompt
        return self.model.get_prompt(
            self.tokenizer, [], without_timestamps=True, hotwords=hotwords[:MAX_HOTWORD_CHARS]
        )

    def _short_window(self, audio: np.ndarray, beam_size: int, hotwords: str = "") -> str:
        import ctranslate2

        padded = np.concatenate([audio, np.zeros(int(self.window_pad_s * RATE), np.float32)])
        features = self.model.feature_extractor(padded)
        frames = min(3000, features.shape[-1] - features.shape[-1] % 2)
        encoded = self.model.model.encode(
            ctranslate2.StorageView.from_array(
                np.ascontiguousarray(features[None, :, :frames], dtype=np.float32)
            ),
            to_cpu=False,
        )
        prompt = self._prompt(hotwords)
        result = self.model.model.generate(
            encoded,
            [prompt],
            beam_size=beam_size,
            max_length=len(prompt) + int(audio.size / RATE * 5) + 6,
            suppress_blank=True,
            suppress_tokens=[-1],
            no_repeat_ngram_size=3,
        )
        return self.tokenizer.decode(result[0].sequences_ids[0]).strip()

    def _full_window(self, audio: np.ndarray, beam_size: int, hotwords: str = "") -> str:
        """faster-whisper's own path. No-speech filters are off: synthetic and quiet voices
        scored as "no speech" lose whole turns, and the VAD already gates speech."""
        segments, _ = self.model.transcribe(
            audio,
            language="en",
            beam_size=beam_size,
            temperature=0.0,
            without_timestamps=True,
            hotwords=hotwords.strip()[:MAX_HOTWORD_CHARS] or None,
            condition_on_previous_text=False,
            vad_filter=False,
            no_speech_threshold=None,
            log_prob_threshold=None,
            compression_ratio_threshold=None,
        )
        return " ".join(s.text.strip() for s in segments).strip()

    async def decode(
        self, audio: np.ndarray, priority: Priority, beam_size: int = 1, hotwords: str = ""
    ) -> str:
        return await self.worker.run(
            priority, self.transcribe, audio, beam_size, hotwords, batch=self.transcribe_batch
        )


def _aligned(prompts: list[list[int]], tokenizer) -> list[list[int]]:  # noqa: ANN001
    """Hotword prompts (``<|startofprev|>`` names ``<|startoftranscript|>`` …) padded to one
    length with spaces after ``<|startofprev|>``, so that one batch can hold them all; prompts
    without hotwords are left as they are (they batch among themselves)."""
    prev = tokenizer.tokenizer.token_to_id("<|startofprev|>")
    space = tokenizer.encode(" ")
    with_names = [p for p in prompts if p and p[0] == prev]
    if len(with_names) < 2 or len(space) != 1:
        return prompts
    width = max(len(p) for p in with_names)
    return [[p[0], *space * (width - len(p)), *p[1:]] if p and p[0] == prev else p for p in prompts]


def hotword_text(names: Iterable[str]) -> str:
    """Names as one hotword string: disambiguators dropped ("Dune (novel)"), no repeats."""
    seen: dict[str, str] = {}
    for name in names:
        name = " ".join(re.sub(r"\([^)]*\)", " ", name).split())
        if name:
            seen.setdefault(name.lower(), name)
    return ", ".join(seen.values())[:MAX_HOTWORD_CHARS]


@dataclass(frozen=True)
class Partial:
    stable: str
    tail: str
    audio_ms: int  # turn audio covered by this hypothesis (ms since stream start)
    model: str = ""  # the ASR model that decoded it


class StreamingTranscriber:
    """Per-session streaming state over a shared ``WhisperAsr`` (and an optional faster one for
    partials, on its own worker)."""

    def __init__(
        self,
        asr: WhisperAsr,
        on_partial: Callable[[Partial], Awaitable[None]],
        partial_interval_ms: int = 700,
        final_beam_size: int = 1,
        partial_asr: WhisperAsr | None = None,
    ) -> None:
        self.asr = asr
        self.partial_asr = partial_asr or asr
        self._separate = self.partial_asr is not asr  # its partials are never the final
        self._partial_model = getattr(self.partial_asr, "name", "")
        self.on_partial = on_partial
        self.interval = partial_interval_ms * RATE // 1000
        self.final_beam_size = final_beam_size
        self._chunks: list[np.ndarray] = []
        self._samples = 0
        self._start_ms = 0
        self._last_partial_at = 0
        self._partial_task: asyncio.Task | None = None
        self._partial_job: tuple[int, asyncio.Task] | None = None
        self._paused = False
        self._tentative: tuple[int, asyncio.Task] | None = None
        self._agreement = LocalAgreement()
        self._hotwords = ""  # names from the speculative results bias the decodes
        self._partial_hotwords = ""  # what the latest partial decode was biased with
        self.decode_ms: float | None = None  # wall time of the turn's last final-model decode
        self.active = False

    # --- turn lifecycle -------------------------------------------------------------------
    def start_turn(self, preroll: np.ndarray, start_ms: int) -> None:
        self.cancel()
        self._chunks, self._samples = [preroll], preroll.size
        self._start_ms = start_ms
        self._last_partial_at = 0
        self._paused = False
        self._agreement.reset()
        self._hotwords = ""
        self.decode_ms = None
        self.active = True

    def set_hotwords(self, names: Iterable[str]) -> None:
        """Entity names and titles already found for this turn bias the next decodes. A partial
        that covers the speech is reused as the final only if it had the same hotwords."""
        self._hotwords = hotword_text(names)

    def push(self, frame: np.ndarray) -> None:
        if not self.active:
            return
        self._chunks.append(frame)
        self._samples += frame.size
        due = self._samples - self._last_partial_at >= self.interval
        if (
            due
            and not self._paused
            and self._partial_task is None  # one in flight; a tick that finds it busy is skipped
            and self._samples >= MIN_DECODE_SAMPLES
            and not self._final_running()
        ):
            self._last_partial_at = self._samples
            job = asyncio.create_task(
                self.partial_asr.decode(self._snapshot(), Priority.PARTIAL_ASR, 1, self._hotwords)
            )
            self._partial_job, self._partial_hotwords = (self._samples, job), self._hotwords
            self._partial_task = asyncio.create_task(self._partial(job, self._samples))

    def pause(self, speech_end_ms: int) -> None:
        """The VAD heard a short silence: decode what we have as the likely final.

        If a partial decode by the final model already covers all the speech (plus a little
        padding) and was biased with the current hotwords, its result is the final; otherwise a
        new decode by the final model starts at final-ASR priority."""
        if not self.active or self._tentative is not None:
            return
        self._paused = True
        speech_end = (speech_end_ms - self._start_ms) * RATE // 1000 + COVER_PAD
        covered = (
            not self._separate
            and self._partial_job is not None
            and self._partial_job[0] >= speech_end
        )
        if covered and self._partial_hotwords == self._hotwords:  # decoded with the same bias
            self._tentative = self._partial_job
            return
        task = asyncio.create_task(self._decode_final(self._snapshot()))
        self._tentative = (self._samples, task)

    def resume(self) -> None:
        """Speech came back: the tentative final no longer covers the turn."""
        self._paused = False
        if self._tentative is not None:
            if self._partial_job is None or self._tentative[1] is not self._partial_job[1]:
                self._tentative[1].cancel()
            self._tentative = None

    @property
    def tentative(self) -> asyncio.Task | None:
        """The tentative final decode since the last pause, if any (the end-of-turn policy
        reads its text: it covers all the speech so far)."""
        return self._tentative[1] if self._tentative is not None else None

    async def finish(self) -> tuple[str, bool]:
        """Final transcript of the turn; True when the tentative final decode was reused."""
        self.active = False
        tentative, self._tentative = self._tentative, None
        if self._partial_task is not None:
            self._partial_task.cancel()
            self._partial_task = None
        if self._partial_job is not None and (
            tentative is None or tentative[1] is not self._partial_job[1]
        ):
            self._partial_job[1].cancel()
        self._partial_job = None
        if tentative is not None:
            try:
                return await tentative[1], True
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise
        return await self._decode_final(self._snapshot()), False

    def cancel(self) -> None:
        for pair in (self._partial_job, self._tentative):
            if pair is not None:
                pair[1].cancel()
        if self._partial_task is not None:
            self._partial_task.cancel()
        self._partial_task, self._partial_job, self._tentative = None, None, None
        self.active = False

    # --- decoding -------------------------------------------------------------------------
    def _final_running(self) -> bool:
        """A separate partial model stands back while the final model serves a final (any
        session's): on two cores the two would only slow each other down."""
        return self._separate and self.asr.worker.running == Priority.FINAL_ASR

    def _snapshot(self) -> np.ndarray:
        audio = np.concatenate(self._chunks) if len(self._chunks) > 1 else self._chunks[0]
        self._chunks = [audio]
        return audio

    async def _decode_final(self, audio: np.ndarray) -> str:
        if audio.size < MIN_DECODE_SAMPLES:
            audio = np.concatenate([audio, np.zeros(MIN_DECODE_SAMPLES - audio.size, np.float32)])
        t0 = time.perf_counter()
        text = await self.asr.decode(
            audio, Priority.FINAL_ASR, self.final_beam_size, self._hotwords
        )
        self.decode_ms = (time.perf_counter() - t0) * 1000  # queue wait included
        return text

    async def _partial(self, job: asyncio.Task, samples: int) -> None:
        try:
            text = await asyncio.shield(job)
            if not self.active:
                return
            stable, tail = self._agreement.update(text.split())
            await self.on_partial(
                Partial(
                    " ".join(stable),
                    " ".join(tail),
                    self._start_ms + samples * 1000 // RATE,
                    self._partial_model,
                )
            )
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("partial decode failed")
        finally:
            if self._partial_task is asyncio.current_task():
                self._partial_task = None
