"""Whisper on CTranslate2 (faster-whisper): the ``Asr`` the server loads, tiny.en or base.

Greedy English decoding, a short encoder window, several sessions' decodes batched into one model
call, names as hotwords, word timestamps for the eval; all on the model's own worker thread.
"""

from __future__ import annotations

import numpy as np

from voice.settings import AsrSettings

from .interfaces import MAX_HOTWORD_CHARS, AsrCapabilities, TimedWord
from .model_files import whisper_model_dir
from .workers import ModelWorker, Priority, run_in_thread

RATE = 16_000


class WhisperAsr:
    """A CTranslate2 Whisper model loaded from a local folder, English, greedy by default.

    Whisper pads every input to a 30 s window, so a 2 s question costs a full 30 s encode.
    With ``window_pad_s`` > 0 the encoder sees only the audio plus that much silence (CTranslate2
    accepts shorter inputs; whisper.cpp calls this ``audio_ctx``), with the output length bounded
    and n-gram repeats blocked, which stops the loops a short window can otherwise cause.
    Measured here (38 piper/espeak questions, base): 0.33 s per decode and 15.8 % WER with a 5 s
    pad, against 1.33 s and 17.6 % for the full window. See docs/decisions.md.
    """

    capabilities = AsrCapabilities(hotwords=True, word_timestamps=True, batching=True)

    def __init__(
        self,
        model: str = AsrSettings.asr_model,
        threads: int = AsrSettings.asr_threads,
        window_pad_s: float = AsrSettings.asr_window_pad_s,
        nice: int = 0,
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

    @property
    def busy(self) -> Priority | None:
        running = self.worker.running
        return None if running is None else Priority(running)

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

    def words(self, audio: np.ndarray) -> list[TimedWord]:
        """faster-whisper's word timestamps (greedy, the whole window, no-speech filters off)."""
        segments, _ = self.model.transcribe(
            audio,
            language="en",
            beam_size=1,
            temperature=0.0,
            word_timestamps=True,
            condition_on_previous_text=False,
            vad_filter=False,
            no_speech_threshold=None,
            log_prob_threshold=None,
            compression_ratio_threshold=None,
        )
        return [
            TimedWord(w.word.strip(), round(w.start * 1000), round(w.end * 1000))
            for s in segments
            for w in (s.words or [])
        ]


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
