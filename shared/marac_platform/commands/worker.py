"""`marac worker SERVICE`: one service's consumers, outbox relay and timed jobs."""

from __future__ import annotations

import argparse

from marac_platform.settings import SERVICES


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("worker", help="run one service's worker process")
    parser.add_argument("service", choices=SERVICES)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from marac_platform.cli import spec_of
    from marac_platform.preflight import check_configuration
    from marac_platform.worker import run_worker

    spec = spec_of(args, args.service)
    check_configuration([spec])  # the key files too, which this service's worker may not read
    return run_worker(spec)
