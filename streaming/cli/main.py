"""``streamrag`` command line: serve, search-server, replay, mic, audiocrag ..."""

from __future__ import annotations

import argparse
import logging
import sys

from streaming.cli.flags import add_config_flags, config_from_args


def _serve(args: argparse.Namespace) -> int:
    from streaming.server.app import serve

    serve(config_from_args(args))
    return 0


def _search_server(args: argparse.Namespace) -> int:
    """Serve the document search API (BM25 over the corpus) with a latency profile."""
    from aiohttp import web

    from streaming.server.app import run_until_interrupted
    from tools.corpus import load_documents
    from tools.runtime.latency import LatencyProfile
    from tools.search.bm25 import Bm25Index
    from tools.search.web import start_search_service

    index = Bm25Index(load_documents(args.corpus or None))
    profile = LatencyProfile.parse(args.latency)

    async def start() -> web.AppRunner:
        token = config_from_args(args).token
        runner, url = await start_search_service(
            index, profile, args.host, args.port, args.seed, token
        )
        logging.getLogger("streamrag").info(
            "search service at %s/search?q=... (%d documents, latency %s)",
            url,
            len(index.docs),
            profile,
        )
        return runner

    run_until_interrupted(start)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="streamrag", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="start the voice server and web demo")
    add_config_flags(p)
    p.set_defaults(func=_serve)

    p = sub.add_parser("search-server", help="serve the web-search API over a corpus")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8766)
    p.add_argument("--corpus", default="", help="folder or jsonl of documents (default: bundled)")
    p.add_argument("--latency", default="none", help="none | fixed:S | lognormal:median=S,p90=S")
    p.add_argument("--seed", type=int, default=None)
    add_config_flags(p, only={"token"})  # --token / STREAMRAG_TOKEN: the same shared secret
    p.set_defaults(func=_search_server)

    from streaming.cli.clients import add_client_commands

    add_client_commands(sub)
    from streaming.cli.eval import add_eval_commands

    add_eval_commands(sub)

    args = parser.parse_args(argv)
    from streaming.server.config import Config
    from streaming.server.observability import setup_logging

    env = Config.from_env()  # STREAMRAG_LOG_LEVEL / STREAMRAG_LOG_FORMAT, under the flags
    setup_logging(
        getattr(args, "log_level", None) or env.log_level,
        getattr(args, "log_format", None) or env.log_format,
    )
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
