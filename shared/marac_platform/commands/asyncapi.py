"""`marac asyncapi`: print the AsyncAPI document of every topic (docs/asyncapi.yaml)."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("asyncapi", help="print the AsyncAPI document of every topic",
                                   description="Derived from the event catalog and its payload "
                                               "schemas; docs/asyncapi.yaml is its output.")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from marac_platform import asyncapi

    print(asyncapi.render(), end="")
    return 0
