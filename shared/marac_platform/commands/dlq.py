"""`marac dlq list|replay TOPIC`: inspect and replay a dead-letter topic."""

from __future__ import annotations

import argparse
import os

from marac_platform import dlq, events
from marac_platform import kafka as platform_kafka
from marac_platform.settings import kafka_settings


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "dlq", help="list or replay dead letters",
        description="Dead letters are events that failed after the retries; TOPIC is the "
                    "original topic, e.g. referral.submitted.")
    parser.add_argument("action", choices=("list", "replay"))
    parser.add_argument("topic", help="the original topic (not the .dlq one)")
    parser.add_argument("--offset", type=int, action="append", default=[],
                        help="replay only these DLQ offsets (repeatable); default: all")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from marac_platform.cli import CommandError

    family = args.topic.removesuffix(".dlq")
    if family not in events.topics():
        raise CommandError(f"unknown event family {family!r}; one of: {', '.join(events.topics())}")
    topic = events.kafka_topic(family)
    settings = kafka_settings(dict(os.environ))
    letters = list(dlq.read(settings, topic))
    if args.action == "list":
        print(f"{len(letters)} dead letter(s) in {events.dlq_topic(topic)}")
        for letter in letters:
            print(f"partition {letter.partition} offset {letter.offset} "
                  f"event {letter.header('ce_id') or '-'} type {letter.header('ce_type') or '-'} "
                  f"from {letter.header('dlq_topic')}@{letter.header('dlq_offset')} "
                  f"error {letter.header('dlq_error')}")
        return 0
    chosen = [letter for letter in letters if not args.offset or letter.offset in args.offset]
    producer = platform_kafka.producer(settings, client_id="marac-dlq-replay")
    try:
        for letter in chosen:
            dlq.replay(producer, letter, topic)
    finally:
        producer.close(timeout=10)
    print(f"replayed {len(chosen)} dead letter(s) to {topic}")
    return 0
