"""Settings of the voice parts: audio in and the VAD, speech recognition, speech out.

Each part's defaults are defined here once: ``streaming.server.config.Config`` (every flag and
``STREAMRAG_*`` variable) is made of these parts, and constructors take their defaults from them.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class AudioSettings:
    """Audio in: the VAD, the turn detector and when silence ends a turn."""

    vad_threshold: float = field(default=0.5, metadata={"help": "speech probability to start"})
    vad_neg_threshold: float = field(default=0.35, metadata={"help": "probability to stop"})
    end_of_turn_ms: int = field(default=400, metadata={"help": "silence that ends a turn"})
    speech_pad_ms: int = field(default=200, metadata={"help": "audio kept before speech"})
    min_speech_ms: int = field(default=150, metadata={"help": "shorter bursts are ignored"})
    early_final_ms: int = field(
        default=128, metadata={"help": "silence after which a tentative final decode starts"}
    )
    end_of_turn: str = field(
        default="semantic",
        metadata={
            "help": "semantic (transcript completeness + Smart Turn v3 decide) | fixed "
            "(end_of_turn_ms of silence); the start option end_of_turn_ms forces fixed"
        },
    )
    eot_min_ms: int = field(default=200, metadata={"help": "semantic: least silence that ends"})
    eot_max_ms: int = field(default=1200, metadata={"help": "semantic: most silence before end"})
    eot_hold_for_text: bool = field(
        default=True,
        metadata={"help": "semantic: no verdict while the tentative final is being decoded"},
    )
    smart_turn: bool = field(
        default=True, metadata={"help": "semantic: use Smart Turn v3 when pipecat-ai is installed"}
    )


@dataclass
class AsrSettings:
    """Speech recognition: the final model, the partials' model, their windows and threads."""

    asr_model: str = field(
        default="base", metadata={"help": "tiny.en | base | path to a CTranslate2 folder"}
    )
    asr_window_pad_s: float = field(
        default=5.0,
        metadata={"help": "encode audio + this much silence, not a 30 s window (0 = full window)"},
    )
    asr_threads: int = field(default=2, metadata={"help": "CTranslate2 CPU threads"})
    partial_interval_ms: int = field(default=320, metadata={"help": "audio between partials"})
    final_beam_size: int = field(default=1, metadata={"help": "beam size of the final decode"})
    partial_asr_model: str = field(
        default="tiny.en",
        metadata={"help": "partial model: tiny.en | base | folder; '' or 'same' = asr_model"},
    )
    partial_window_pad_s: float = field(
        default=2.0, metadata={"help": "silence after the audio in a partial model's window"}
    )
    partial_asr_nice: int = field(
        default=10,
        metadata={
            "help": "nice of the partial model's threads: speculation yields the CPU to finals"
        },
    )


@dataclass
class TtsSettings:
    """Speech out."""

    tts_length_scale: float = field(
        default=1.0, metadata={"help": "piper speaking rate (<1 faster)"}
    )
    output_sample_rate: int = field(default=16000, metadata={"help": "default answer audio rate"})
