"""The one operator entry point: `marac <command>`; each command lives in marac_platform.commands.

The services are given, not imported: `main(argv, services=..., program=...)` is called by the
composition that knows them (services/registry.py), and the services' own commands (their
declarations' `commands`) join the library's.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback
from collections.abc import Mapping, Sequence

from marac_platform.service_spec import Command, ServiceSpec, WebAppSpec

# Where the services' own top-level commands go (e.g. referral's `demo`).
SERVICE_COMMANDS = "(services)"

# Modules that add subcommands; order is the --help order. A bare name is a module of
# marac_platform.commands; a dotted one lives in a package of its own (below).
COMMAND_MODULES = (
    "run",
    "check",
    "marac_devinfra.commands",  # marac kafka ..., marac postgres ...
    "migrate",
    "topics",
    "asyncapi",
    "dlq",
    "worker",
    "web",
    SERVICE_COMMANDS,
    "tokens",
    "keys",
)


# Packages whose commands are offered only where they are installed: the development tools
# (devtools/, installed by `pip install -e ".[dev]"`) are not in the production image.
OPTIONAL_PACKAGES = frozenset({"marac_devinfra"})


class CommandError(Exception):
    """A failure the operator can act on: printed as one line, exit code 2."""


def build_parser(services: Mapping[str, ServiceSpec] | None = None,
                 program: Sequence[str] = (),
                 apps: Mapping[str, WebAppSpec] | None = None) -> argparse.ArgumentParser:
    """The library's commands and the services' own. A library command module that takes
    services' commands under it names its `GROUP` (`marac keys ...`)."""
    services = services or {}
    parser = argparse.ArgumentParser(
        prog="marac", description="Run and operate the MARAC platform.",
        epilog="Exit codes: 0 done; 1 failed while running (one line; --debug for the traceback); "
               "2 operator error, before anything started (a wrong argument, setting, areas file, "
               "key file, or a port in use: one line naming it); 3 `kafka|postgres status`: not "
               "running; 130 interrupted.")
    parser.add_argument("--debug", action="store_true", default=os.environ.get("MARAC_DEBUG") == "1",
                        help="show an error's Python traceback as well as its one line "
                             "(MARAC_DEBUG=1 does the same, e.g. in a pod)")
    # What every command may need: the declarations, and how to start this command again.
    parser.set_defaults(specs=services, program=tuple(program), apps=dict(apps or {}))
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    contributed: list[Command] = [command for spec in services.values() for command in spec.commands]
    groups: set[str] = set()
    for name in COMMAND_MODULES:
        if name == SERVICE_COMMANDS:
            for command in contributed:
                if command.group is None:
                    command.register(subparsers)
            continue
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
        group: str | None = getattr(module, "GROUP", None)
        if group is None:
            module.register(subparsers)
            continue
        groups.add(group)
        module.register(subparsers, [command for command in contributed if command.group == group])
    stray = sorted({command.group for command in contributed if command.group} - groups)
    if stray:
        raise ValueError(f"a service adds commands to {stray[0]!r}, which is no command of marac")
    return parser


def spec_of(args: argparse.Namespace, service: str) -> ServiceSpec:
    """The declaration of `service`, as the composition gave it."""
    specs: Mapping[str, ServiceSpec] = args.specs
    if service not in specs:
        raise CommandError(f"no declaration of the {service} service was given to this command")
    return specs[service]


def failure(exc: Exception) -> str:
    """An unexpected error in one line: its type, and its message only where that cannot echo
    input (a database error on a statement quotes its parameters, which may be personal data)."""
    from kafka.errors import KafkaError
    from sqlalchemy.exc import DBAPIError

    name = type(exc).__name__
    if isinstance(exc, KafkaError | OSError):
        return f"{name}: {exc}"
    if isinstance(exc, DBAPIError) and not exc.statement:  # could not connect: no statement
        first = str(exc.orig).strip().splitlines()
        return f"{name}: {first[0] if first else type(exc.orig).__name__}"
    return name


def main(argv: Sequence[str] | None = None, *, services: Mapping[str, ServiceSpec] | None = None,
         program: Sequence[str] = (), apps: Mapping[str, WebAppSpec] | None = None) -> int:
    """Run `marac` with these services (name -> declaration) and web front ends; `program` is
    how a child process (`marac run`'s web and worker processes) runs this same command."""
    from marac_platform.preflight import OPERATOR_ERRORS

    operator_errors: tuple[type[Exception], ...] = (CommandError, *OPERATOR_ERRORS)
    parser = build_parser(services, program, apps)
    args = parser.parse_args(argv)
    try:
        result: int = args.func(args)
    except operator_errors as exc:
        if args.debug:
            traceback.print_exc()
        print(f"marac {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if args.debug:
            traceback.print_exc()
        print(f"marac {args.command}: failed: {failure(exc)} "
              f"(`marac --debug {args.command} ...` shows the traceback)", file=sys.stderr)
        return 1
    return result

