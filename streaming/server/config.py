"""All settings in one typed place: defaults, then ``STREAMRAG_<FIELD>`` environment variables.

CLI flags (``--field-name``) override both; they are generated from these fields in
``streaming.cli.flags``.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field, fields
from typing import Any, get_type_hints

ENV_PREFIX = "STREAMRAG_"


@dataclass
class Config:
    # --- server
    host: str = field(default="127.0.0.1", metadata={"help": "bind address"})
    port: int = field(default=8765, metadata={"help": "TCP port"})
    max_sessions: int = field(
        default=4,
        metadata={
            "help": "concurrent started sessions; more get server_busy (see docs/decisions.md)"
        },
    )
    max_frame_bytes: int = field(default=64_000, metadata={"help": "largest accepted ws frame"})
    max_audio_rate: float = field(
        default=4.0, metadata={"help": "audio may arrive at most this many x real time"}
    )
    # --- audio / VAD
    vad_threshold: float = field(default=0.5, metadata={"help": "speech probability to start"})
    vad_neg_threshold: float = field(default=0.35, metadata={"help": "probability to stop"})
    end_of_turn_ms: int = field(default=400, metadata={"help": "silence that ends a turn"})
    speech_pad_ms: int = field(default=200, metadata={"help": "audio kept before speech"})
    min_speech_ms: int = field(default=150, metadata={"help": "shorter bursts are ignored"})
    early_final_ms: int = field(
        default=128, metadata={"help": "silence after which a tentative final decode starts"}
    )
    # --- end of turn (semantic endpointing, voice/endpoint.py)
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
    # --- ASR
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
    # --- faster speculation (issue 11): partials from a small model, the final from asr_model
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
    # --- tools
    corpus: str = field(
        default="", metadata={"help": "folder or jsonl of documents (default: bundled)"}
    )
    top_k: int = field(default=3, metadata={"help": "documents passed to the answer"})
    tool_deadline_ms: int = field(default=4000, metadata={"help": "per tool call deadline"})
    hedge_after_ms: int = field(
        default=1000,
        metadata={"help": "a call the answer waits for, out this long, is sent again (0: never)"},
    )
    search_url: str = field(
        default="",
        metadata={"help": "search API base URL; empty: start ours in-process; 'local': no HTTP"},
    )
    search_api: str = field(default="streamrag", metadata={"help": "streamrag | searxng"})
    search_latency: str = field(
        default="lognormal:median=0.8,p90=2.0",
        metadata={
            "help": "latency profile of the in-process search service (none | fixed:S | lognormal:median=S,p90=S)"
        },
    )
    evidence_dir: str = field(
        default="",
        metadata={
            "help": "folder of per-question evidence (<id>.jsonl passages from `audiocrag build`) "
            "that a session selects with the start option `evidence` (CRAG Task 1)"
        },
    )
    kg: bool = field(default=True, metadata={"help": "use the knowledge-graph tool"})
    kg_latency: str = field(
        default="lognormal:median=0.3,p90=0.8",
        metadata={"help": "latency profile of the knowledge graph"},
    )
    mcp_servers: str = field(
        default="",
        metadata={
            "help": "MCP servers whose tools this assistant may call, separated by ';': an "
            "http(s) URL (streamable HTTP) or a command that serves stdio"
        },
    )
    max_parallel_calls: int = field(
        default=4, metadata={"help": "speculative calls in flight per session"}
    )
    seed: int = field(default=0, metadata={"help": "seed of the simulated tool latencies"})
    # --- speculation fan-out and the shared result cache (issue 11; docs/decisions.md)
    fanout: int = field(
        default=2,
        metadata={"help": "names an unfinished last word is completed to and fired (0 = off)"},
    )
    call_budget: int = field(
        default=8, metadata={"help": "speculative tool calls per turn (0 = no bound)"}
    )
    result_cache_ttl_s: float = field(
        default=300.0, metadata={"help": "seconds a tool result is shared across sessions"}
    )
    result_cache_size: int = field(
        default=1024, metadata={"help": "tool results shared across sessions (0 = off)"}
    )
    # --- predictor
    strategy: str = field(
        default="triggered", metadata={"help": "final | fixed-interval | triggered"}
    )
    preemptive_answer: bool = field(
        default=True,
        metadata={"help": "prepare the answer at the first pause when evidence is in hand"},
    )
    # --- answer
    llm_backend: str = field(
        default="extractive",
        metadata={
            "help": "extractive | llama (SmolLM2 via llama.cpp) | openai (any compatible endpoint)"
        },
    )
    llm_model_path: str = field(
        default="",
        metadata={"help": "GGUF path, or smollm2 (default) | qwen-coder-0.5b (the qwen extra)"},
    )
    llm_threads: int = field(default=2, metadata={"help": "llama.cpp threads"})
    llm_prefill: bool = field(
        default=True,
        metadata={"help": "speculative prefill: the prompt prefix into the LLM's cache early"},
    )
    openai_base_url: str = field(
        default="http://127.0.0.1:8000/v1", metadata={"help": "OpenAI-compatible base URL"}
    )
    openai_model: str = field(default="default", metadata={"help": "model name for the endpoint"})
    openai_api_key_env: str = field(
        default="OPENAI_API_KEY", metadata={"help": "env var holding the key"}
    )
    max_answer_tokens: int = field(default=48, metadata={"help": "LLM token budget per answer"})
    min_answer_confidence: float = field(
        default=0.55,
        metadata={"help": "below this answer-fit confidence the answer is I don't know"},
    )
    # --- spoken acknowledgement while a tool is out (issue 11 item 7; docs/decisions.md)
    acknowledge: bool = field(
        default=False,
        metadata={"help": "say a short 'Let me check.' when the evidence is still out"},
    )
    acknowledge_after_ms: int = field(
        default=500,
        metadata={"help": "how long after the final transcript a tool may be out before it"},
    )
    acknowledge_text: str = field(
        default="Let me check.", metadata={"help": "the acknowledgement (synthesized once)"}
    )
    # --- TTS
    tts_length_scale: float = field(
        default=1.0, metadata={"help": "piper speaking rate (<1 faster)"}
    )
    output_sample_rate: int = field(default=16000, metadata={"help": "default answer audio rate"})
    # --- limits, admission and security (issue 12; docs/decisions.md)
    max_turn_s: float = field(
        default=30.0, metadata={"help": "a spoken turn's audio cap: then it ends (0 = no cap)"}
    )
    typed_per_minute: float = field(
        default=20.0, metadata={"help": "typed questions per minute per session (burst: 5)"}
    )
    idle_timeout_s: float = field(
        default=300.0,
        metadata={"help": "close a session that sends nothing for this long (0 = never)"},
    )
    start_timeout_s: float = field(
        default=5.0,
        metadata={
            "help": "close a connection with no accepted start this long after it opened "
            "(start_timeout; 0 = never); only started sessions count toward max_sessions"
        },
    )
    token: str = field(
        default="",
        repr=False,  # never in a log line or a traceback's locals
        metadata={
            "help": "shared secret for /ws and the search service (Authorization: Bearer, or "
            "?token=); empty: open"
        },
    )
    allowed_origins: str = field(
        default="",
        metadata={
            "help": "comma-separated browser Origins allowed on /ws; empty: the server's own "
            "host; '*': any"
        },
    )
    eval_mode: bool = field(
        default=False,
        metadata={"help": "allow the evaluation-only start options (audit, evidence, pace_audio)"},
    )
    # --- scale-out (issue 12 item 8; docs/deploy.md): shared cache in Redis, search in PostgreSQL
    result_cache_url: str = field(
        default="",
        metadata={
            "help": "where the shared tool-result cache lives: '' in-process | "
            "redis://host:6379/0 (shared by every server process on that Redis)"
        },
    )
    search_backend: str = field(
        default="bm25",
        metadata={"help": "index of the in-process search service: bm25 | postgres (pg_dsn)"},
    )
    pg_dsn: str = field(
        default="",
        repr=False,  # may carry a password
        metadata={"help": "PostgreSQL DSN for search_backend=postgres (empty table: loaded)"},
    )
    pg_table: str = field(default="streamrag_docs", metadata={"help": "PostgreSQL table"})
    # --- misc
    log_level: str = field(default="INFO", metadata={"help": "logging level"})
    # --- observability and faults (issue 12): JSON logs; the LLM endpoint's stall deadline
    log_format: str = field(
        default="text",
        metadata={"help": "text | json (one JSON object per line, session/turn ids)"},
    )
    llm_timeout_ms: int = field(
        default=4000,
        metadata={"help": "OpenAI endpoint: longest wait for its first or next streamed chunk"},
    )

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: Any) -> Config:
        """Defaults, then ``STREAMRAG_*`` variables, then explicit overrides."""
        environ = os.environ if environ is None else environ
        hints = get_type_hints(cls)
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = environ.get(ENV_PREFIX + f.name.upper())
            if raw is not None:
                values[f.name] = coerce(hints[f.name], raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def replace(self, **changes: Any) -> Config:
        return dataclasses.replace(self, **changes)


def coerce(kind: Any, raw: str) -> Any:
    """A flag or env value as the field's type; booleans accept 1/true/yes/on (else false)."""
    if kind is bool:
        return raw.lower() in {"1", "true", "yes", "on"}
    return kind(raw)
