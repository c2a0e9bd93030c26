"""Scale-out on real engines (docs/deploy.md): two ``streamrag serve`` processes behind nginx,
the shared result cache in Redis, full-text search in PostgreSQL.

Every service is started here from its Debian binary on 127.0.0.1, on a free port, with its data
in a temporary folder, and stopped at teardown; a test whose binary is absent is skipped. The two
server processes are started once for the module (about 10 s each) and use whichever of Redis and
PostgreSQL are installed.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from streaming.client.connection import VoiceClient

ROOT = Path(__file__).resolve().parents[1]
DEPLOY_MD = ROOT / "docs" / "deploy.md"
TOOL_LATENCY_S = 0.3  # every tool call takes this long, unless it is answered from the cache
QUESTIONS = {  # typed question -> a word its answer must hold
    "what is the capital of austria": "Vienna",
    "who wrote the play hamlet": "Shakespeare",
    "what is the capital of france": "Paris",
    "what is the capital of japan": "Tokyo",
}
pytestmark = pytest.mark.slow


# --- processes -------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen, log: Path, timeout_s: float = 60) -> None:
    """Until something accepts on the port (bounded); fails early if the process died."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"{proc.args[0]} exited {proc.returncode}:\n{tail(log)}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(0.05)  # a short pause that also notices an exit
    pytest.fail(f"nothing listening on {port} after {timeout_s} s:\n{tail(log)}")


def tail(log: Path, n: int = 30) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-n:]) if log.exists() else ""


def start(cmd: list[str], log: Path, **kw) -> subprocess.Popen:
    return subprocess.Popen(cmd, stdout=log.open("wb"), stderr=subprocess.STDOUT, **kw)


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


# --- services --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def redis_url(tmp_path_factory) -> Iterator[str | None]:
    """A redis-server of our own, nothing persisted; None when it is not installed."""
    exe = shutil.which("redis-server")
    if exe is None:
        yield None
        return
    tmp, port = tmp_path_factory.mktemp("redis"), free_port()
    cmd = [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    proc = start([*cmd, "--dir", str(tmp)], tmp / "redis.log")
    try:
        wait_port(port, proc, tmp / "redis.log", 20)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        stop(proc)


def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))  # Debian keeps them off PATH
    exe = found[-1] if found else shutil.which("initdb")
    return Path(exe).resolve().parent if exe else None


@pytest.fixture(scope="module")
def pg_dsn(tmp_path_factory) -> Iterator[str | None]:
    """A PostgreSQL cluster of our own (initdb, trust auth, no fsync); None when not installed.
    PostgreSQL refuses to run as root: then it runs as the ``postgres`` user."""
    bin_dir = _pg_bin()
    if bin_dir is None:
        yield None
        return
    user: dict = {}
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            yield None
            return
        user = {"user": owner.pw_uid, "group": owner.pw_gid, "extra_groups": []}
    # not under pytest's tmp root: that is private to us, and the server may be another user
    tmp, port = Path(tempfile.mkdtemp(prefix="streamrag-pg-")), free_port()
    if user:
        os.chown(tmp, user["user"], user["group"])
    data, log, proc = tmp / "data", tmp / "pg.log", None
    try:
        init = [str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"]
        done = subprocess.run([*init, "--no-sync", "-E", "UTF8"], capture_output=True, **user)
        assert done.returncode == 0, done.stderr.decode(errors="replace")
        cmd = [str(bin_dir / "postgres"), "-D", str(data), "-p", str(port), "-k", str(tmp)]
        cmd += ["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"]
        proc = start(cmd, log, **user)
        wait_port(port, proc, log, 30)
        dsn = f"host=127.0.0.1 port={port} user=postgres dbname=postgres connect_timeout=5"
        _wait_pg_accepts(dsn, proc, log)
        yield dsn
    finally:
        if proc is not None:
            stop(proc, signal.SIGINT)  # "fast" shutdown
        shutil.rmtree(tmp, ignore_errors=True)


def _wait_pg_accepts(dsn: str, proc: subprocess.Popen, log: Path) -> None:
    """The port opens before recovery ends ("the database system is starting up")."""
    import psycopg

    for _ in range(100):
        try:
            psycopg.connect(dsn).close()
            return
        except psycopg.OperationalError:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(0.1)
    pytest.fail(f"PostgreSQL never accepted a connection:\n{tail(log)}")


class Backends:
    def __init__(self, ports: list[int], redis: str | None, pg: str | None) -> None:
        self.ports, self.redis, self.pg = ports, redis, pg
        self.http = [f"http://127.0.0.1:{p}" for p in ports]
        self.ws = [f"ws://127.0.0.1:{p}/ws" for p in ports]


@pytest.fixture(scope="module")
def servers(tmp_path_factory, redis_url, pg_dsn) -> Iterator[Backends]:
    """Two ``streamrag serve`` processes sharing the Redis cache and the PostgreSQL search."""
    tmp = tmp_path_factory.mktemp("servers")
    ports = [free_port(), free_port()]
    flags = ["--asr-model", "tiny.en", "--partial-asr-model", "same", "--seed", "1"]
    flags += [
        "--search-latency",
        f"fixed:{TOOL_LATENCY_S}",
        "--kg-latency",
        f"fixed:{TOOL_LATENCY_S}",
    ]
    if redis_url:
        flags += ["--result-cache-url", redis_url]
    if pg_dsn:
        flags += ["--search-backend", "postgres", "--pg-dsn", pg_dsn]
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMRAG_")}
    env["STREAMRAG_EVAL_MODE"] = "true"  # lets a test skip real-time audio pacing (pace_audio)
    procs = []
    try:
        for port in ports:  # both load their models at once
            cmd = [sys.executable, "-m", "streaming.cli.main", "serve", "--port", str(port)]
            procs.append(start([*cmd, *flags], tmp / f"serve-{port}.log", cwd=ROOT, env=env))
        for port, proc in zip(ports, procs, strict=True):
            wait_port(port, proc, tmp / f"serve-{port}.log", 120)
        yield Backends(ports, redis_url, pg_dsn)
    finally:  # both clean shutdowns: SIGTERM (docker stop, kill) for one, Ctrl-C for the rest
        for i, proc in enumerate(procs):
            stop(proc, signal.SIGTERM if i == 0 else signal.SIGINT)
        codes = [proc.returncode for proc in procs]
        assert codes == [0] * len(procs), f"unclean exits {codes}"
        assert "SIGTERM: shutting down" in (tmp / f"serve-{ports[0]}.log").read_text()
        for port in ports[1:]:  # Ctrl-C takes the same path as SIGTERM, not KeyboardInterrupt
            assert "SIGINT: shutting down" in (tmp / f"serve-{port}.log").read_text()


def nginx_conf(backends: list[int], listen: int, prefix: Path) -> str:
    """docs/deploy.md's nginx block with these ports, in a main config of its own."""
    block = re.search(r"```nginx\n(.*?)```", DEPLOY_MD.read_text(), re.S)
    assert block, "docs/deploy.md has no nginx block"
    site = block.group(1).replace("listen 80;", f"listen 127.0.0.1:{listen};")
    servers = iter(backends)
    site = re.sub(r"server 127\.0\.0\.1:\d+;", lambda _: f"server 127.0.0.1:{next(servers)};", site)
    assert next(servers, None) is None, "the upstream must name every backend"
    temp = "".join(
        f"    {kind}_temp_path {prefix / kind};\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return (
        f"daemon off;\nworker_processes 1;\npid {prefix / 'nginx.pid'};\n"
        f"error_log {prefix / 'error.log'} notice;\n"
        f"events {{ worker_connections 256; }}\n"
        f"http {{\n    access_log {prefix / 'access.log'};\n{temp}{site}}}\n"
    )


@pytest.fixture(scope="module")
def nginx_url(request, tmp_path_factory) -> Iterator[str]:
    exe = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")
    if exe is None:
        pytest.skip("nginx is not installed")
    backends: Backends = request.getfixturevalue("servers")
    tmp, port = tmp_path_factory.mktemp("nginx"), free_port()
    conf = tmp / "nginx.conf"
    conf.write_text(nginx_conf(backends.ports, port, tmp))
    check = subprocess.run([exe, "-t", "-c", str(conf), "-p", str(tmp)], capture_output=True)
    assert check.returncode == 0, check.stderr.decode()
    proc = start([exe, "-c", str(conf), "-p", str(tmp)], tmp / "stdout.log")
    try:
        wait_port(port, proc, tmp / "error.log", 20)
        yield f"ws://127.0.0.1:{port}/ws"
    finally:
        stop(proc, signal.SIGQUIT)  # graceful


async def healthz(url: str) -> dict:
    async with aiohttp.ClientSession() as http, http.get(f"{url}/healthz") as resp:
        return await resp.json()


def search_results(log) -> list[dict]:
    return [e for e in log.of("tool_result") if e["tool"] == "search"]


# --- nginx -----------------------------------------------------------------------------------
async def test_sessions_through_nginx_spread_over_both_processes_and_are_answered(
    nginx_url, servers
):
    async with contextlib.AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(VoiceClient(nginx_url, options={"strategy": "final"}))
            for _ in QUESTIONS
        ]
        health = [await healthz(url) for url in servers.http]
        assert len({h["server_id"] for h in health}) == 2  # two processes
        counts = [h["sessions"] for h in health]
        assert sum(counts) == len(QUESTIONS) and min(counts) >= 1, counts  # least_conn: 2 + 2
        logs = await asyncio.gather(
            *(c.ask_text(q, 60) for c, q in zip(clients, QUESTIONS, strict=True))
        )
    for (question, word), log in zip(QUESTIONS.items(), logs, strict=True):
        metrics = log.first("turn_metrics")["metrics"]
        assert word in metrics["answer"], (question, metrics["answer"])
        assert log.answer_audio.size > 0  # the answer's audio came back through nginx
        assert all(e["results"] for e in search_results(log)), question
    if servers.pg:
        assert {h["search_backend"] for h in health} == {"postgres"}


# --- Redis -----------------------------------------------------------------------------------
async def test_a_question_answered_in_one_process_is_a_cache_hit_in_the_other(servers):
    if not servers.redis:
        pytest.skip("redis-server is not installed")
    question = "what is the capital of australia"
    before = (await healthz(servers.http[1]))["result_cache"]["entries"]
    options = {"strategy": "final", "pace_audio": False}  # the cache is the point here
    async with VoiceClient(servers.ws[0], options=options) as first:
        one = await first.ask_text(question, 60)
    stored = [e for e in one.of("tool_result") if not e["error"]]
    assert stored and all(e["elapsed_ms"] >= TOOL_LATENCY_S * 1000 for e in stored)
    for _ in range(200):  # published to the other process (a few ms); bounded poll
        health = await healthz(servers.http[1])
        if health["result_cache"]["entries"] >= before + len(stored):
            break
        await asyncio.sleep(0.05)
    assert health["result_cache"] == {"shared": "redis", "entries": before + len(stored)}
    async with VoiceClient(servers.ws[1], options=options) as second:
        two = await second.ask_text(question, 60)
    # the same calls, all answered from the shared cache: no tool wait at all
    assert sorted(e["tool"] for e in two.of("tool_result")) == sorted(e["tool"] for e in stored)
    assert [e["elapsed_ms"] for e in two.of("tool_result")] == [0.0] * len(stored)
    first_answer = one.first("turn_metrics")["metrics"]["answer"]
    assert "Canberra" in first_answer
    metrics = two.first("turn_metrics")["metrics"]
    assert metrics["answer"] == first_answer
    assert one.first("turn_metrics")["metrics"]["tool_wait_ms"] >= TOOL_LATENCY_S * 1000


async def test_processes_share_results_through_redis_and_survive_it_down(redis_url):
    """Without servers: a put in one cache is a get in another (pub/sub), a cache started later
    is warmed from Redis, and a cache whose Redis is unreachable still works locally."""
    if not redis_url:
        pytest.skip("redis-server is not installed")
    from streaming.server.redis_cache import RedisResultCache
    from tools.corpus import Document
    from tools.result import Hit, SearchResult

    doc = Document("geo-1", "Australia", "The capital of Australia is Canberra.", "", "geo",
                   (("Australia", "capital", "Canberra"),))  # fmt: skip
    result = SearchResult("capital australia", [Hit(doc, 2.5, doc.text)], 812.0, None, {"x": 1})
    ns = f"test:{os.getpid()}"
    a = await RedisResultCache(redis_url, namespace=ns).start()
    b = await RedisResultCache(redis_url, namespace=ns).start()
    late = None
    try:
        assert await a.wait_subscribed() and await b.wait_subscribed()
        a.scoped(None, "03/15/2025").put("search", "capit australia", result)
        for _ in range(200):  # bounded: pub/sub delivery
            if b.scoped(None, "03/15/2025").get("search", "capit australia") is not None:
                break
            await asyncio.sleep(0.01)
        assert b.scoped(None, "03/15/2025").get("search", "capit australia") == result
        assert b.scoped(None, None).get("search", "capit australia") is None  # another scope
        late = await RedisResultCache(redis_url, namespace=ns).start()
        assert late.scoped(None, "03/15/2025").get("search", "capit australia") == result
    finally:
        for cache in (a, b, late):
            if cache is not None:
                await cache.close()
    down = await RedisResultCache(f"redis://127.0.0.1:{free_port()}/0").start(0.5)
    try:
        down.put(("search", "k", "", ""), result)
        assert down.get(("search", "k", "", "")) is result and len(down) == 1
    finally:
        await down.close()


# --- PostgreSQL ------------------------------------------------------------------------------
def test_postgres_full_text_search_agrees_with_bm25_on_the_demo_questions(pg_dsn, docs):
    if not pg_dsn:
        pytest.skip("PostgreSQL is not installed")
    from tools.corpus import load_questions
    from tools.search.bm25 import Bm25Index
    from tools.search.postgres import PgSearchIndex, ts_query_text

    assert (
        ts_query_text("What's the capital of Austria or Germany?")
        == "capital or austria or germany"
    )
    index = PgSearchIndex(pg_dsn, "agreement_docs")
    try:
        assert index.load(docs) == len(docs) == len(index)
        assert index.ensure_loaded([]) == len(docs)  # a loaded table is left as it is
        assert index.search("what is the", 3) == []  # stopwords only
        bm25, questions = Bm25Index(docs), load_questions()
        same = in_top3 = 0
        for q in questions:
            ours, theirs = bm25.search(q.query, 3), index.search(q.query, 3)
            assert theirs and len(theirs) <= 3, q.query
            same += ours[0].doc.id == theirs[0].doc.id
            in_top3 += ours[0].doc.id in {h.doc.id for h in theirs}
        hit = index.search("what is the capital of austria", 1)[0]
        assert "Vienna" in hit.snippet and hit.doc.title and hit.score > 0
    finally:
        index.close()
    print(f"top document as BM25's: {same}/{len(questions)}; BM25's in the top 3: {in_top3}")
    assert same >= 0.75 * len(questions) and in_top3 >= 0.9 * len(questions)  # 162, 186 of 190


async def test_a_server_on_the_postgres_backend_answers_a_typed_question(servers, docs):
    if not servers.pg:
        pytest.skip("PostgreSQL is not installed")
    health = await healthz(servers.http[0])
    assert health["search_backend"] == "postgres"
    service = await healthz(health["search_url"])  # the search service, over the table
    assert service["documents"] == len(docs)
    options = {"strategy": "final", "pace_audio": False}
    async with VoiceClient(servers.ws[0], options=options) as client:
        log = await client.ask_text("who wrote the novel pride and prejudice", 60)
    assert "Austen" in log.first("turn_metrics")["metrics"]["answer"]
    (search,) = search_results(log)
    assert search["results"] and not search["error"]
