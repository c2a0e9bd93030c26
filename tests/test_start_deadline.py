"""Unstarted connections hold no session slot: a connection with no accepted ``start`` within
``start_timeout_s`` is closed with ``start_timeout``, and ``max_sessions`` counts only started
sessions (server_busy at connect when full, else at ``start``)."""

from __future__ import annotations

import argparse
import asyncio
import json

import websockets

from streaming.cli.flags import add_config_flags, config_from_args
from streaming.server.app import SESSIONS
from streaming.server.config import Config
from tests.test_bad_input import next_event, raw_session, start, still_answers, wait_sessions
from tests.test_security import serving

BAD_START = {"type": "start", "sample_rate": 16000, "options": {"end_of_turn_ms": "abc"}}


async def closed_with(ws, code: int, timeout: float = 30) -> int:
    """Wait for the server's close; its close code must be ``code``."""
    await asyncio.wait_for(ws.wait_closed(), timeout)
    assert ws.close_code == code, (ws.close_code, ws.close_reason)
    return ws.close_code


def test_start_timeout_is_a_setting():
    assert Config().start_timeout_s == 5.0
    assert Config.from_env({"STREAMRAG_START_TIMEOUT_S": "2.5"}).start_timeout_s == 2.5
    parser = argparse.ArgumentParser()
    add_config_flags(parser, {"start_timeout_s"})
    assert config_from_args(parser.parse_args(["--start-timeout-s", "0"])).start_timeout_s == 0


async def test_a_connection_that_never_starts_is_closed_with_start_timeout(engine):
    """Short enough to wait for, long enough for a client that starts at once (the only wall
    time here: the first client's start must arrive within it)."""
    async with serving(engine, start_timeout_s=2.0) as srv:
        started = await raw_session(srv)
        await start(started)
        silent = await raw_session(srv)  # opened after the other's start: its deadline is later
        error = await next_event(silent, "error", 30)
        assert error["code"] == "start_timeout" and "start" in error["message"]
        await closed_with(silent, 1008)  # policy violation
        junk = await raw_session(srv)  # a client sending only refused starts meets it too
        await junk.send(json.dumps(BAD_START))
        assert (await next_event(junk, "error", 30))["code"] == "bad_option"
        assert (await next_event(junk, "error", 30))["code"] == "start_timeout"
        await closed_with(junk, 1008)
        await still_answers(started)  # past the deadline, but started: no start timeout
        await started.close()
        assert await wait_sessions(srv, 0) == 0


async def test_unstarted_connections_do_not_keep_a_real_client_out(engine):
    """Three unstarted connections on a server of two sessions (no start deadline at all, so
    only the count decides): a real client still starts and is answered."""
    async with serving(engine, max_sessions=2, start_timeout_s=0) as srv:
        idle = [await raw_session(srv) for _ in range(2)]
        refused = await raw_session(srv)
        await refused.send(json.dumps(BAD_START))
        assert (await next_event(refused, "error", 30))["code"] == "bad_option"
        assert await wait_sessions(srv, 3) == 3  # all three open, none started
        async with websockets.connect(srv.ws_url) as real:
            ready = await start(real)
            assert ready["session_id"]
            await still_answers(real)
            registry = srv.runner.app[SESSIONS]
            assert (len(registry), registry.started) == (4, 1)
        for ws in (*idle, refused):
            await ws.close()
        assert await wait_sessions(srv, 0) == 0


async def test_started_sessions_still_count_against_the_limit(engine):
    async with serving(engine, max_sessions=2, start_timeout_s=60) as srv:
        late = await raw_session(srv)  # connected while there was room; starts when full
        first, second = await raw_session(srv), await raw_session(srv)
        await start(first), await start(second)
        await late.send(json.dumps({"type": "start", "sample_rate": 16000}))
        error = await next_event(late, "error", 30)
        assert error["code"] == "server_busy" and "try again" in error["message"]
        await closed_with(late, 1013)  # try again later
        third = await raw_session(srv)  # the server is full already: refused at connect
        assert (await next_event(third, "error", 30))["code"] == "server_busy"
        await closed_with(third, 1013)
        await first.close()
        assert await wait_sessions(srv, 1) == 1
        async with websockets.connect(srv.ws_url) as again:  # the slot came free
            await start(again)
        await second.close()


async def test_two_starts_for_the_last_slot_admit_exactly_one(engine):
    async with serving(engine, max_sessions=1, start_timeout_s=60) as srv:
        a, b = await raw_session(srv), await raw_session(srv)
        msg = json.dumps({"type": "start", "sample_rate": 16000})
        await asyncio.gather(a.send(msg), b.send(msg))
        first = await asyncio.gather(*(first_reply(ws) for ws in (a, b)))
        assert sorted(first) == ["ready", "server_busy"], first
        for ws in (a, b):
            await ws.close()
        assert await wait_sessions(srv, 0) == 0


async def first_reply(ws) -> str:
    """The first event's type, or an error's code."""
    event = json.loads(await asyncio.wait_for(ws.recv(), 30))
    return event["code"] if event["type"] == "error" else event["type"]
