"""Every ``Config`` field as a ``--field-name`` flag; flags override environment and defaults."""

from __future__ import annotations

import argparse
from dataclasses import Field, fields
from typing import get_type_hints

from streaming.server.config import ENV_PREFIX, Config, coerce


def _flag_type(kind: type):
    """argparse's ``type=bool`` makes "0" and "false" true; parse booleans as the env does."""
    if kind is bool:
        return lambda raw: coerce(bool, raw)
    return kind


def add_config_flags(parser: argparse.ArgumentParser, only: set[str] | None = None) -> None:
    """Add ``--field-name`` flags for Config fields (all, or those in ``only``), one help
    group per settings part."""
    hints = get_type_hints(Config)
    for part in Config.PARTS:
        names = [f for f in fields(part) if only is None or f.name in only]
        if names:
            group = parser.add_argument_group(part.__name__, (part.__doc__ or "").strip())
            for f in names:
                _add_flag(group, f, hints[f.name])


def _add_flag(group: argparse._ArgumentGroup, f: Field, kind: type) -> None:
    group.add_argument(
        "--" + f.name.replace("_", "-"),
        dest=f.name,
        type=_flag_type(kind),
        default=None,
        help=f"{f.metadata.get('help', '')} (default {f.default!r}; env {ENV_PREFIX}{f.name.upper()})",
    )


def config_from_args(args: argparse.Namespace) -> Config:
    names = {f.name for f in fields(Config)}
    return Config.from_env(**{k: v for k, v in vars(args).items() if k in names})
