"""The one operator entry point: `marac <command>`; each command lives in marac_platform.commands."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Modules that add subcommands; order is the --help order. A bare name is a module of
# marac_platform.commands; a dotted one lives in a package of its own (below).
COMMAND_MODULES = (
    "run",
    "marac_devinfra.commands",  # marac kafka ..., marac postgres ...
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


# Packages whose commands are offered only where they are installed: the development tools
# (devtools/, installed by `pip install -e ".[dev]"`) are not in the production image.
OPTIONAL_PACKAGES = frozenset({"marac_devinfra"})


class CommandError(Exception):
    """A failure the operator can act on: printed as one line, exit code 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="marac", description="Run and operate the MARAC platform."
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for name in COMMAND_MODULES:
        qualified = name if "." in name else f"marac_platform.commands.{name}"
        try:
            # Imported here, not at the top: the optional packages may be absent (see above).
            module = importlib.import_module(qualified)
        except ModuleNotFoundError as exc:
            if exc.name == qualified:
                continue  # command not built yet
            if exc.name in OPTIONAL_PACKAGES:
                continue  # development tools not installed: their commands are not offered
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

