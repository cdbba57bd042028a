"""The one operator entry point: `marac <command>`; each command lives in marac_platform.commands."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Modules under marac_platform.commands that add subcommands; order is the --help order.
COMMAND_MODULES = (
    "run",
    "infra",
    "migrate",
    "topics",
    "asyncapi",
    "dlq",
    "worker",
    "web",
    "demo",
    "tokens",
    "keys",
)


class CommandError(Exception):
    """A failure the operator can act on: printed as one line, exit code 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="marac", description="Run and operate the MARAC platform."
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"marac_platform.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"marac_platform.commands.{name}":
                continue  # command not built yet
            raise
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result: int = args.func(args)
    except CommandError as exc:
        print(f"marac {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return result

