"""``streamrag`` command line: serve, ask (typed), replay, mic, eval ..."""

from __future__ import annotations

import argparse
import logging
import sys

from .config import add_config_flags, config_from_args


def _serve(args: argparse.Namespace) -> int:
    from .server import serve

    serve(config_from_args(args))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="streamrag", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="start the voice server and web demo")
    add_config_flags(p)
    p.set_defaults(func=_serve)

    from .cli_clients import add_client_commands

    add_client_commands(sub)
    try:
        from .cli_eval import add_eval_commands
    except ModuleNotFoundError as exc:  # the evaluation commands are being built
        if exc.name != "streaming.cli_eval":
            raise
    else:
        add_eval_commands(sub)

    args = parser.parse_args(argv)
    logging.basicConfig(
        level=getattr(args, "log_level", None) or "INFO",
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
