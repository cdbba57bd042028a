"""Reading and writing raw Kafka records in tests."""

from __future__ import annotations

import os
import time
from typing import Any

from kafka import KafkaConsumer, KafkaProducer
from kafka.structs import TopicPartition


def read_all(bootstrap: str, topic: str, idle_s: float = 1.5, timeout_s: float = 60.0) -> list[Any]:
    """Every record now in `topic`, all partitions, from the start: read up to the end offsets
    taken when called (so a slow fetch on a busy machine is waited for, not mistaken for the
    end). `idle_s` bounds each poll."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or []]
        if not partitions:
            return []
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        records: list[Any] = []
        deadline = time.monotonic() + timeout_s
        while any(consumer.position(tp) < end for tp, end in ends.items()):
            if time.monotonic() > deadline:
                raise AssertionError(f"{topic}: end offsets not reached within {timeout_s}s")
            for batch in consumer.poll(timeout_ms=int(idle_s * 1000)).values():
                records.extend(batch)
        return records
    finally:
        consumer.close()


def produce(bootstrap: str, topic: str, value: bytes, key: bytes | None = None,
            headers: list[tuple[str, bytes]] | None = None) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    try:
        producer.send(topic, value=value, key=key, headers=headers or []).get(timeout=30)
    finally:
        producer.close()


# Deadlines are what a quiet machine needs times this: they cost nothing when the condition
# holds early, and a busy machine (two suites at once on two cores) must not fail a test.
PATIENCE = float(os.environ.get("MARAC_TEST_PATIENCE", "3"))


def wait_for(condition: Any, timeout_s: float = 30.0, interval_s: float = 0.2) -> Any:
    """Poll `condition` until it returns something truthy, up to `timeout_s` x PATIENCE."""
    timeout_s *= PATIENCE
    deadline = time.monotonic() + timeout_s
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s}s")
        time.sleep(interval_s)
