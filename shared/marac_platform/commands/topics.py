"""`marac topics`: create the platform's Kafka topics (idempotent) or list them."""

from __future__ import annotations

import argparse

from marac_platform import kafka as platform_kafka
from marac_platform.settings import kafka_settings


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("topics", help="create or list Kafka topics",
                                   description="Topics are created by the platform, never auto-created.")
    parser.add_argument("action", choices=("create", "list"))
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import os

    settings = kafka_settings(dict(os.environ))
    if args.action == "list":
        for name in platform_kafka.platform_topics():
            print(name)
        return 0
    # The whole configuration first: a migration Job stops here, before any topic is made.
    from marac_platform.preflight import check_configuration

    check_configuration(list(args.specs.values()))
    created, existing = platform_kafka.create_topics(settings)
    print(f"topics: {len(created)} created, {len(existing)} already present "
          f"({settings.topic_partitions} partitions, replication {settings.topic_replication})")
    return 0
