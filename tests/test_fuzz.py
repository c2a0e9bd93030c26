"""Property-based fuzzing of the websocket protocol against the real server on 127.0.0.1.

Hypothesis generates sequences of frames, valid and hostile (JSON of the wrong shape or types,
NaN, Infinity, numbers past Python's digit limit, deep nesting, unknown types, odd-length and
oversize PCM, audio before start, start twice, stop and then more). An oracle that knows
docs/protocol.md's error table says which ``error`` code each frame must get, and the frames'
errors must come back in order. Throughout, the server must log no error (no traceback), and
afterwards a well-formed session on the same server still answers a typed question.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from functools import cache

import pytest
import websockets
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streaming.protocol import END_OF_TURN_MS, STRATEGIES, SUPPORTED_ENCODINGS, SUPPORTED_RATES
from streaming.server.app import SESSIONS

MAX_FRAME = 64_000  # Config.max_frame_bytes, the server fixture's default
MAX_EXAMPLES = 120  # ~40 s on a busy 2-core box
STATS = {"frames": 0, "sequences": 0, "errors": 0}


@dataclass(frozen=True)
class Frame:
    payload: str | bytes
    codes: frozenset[str]  # the error codes it may get; empty: none
    optional: bool = False  # the error may be absent (throttled, at most one per second)
    kind: str = ""


def expect(payload: str | bytes, *codes: str, optional: bool = False, kind: str = "") -> Frame:
    return Frame(payload, frozenset(codes), optional, kind)


# --- values ----------------------------------------------------------------------------------
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)


def dumps(obj: object) -> str:
    return json.dumps(obj)  # NaN and Infinity go out as the literals the server's json reads


def not_object(raw: str) -> bool:
    try:
        return not isinstance(json.loads(raw), dict)
    except ValueError:
        return True


# --- stateless hostile text frames -------------------------------------------------------------
not_json = st.text(max_size=200).filter(not_object).map(lambda t: expect(t, "bad_json"))
json_non_object = (scalars | st.lists(values, max_size=4)).map(
    lambda v: expect(dumps(v), "bad_json")
)


@st.composite
def deep(draw) -> Frame:
    n = draw(st.integers(min_value=200, max_value=40_000))
    inner = "[" * n + "]" * n
    where = draw(st.sampled_from(["bare", "type", "encoding", "sample_rate", "text"]))
    if where == "bare":
        raw, parsed = inner, "bad_json"
    elif where == "text":
        raw, parsed = dumps({"type": "text", "text": 0})[:-2] + inner + "}", "bad_message"
    elif where == "type":
        raw, parsed = '{"type": ' + inner + "}", "unknown_message"
    else:
        code = "unsupported_encoding" if where == "encoding" else "unsupported_sample_rate"
        raw, parsed = '{"type": "start", "' + where + '": ' + inner + "}", code
    if len(raw) > MAX_FRAME:
        return expect(raw, "frame_too_large", kind="deep")
    return expect(raw, "bad_json", parsed, kind="deep")  # too deep for the stack, or parsed


@st.composite
def huge_number(draw) -> Frame:
    digits = draw(st.integers(min_value=4000, max_value=8000))
    raw = '{"type": "start", "sample_rate": ' + "9" * digits + "}"
    return expect(raw, "bad_json" if digits > 4300 else "unsupported_sample_rate", kind="huge")


unknown_type = st.builds(
    lambda kind, extra: expect(dumps({**extra, "type": kind}), "unknown_message"),
    values.filter(lambda v: v not in ("start", "text", "stop")),
    st.dictionaries(st.text(max_size=6), values, max_size=3),
)
bad_text = values.filter(lambda v: not isinstance(v, str) or not v.strip()).map(
    lambda v: expect(dumps({"type": "text", "text": v}), "bad_message")
)
long_text = st.integers(min_value=2001, max_value=10_000).map(
    lambda n: expect(dumps({"type": "text", "text": "why " * (n // 4 + 1)}), "too_large")
)
oversize_text = st.integers(min_value=MAX_FRAME + 1, max_value=3 * MAX_FRAME).map(
    lambda n: expect(dumps({"type": "text", "text": "a" * n}), "frame_too_large")
)


def _bad_rate(v: object) -> bool:
    return isinstance(v, bool) or not isinstance(v, int) or v not in SUPPORTED_RATES


def _bad_eot(v: object) -> bool:
    lo, hi = END_OF_TURN_MS
    return v is not None and (isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi)


def start(**fields) -> str:
    return dumps({"type": "start", "sample_rate": 16000, **fields})


bad_start = st.one_of(
    values.filter(_bad_rate).map(lambda v: expect(start(sample_rate=v), "unsupported_sample_rate")),
    values.filter(lambda v: v is not None and _bad_rate(v)).map(
        lambda v: expect(start(output_sample_rate=v), "unsupported_sample_rate")
    ),
    values.filter(lambda v: str(v).lower() not in SUPPORTED_ENCODINGS).map(
        lambda v: expect(start(encoding=v), "unsupported_encoding")
    ),
    values.filter(lambda v: bool(v) and not isinstance(v, dict)).map(
        lambda v: expect(start(options=v), "bad_message")
    ),
    values.filter(_bad_eot).map(
        lambda v: expect(start(options={"end_of_turn_ms": v}), "bad_option")
    ),
    values.filter(lambda v: v is not None and v not in STRATEGIES).map(
        lambda v: expect(start(options={"strategy": v}), "bad_option")
    ),
    values.filter(lambda v: v is not None and not isinstance(v, bool)).map(
        lambda v: expect(start(options={"preemptive": v}), "bad_option")
    ),
)
stateless = st.one_of(
    not_json,
    json_non_object,
    deep(),
    huge_number(),
    unknown_type,
    bad_text,
    long_text,
    oversize_text,
    bad_start,
)
# audio: byte counts (odd, even, oversize); the samples are silence, so no turn starts
audio_sizes = st.one_of(
    st.integers(min_value=1, max_value=2001).filter(lambda n: n % 2 == 1),
    st.integers(min_value=1, max_value=640).map(lambda n: 2 * n),
    st.integers(min_value=MAX_FRAME + 1, max_value=4 * MAX_FRAME),
)


@st.composite
def sequences(draw) -> tuple[list[Frame], bool]:
    """Frames in the order they are sent (the oracle follows the session's state), and whether
    the sequence ends with ``stop`` (then a few more frames that may never arrive)."""
    started, frames = False, []
    for _ in range(draw(st.integers(min_value=1, max_value=12))):
        choice = draw(st.sampled_from(["hostile"] * 6 + ["start", "text", "audio", "audio"]))
        if choice == "hostile":
            frames.append(draw(stateless))
        elif choice == "start":
            frames.append(expect(start(), *(["already_started"] if started else []), kind="start"))
            started = True
        elif choice == "text" and not started:  # a valid question, too early
            frames.append(expect(dumps({"type": "text", "text": "hello?"}), "not_started"))
        elif choice == "audio":
            n = draw(audio_sizes)
            data = bytes(n)
            if not started:  # throttled: at most one not_started per second
                frames.append(expect(data, "not_started", optional=True, kind="audio"))
            elif n > MAX_FRAME:
                frames.append(expect(data, "frame_too_large", kind="audio"))
            elif n % 2:
                frames.append(expect(data, "bad_audio", kind="audio"))
            else:
                frames.append(expect(data, "rate_limited", optional=True, kind="audio"))
    return frames, draw(st.booleans()) and draw(st.booleans())


def matches(expected: list[Frame], got: list[str]) -> bool:
    """Do the error codes ``got`` come, in order, one from each frame (optional ones may be
    missing, frames without codes give none)?"""

    @cache
    def ok(i: int, j: int) -> bool:
        if i == len(expected):
            return j == len(got)
        frame = expected[i]
        if not frame.codes:
            return ok(i + 1, j)
        if j < len(got) and got[j] in frame.codes and ok(i + 1, j + 1):
            return True
        return frame.optional and ok(i + 1, j)

    return ok(0, 0)


class ServerErrors(logging.Handler):
    """Every ERROR record (a traceback, an unretrieved task exception) logged while fuzzing."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(scope="module")
def server_errors():
    handler = ServerErrors()
    logging.getLogger().addHandler(handler)
    yield handler
    logging.getLogger().removeHandler(handler)


async def collect_errors(ws, marker: str | None, timeout: float = 20.0) -> tuple[list[str], bool]:
    """Error codes until the barrier's error (``marker``) or until the server closes."""
    codes = []
    try:
        while True:
            raw = await asyncio.wait_for(ws.recv(), timeout)
            if isinstance(raw, bytes):
                continue
            event = json.loads(raw)
            if event["type"] != "error":
                continue
            if marker is not None and marker in event["message"]:
                return codes, False
            codes.append(event["code"])
    except websockets.ConnectionClosed:
        return codes, True


@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(case=sequences())
async def test_hostile_frames_get_their_documented_errors(server, server_errors, case):
    frames, stop = case
    marker = f"fuzz-barrier-{STATS['sequences']}"
    async with websockets.connect(server.ws_url, max_size=8 << 20) as ws:
        for frame in frames:
            await ws.send(frame.payload)
        if stop:
            await ws.send(dumps({"type": "stop"}))
            for frame in frames[:3]:  # after stop: ignored, or refused by a closed socket
                try:
                    await ws.send(frame.payload)
                except websockets.ConnectionClosed:
                    break
        else:
            await ws.send(dumps({"type": marker}))  # answered with unknown_message: a barrier
        got, closed = await collect_errors(ws, None if stop else marker)
    STATS["frames"] += len(frames) + 1
    STATS["sequences"] += 1
    STATS["errors"] += len(got)
    assert closed == stop, (got, [f.kind for f in frames])
    assert matches(frames, got), (got, [(sorted(f.codes), f.optional, f.kind) for f in frames])
    assert not server_errors.records, server_errors.records[0].getMessage()
    assert await server.runner.app[SESSIONS].wait_for_count(0, 10) == 0


async def test_after_fuzzing_a_well_formed_session_still_answers(server, server_errors):
    from streaming.client.connection import VoiceClient

    print(
        f"\nfuzz: {STATS['frames']} frames in {STATS['sequences']} sequences, "
        f"{STATS['errors']} error events"
    )
    assert STATS["sequences"] >= 1, "run with test_hostile_frames_get_their_documented_errors"
    async with VoiceClient(server.ws_url) as client:
        log = await client.ask_text("what is the capital of austria", timeout=60)
    assert "vienna" in log.first("answer_done")["text"].lower()
    assert not server_errors.records, server_errors.records[0].getMessage()


def test_the_oracle_matches_in_order_and_allows_only_optional_gaps():
    a, b = expect("", "bad_json"), expect("", "not_started", optional=True)
    assert matches([a, b, a], ["bad_json", "bad_json"])
    assert matches([b, expect("", "not_started")], ["not_started"])
    assert not matches([a, a], ["bad_json"])
    assert not matches([a], ["bad_json", "bad_audio"])


async def test_a_number_past_the_digit_limit_is_bad_json_not_a_dead_session(server):
    """Found by the fuzzer: json.loads raised ValueError (not JSONDecodeError) for an integer
    literal over Python's 4300-digit limit, and the session died with a traceback."""
    async with websockets.connect(server.ws_url, max_size=8 << 20) as ws:
        await ws.send('{"type": "start", "sample_rate": ' + "9" * 5000 + "}")
        await ws.send(dumps({"type": "fuzz-barrier-digits"}))
        got, closed = await collect_errors(ws, "fuzz-barrier-digits")
    assert got == ["bad_json"] and not closed
