"""Client -> server messages: built by the clients, parsed and validated by the server.

Every rejection is a ``ProtocolError`` whose code and message go back to the client as an
``error`` event. The ``*_message`` builders are what the Python clients send.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, ClassVar

SUPPORTED_RATES = (8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000)
SUPPORTED_ENCODINGS = ("pcm16", "pcm_s16le", "s16le")
STRATEGIES = ("final", "fixed-interval", "triggered")


class ProtocolError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class Start:
    type: ClassVar[str] = "start"
    sample_rate: int = 16000
    encoding: str = "pcm16"
    output_sample_rate: int | None = None
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class Text:
    type: ClassVar[str] = "text"
    text: str


@dataclass
class Stop:
    type: ClassVar[str] = "stop"


def start_message(
    sample_rate: int = 16000,
    output_sample_rate: int | None = None,
    options: dict[str, Any] | None = None,
    *,
    encoding: str = "pcm16",
) -> str:
    """The ``start`` frame that opens a session (``output_sample_rate`` None: the server's)."""
    msg: dict[str, Any] = {"type": Start.type, "sample_rate": sample_rate, "encoding": encoding}
    if output_sample_rate is not None:
        msg["output_sample_rate"] = output_sample_rate
    msg["options"] = options or {}
    return json.dumps(msg)


def text_message(text: str) -> str:
    """A typed question (``text`` frame), answered like a spoken turn."""
    return json.dumps({"type": Text.type, "text": text})


def stop_message() -> str:
    """The ``stop`` frame: the server finishes what is open, then closes the session."""
    return json.dumps({"type": Stop.type})


def _rate(value: Any, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value not in SUPPORTED_RATES:
        raise ProtocolError(
            "unsupported_sample_rate",
            f"{what} {value!r} is not supported; use one of {list(SUPPORTED_RATES)}",
        )
    return value


END_OF_TURN_MS = (100, 3000)  # the silence that may end a turn, bounds of the start option
END_OF_TURN_POLICIES = ["semantic", "fixed"]  # end_of_turn_ms alone means fixed
_BOOL_OPTIONS = ("preemptive", "audit", "pace_audio", "asr_bias", "acknowledge")
EVIDENCE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
# options that change what the server measures or searches: only a server started for evaluation
# (Config.eval_mode) takes them; audit doubles search traffic, evidence picks the corpus
EVAL_ONLY_OPTIONS = ("audit", "evidence", "pace_audio")


def parse_options(options: Any, eval_mode: bool = False) -> dict[str, Any]:
    """``start.options`` checked field by field; unknown keys are ignored (newer clients).
    The evaluation-only options are refused unless ``eval_mode``."""
    if not isinstance(options, dict):
        raise ProtocolError("bad_message", "options must be an object")
    out: dict[str, Any] = {}
    strategy = options.get("strategy")
    if strategy is not None:
        if strategy not in STRATEGIES:
            raise ProtocolError("bad_option", f"strategy must be one of {list(STRATEGIES)}")
        out["strategy"] = strategy
    if options.get("end_of_turn_ms") is not None:
        value, (lo, hi) = options["end_of_turn_ms"], END_OF_TURN_MS
        if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
            raise ProtocolError("bad_option", f"end_of_turn_ms must be an integer in [{lo}, {hi}]")
        out["end_of_turn_ms"] = value
    policy = options.get("end_of_turn")  # how silence ends a turn (voice/endpoint.py)
    if policy is not None:
        if policy not in END_OF_TURN_POLICIES:
            raise ProtocolError("bad_option", f"end_of_turn must be one of {END_OF_TURN_POLICIES}")
        out["end_of_turn"] = policy
    for name in _BOOL_OPTIONS:
        if options.get(name) is not None:
            if not isinstance(options[name], bool):
                raise ProtocolError("bad_option", f"{name} must be true or false")
            out[name] = options[name]
    evidence = options.get("evidence")
    if evidence is not None and evidence != "":
        if not isinstance(evidence, str) or not EVIDENCE_ID.fullmatch(evidence):
            raise ProtocolError(
                "bad_option", "evidence must be a question id (letters, digits, _ . -)"
            )
        out["evidence"] = evidence
    query_time = options.get("query_time")
    if query_time is not None and query_time != "":
        if not isinstance(query_time, str) or len(query_time) > 40:
            raise ProtocolError("bad_option", "query_time must be a date string (≤ 40 characters)")
        out["query_time"] = query_time
    seed = options.get("seed")  # the session's own stream of simulated tool latencies
    if seed is not None:
        if isinstance(seed, bool) or not isinstance(seed, (int, str)) or len(str(seed)) > 64:
            raise ProtocolError("bad_option", "seed must be an integer or a string (≤ 64)")
        out["seed"] = str(seed)
    refused = [name for name in EVAL_ONLY_OPTIONS if name in out] if not eval_mode else []
    if refused:
        raise ProtocolError(
            "bad_option", f"{', '.join(refused)}: evaluation-only; this server is not in eval mode"
        )
    return out


def parse_text_message(raw: str, eval_mode: bool = False) -> Start | Text | Stop:
    try:
        return _parse_text_message(raw, eval_mode)
    except RecursionError as exc:  # in json.loads, or in the repr of a deeply nested value
        raise ProtocolError("bad_json", "text frames must not nest this deep") from exc


def _parse_text_message(raw: str, eval_mode: bool) -> Start | Text | Stop:
    try:
        msg = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ProtocolError("bad_json", f"text frames must be JSON objects: {exc.msg}") from exc
    except ValueError as exc:  # an integer literal past Python's 4300-digit conversion limit
        raise ProtocolError(
            "bad_json", "text frames must be JSON objects: number too long"
        ) from exc
    if not isinstance(msg, dict):
        raise ProtocolError("bad_json", "text frames must be JSON objects")
    kind = msg.get("type")
    if kind == Start.type:
        encoding = str(msg.get("encoding", "pcm16")).lower()
        if encoding not in SUPPORTED_ENCODINGS:
            raise ProtocolError(
                "unsupported_encoding", f"encoding {encoding!r} is not supported; send pcm16"
            )
        options = parse_options(msg.get("options") or {}, eval_mode)
        out_rate = msg.get("output_sample_rate")
        return Start(
            sample_rate=_rate(msg.get("sample_rate", 16000), "sample_rate"),
            encoding=encoding,
            output_sample_rate=None if out_rate is None else _rate(out_rate, "output_sample_rate"),
            options=options,
        )
    if kind == Text.type:
        text = msg.get("text")
        if not isinstance(text, str) or not text.strip():
            raise ProtocolError("bad_message", "text needs a non-empty 'text' string")
        if len(text) > 2000:
            raise ProtocolError("too_large", "typed questions are limited to 2000 characters")
        return Text(text.strip())
    if kind == Stop.type:
        return Stop()
    raise ProtocolError("unknown_message", f"unknown message type {kind!r}")
