"""Dead-letter topics: read what failed, and replay it to the topic it came from."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from kafka import KafkaProducer
from kafka.structs import TopicPartition

from marac_platform import events
from marac_platform import kafka as platform_kafka
from marac_platform.consumer import DLQ_HEADERS
from marac_platform.settings import KafkaSettings


@dataclass(frozen=True)
class DeadLetter:
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]

    def header(self, name: str) -> str:
        for key, value in self.headers:
            if key == name:
                return value.decode("utf-8", "replace")
        return ""


def read(settings: KafkaSettings, topic: str, idle_ms: int = 2000) -> Iterator[DeadLetter]:
    """Every record now in `topic`.dlq, from the start, without joining a consumer group."""
    name = events.dlq_topic(topic)
    consumer = platform_kafka.consumer(settings, None, consumer_timeout_ms=idle_ms)
    try:
        partitions = consumer.partitions_for_topic(name) or set()
        assigned = [TopicPartition(name, p) for p in sorted(partitions)]
        consumer.assign(assigned)
        consumer.seek_to_beginning(*assigned)
        ends = consumer.end_offsets(assigned)
        remaining = {tp.partition: ends[tp] for tp in assigned if ends[tp] > 0}
        for record in consumer:
            if record.offset < remaining.get(record.partition, 0):
                yield DeadLetter(record.partition, record.offset, record.key, record.value,
                                 list(record.headers or []))
            if record.offset + 1 >= remaining.get(record.partition, 0):
                remaining.pop(record.partition, None)
            if not remaining:
                break
    finally:
        consumer.close()


def replay(producer: KafkaProducer, letter: DeadLetter, topic: str) -> None:
    """Send a dead letter back to its original topic, without the dlq_* headers."""
    headers = [(k, v) for k, v in letter.headers if k not in DLQ_HEADERS]
    producer.send(topic, key=letter.key, value=letter.value, headers=headers).get(timeout=30)
