"""Full-text search in PostgreSQL: the same ``search(query, k) -> [Hit]`` as ``Bm25Index``.

For a corpus too large to index in every server process: the documents live in one table with a
weighted ``tsvector`` (title A, text B; generated, so it can never go stale) and a GIN index, and
a query is the question's content words OR-ed (``websearch_to_tsquery``, which never raises on
user text) ranked by ``ts_rank`` with length normalization. Hits are the same objects as BM25's,
with the same best-sentence snippets, so the search service (``tools.search.web``), the local
tool and everything after them are unchanged.

``search`` is blocking (a database round trip): callers already run index searches off the event
loop (``asyncio.to_thread`` in the service, ``off_loop`` in ``LocalSearchTool``). Connections are
pooled per process, one per concurrent search, opened on first use and replaced when broken.

    python -m tools.search.postgres load  --dsn "host=127.0.0.1 dbname=streamrag" [--corpus PATH]
    python -m tools.search.postgres serve --dsn ... --port 8766 [--latency none] [--token SECRET]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import queue
import re
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql

from tools.corpus import Document, load_documents
from tools.language.text import FILLERS, STOPWORDS, tokens
from tools.result import Hit
from tools.search.bm25 import best_sentences

log = logging.getLogger(__name__)
_TABLE = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_OPERATORS = frozenset({"or", "and", "not"})  # websearch_to_tsquery reads "or" as an operator

_SCHEMA = """
CREATE TABLE IF NOT EXISTS {table} (
    id text PRIMARY KEY,
    title text NOT NULL DEFAULT '',
    url text NOT NULL DEFAULT '',
    domain text NOT NULL DEFAULT '',
    body text NOT NULL,
    tsv tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('english', title), 'A') || setweight(to_tsvector('english', body), 'B')
    ) STORED
);
CREATE INDEX IF NOT EXISTS {index} ON {table} USING GIN (tsv);
"""
# normalization 1: rank / (1 + log(document length)), like BM25's length penalty
_QUERY = """
SELECT id, title, url, domain, body, ts_rank(tsv, q, 1) AS score
FROM {table}, websearch_to_tsquery('english', %s) AS q
WHERE tsv @@ q ORDER BY score DESC, id LIMIT %s
"""


def ts_query_text(query: str) -> str:
    """The question's content words, OR-ed in websearch syntax ("capital or australia")."""
    words = []
    for token in tokens(query):
        word = token.split("'")[0]
        if word and token not in STOPWORDS and word not in FILLERS and word not in _OPERATORS:
            words.append(word)
    return " or ".join(dict.fromkeys(words))


class PgSearchIndex:
    """BM25's interface over a PostgreSQL table; thread-safe (one connection per thread in use)."""

    def __init__(self, dsn: str, table: str = "streamrag_docs", pool_size: int = 4) -> None:
        if not _TABLE.fullmatch(table):
            raise ValueError(f"bad table name {table!r}")
        self.dsn, self.table, self.pool_size = dsn, table, pool_size
        self._idle: queue.LifoQueue[psycopg.Connection] = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(pool_size)
        self._count: int | None = None
        ident = sql.Identifier(table)
        self._schema = sql.SQL(_SCHEMA).format(table=ident, index=sql.Identifier(f"{table}_tsv"))
        self._query = sql.SQL(_QUERY).format(table=ident)

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection]:
        if not self._slots.acquire(timeout=30):
            raise TimeoutError("no free PostgreSQL connection in 30 s")
        try:
            try:
                conn = self._idle.get_nowait()
            except queue.Empty:
                conn = psycopg.connect(self.dsn, autocommit=True, connect_timeout=5)
            try:
                yield conn
            except BaseException:
                conn.close()  # in an unknown state: never reused
                raise
            if conn.closed or conn.broken:
                return
            self._idle.put(conn)
        finally:
            self._slots.release()

    def __len__(self) -> int:
        """Documents in the table (counted once, then after each load)."""
        if self._count is None:
            with self._connection() as conn, conn.transaction():
                self._lock(conn)
                conn.execute(self._schema)
                row = conn.execute(
                    sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(self.table))
                ).fetchone()
                self._count = int(row[0]) if row else 0
        return self._count

    def load(self, docs: Iterable[Document]) -> int:
        """Replace the table's contents with ``docs`` (one transaction, COPY); returns the count."""
        n = 0
        with self._connection() as conn, conn.transaction():
            self._lock(conn)
            conn.execute(self._schema)
            conn.execute(sql.SQL("TRUNCATE {}").format(sql.Identifier(self.table)))
            copy = sql.SQL("COPY {} (id, title, url, domain, body) FROM STDIN").format(
                sql.Identifier(self.table)
            )
            with conn.cursor().copy(copy) as rows:
                seen: set[str] = set()
                for doc in docs:
                    if doc.id in seen:
                        continue  # the primary key: a repeated id keeps its first document
                    seen.add(doc.id)
                    rows.write_row((doc.id, doc.title, doc.url, doc.domain, doc.text))
                    n += 1
            conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(self.table)))
        self._count = n
        log.info("loaded %d documents into PostgreSQL table %s", n, self.table)
        return n

    def _lock(self, conn: psycopg.Connection) -> None:
        """Serialize schema creation and loads across processes (until the transaction ends):
        two servers starting at once would otherwise race in CREATE ... IF NOT EXISTS."""
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (self.table,))

    def ensure_loaded(self, docs: Iterable[Document]) -> int:
        """Load ``docs`` only when the table is empty or missing (N servers, one load)."""
        return len(self) or self.load(docs)

    def search(self, query: str, k: int = 3) -> list[Hit]:
        text = ts_query_text(query)
        if not text:
            return []
        with self._connection() as conn:
            rows = conn.execute(self._query, (text, max(1, k))).fetchall()
        hits = []
        for doc_id, title, url, domain, body, score in rows:
            doc = Document(doc_id, title, body, url, domain)
            hits.append(Hit(doc, float(score), best_sentences(query, body)))
        return hits

    def close(self) -> None:
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                return


def _main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.search.postgres", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("load", "serve"):
        p = sub.add_parser(name)
        p.add_argument("--dsn", required=True, help="libpq DSN or postgresql:// URL")
        p.add_argument("--table", default="streamrag_docs")
        p.add_argument("--corpus", default="", help="folder or jsonl (default: bundled)")
    serve = sub.choices["serve"]
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8766)
    serve.add_argument("--latency", default="none")
    serve.add_argument("--token", default="")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    index = PgSearchIndex(args.dsn, args.table)
    if args.command == "load":
        print(index.load(load_documents(args.corpus or None)))
        return 0
    if args.corpus:
        index.ensure_loaded(load_documents(args.corpus))
    return asyncio.run(_serve(index, args))


async def _serve(index: PgSearchIndex, args: argparse.Namespace) -> int:
    from tools.runtime.latency import LatencyProfile
    from tools.search.web import start_search_service

    profile = LatencyProfile.parse(args.latency)
    runner, url = await start_search_service(
        index,  # type: ignore[arg-type]
        profile,
        args.host,
        args.port,
        token=args.token,
    )
    log.info("search service (PostgreSQL, %d documents) at %s/search?q=...", len(index), url)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
        index.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
