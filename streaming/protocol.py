"""Client -> server messages: built by the clients, parsed and validated by the server.

Every rejection is a ``ProtocolError`` whose code and message go back to the client as an
``error`` event. The ``*_message`` builders are what the Python clients send.
"""

from __future__ import annotations

import json
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


def parse_text_message(raw: str) -> Start | Text | Stop:
    try:
        msg = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ProtocolError("bad_json", f"text frames must be JSON objects: {exc.msg}") from exc
    if not isinstance(msg, dict):
        raise ProtocolError("bad_json", "text frames must be JSON objects")
    kind = msg.get("type")
    if kind == Start.type:
        encoding = str(msg.get("encoding", "pcm16")).lower()
        if encoding not in SUPPORTED_ENCODINGS:
            raise ProtocolError(
                "unsupported_encoding", f"encoding {encoding!r} is not supported; send pcm16"
            )
        options = msg.get("options") or {}
        if not isinstance(options, dict):
            raise ProtocolError("bad_message", "options must be an object")
        strategy = options.get("strategy")
        if strategy is not None and strategy not in STRATEGIES:
            raise ProtocolError("bad_option", f"strategy must be one of {list(STRATEGIES)}")
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
