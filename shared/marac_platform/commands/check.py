"""`marac check [SERVICE ...]`: validate a deployment's configuration on its own (an init
container or a CI step): every setting, the key files, and the whole areas file as each
service reads it. Exit 0 when all is well, 2 with one line naming what is wrong."""

from __future__ import annotations

import argparse

from marac_platform.settings import SERVICES


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "check", help="validate settings, key files and the areas file; start nothing",
        description="Checks what every process checks at start-up, without connecting to Kafka or "
                    "a database: exit 0 if all is well, 2 with one line naming the variable or "
                    "file, the key and the reason.")
    parser.add_argument("services", nargs="*", metavar="SERVICE",
                        help=f"services to check: {', '.join(SERVICES)} (default: all)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from marac_platform.cli import CommandError, spec_of
    from marac_platform.preflight import check_configuration

    unknown = [name for name in args.services if name not in SERVICES]
    if unknown:
        raise CommandError(f"unknown service {unknown[0]!r}; choose from {', '.join(SERVICES)}")
    names = args.services or list(SERVICES)
    areas = check_configuration([spec_of(args, name) for name in names])
    served = ", ".join(sorted(areas.ids())) if areas else "none"
    source = areas.source if areas else "-"
    print(f"configuration ok: {', '.join(names)}; areas {served} ({source})")
    return 0
