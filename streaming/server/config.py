"""All settings in one typed place: defaults, then ``STREAMRAG_<FIELD>`` environment variables.

Settings are grouped per part; each part's defaults are defined once, in the part's own layer
(``voice/settings.py``, ``streaming/rag/settings.py``, ``streaming/answer/settings.py``, the
server's below), and read both here and by the constructors.

CLI flags (``--field-name``) override both; they are generated from these fields in
``streaming.cli.flags``.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field, fields
from typing import Any, get_type_hints

from streaming.answer.settings import AnswerSettings
from streaming.rag.settings import ToolSettings
from voice.settings import AsrSettings, AudioSettings, TtsSettings

ENV_PREFIX = "STREAMRAG_"


@dataclass
class ServerSettings:
    """The server process: address, capacity, frames, logs, the answer prepared early."""

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
    preemptive_answer: bool = field(
        default=True,
        metadata={"help": "prepare the answer at the first pause when evidence is in hand"},
    )
    log_level: str = field(default="INFO", metadata={"help": "logging level"})
    log_format: str = field(
        default="text",
        metadata={"help": "text | json (one JSON object per line, session/turn ids)"},
    )


@dataclass
class SecuritySettings:
    """Limits, admission and security (docs/decisions.md)."""

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


@dataclass
class ScaleOutSettings:
    """Several processes (docs/deploy.md): the shared cache in Redis, search in PostgreSQL."""

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


@dataclass
class Config(
    ScaleOutSettings,
    SecuritySettings,
    TtsSettings,
    AnswerSettings,
    ToolSettings,
    AsrSettings,
    AudioSettings,
    ServerSettings,
):
    """Every setting, flat (``config.port``, ``--port``, ``STREAMRAG_PORT``), part by part."""

    PARTS = (
        ServerSettings,
        AudioSettings,
        AsrSettings,
        ToolSettings,
        AnswerSettings,
        TtsSettings,
        SecuritySettings,
        ScaleOutSettings,
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
