"""The stack's own limit: a bare kafka-python chain with the platform's hops (source -> 3 relay
stages -> sink over 4 topics), the same partitions, acks and idempotence, no application logic.
Each stage is a process of its own, as the platform's workers are. Prints figures, asserts nothing.

    .venv/bin/python bench/bare_chain.py --bootstrap 127.0.0.1:9092 --messages 2000

Used by bench/pipeline.py, which runs it against the same broker in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
import uuid
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic

HOPS = 4  # referral.submitted, risk.assessed, referral.accepted, case.scheduled


def producer(bootstrap: str) -> KafkaProducer:
    # As marac_platform.kafka.producer: idempotent, acks=all, the same linger and in-flight.
    return KafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all",
                         linger_ms=5, retries=2147483647, max_in_flight_requests_per_connection=5)


def consumer(bootstrap: str, topic: str, group: str) -> KafkaConsumer:
    # As marac_platform.kafka.consumer: manual commits, from the earliest offset, 50 a poll.
    return KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group,
                         enable_auto_commit=False, auto_offset_reset="earliest",
                         max_poll_records=50)


def stage(bootstrap: str, source: str, target: str | None, count: int, commit: str) -> None:
    """Relay `count` records from `source` to `target` (or, without one, sink them and print
    each record's latency from its birth stamp)."""
    reader = consumer(bootstrap, source, f"{source}-group")
    writer = producer(bootstrap) if target else None
    setup = resource.getrusage(resource.RUSAGE_SELF)  # imports and clients: not per message
    seen = 0
    latencies: list[float] = []
    last = 0.0
    while seen < count:
        for partition, records in reader.poll(timeout_ms=500).items():
            for record in records:
                if writer is not None and target is not None:
                    writer.send(target, key=record.key, value=record.value,
                                headers=record.headers)
                else:
                    born = json.loads(record.value)["born"]
                    last = time.time()
                    latencies.append(last - born)
                seen += 1
                if commit == "record":
                    if writer is not None:
                        writer.flush()
                    reader.commit()
            if commit == "batch":
                if writer is not None:
                    writer.flush()  # published before the offsets that caused them
                reader.commit()
            del partition
    if writer is not None:
        writer.flush()
        writer.close()
    reader.close()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    spent = usage.ru_utime + usage.ru_stime - setup.ru_utime - setup.ru_stime
    print(json.dumps({"cpu_s": spent, "latencies": latencies,
                      "last": last}), flush=True)


def make_topics(bootstrap: str, names: list[str], partitions: int) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics([NewTopic(name=n, num_partitions=partitions, replication_factor=1)
                             for n in names])
    finally:
        admin.close()


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0


def run_chain(bootstrap: str, messages: int, partitions: int = 3,
              commit: str = "batch") -> dict[str, Any]:
    """Start the stages, produce `messages` at once, wait for the sink; the figures."""
    tag = uuid.uuid4().hex[:8]
    topics = [f"bare{tag}.hop{i}" for i in range(HOPS)]
    make_topics(bootstrap, topics, partitions)
    argv = [sys.executable, __file__, "--bootstrap", bootstrap, "--messages", str(messages),
            "--commit", commit, "stage"]
    stages = [subprocess.Popen([*argv, topics[i], topics[i + 1] if i + 1 < HOPS else ""],
                               stdout=subprocess.PIPE) for i in range(HOPS)]
    time.sleep(3.0)  # the consumers join their groups before the burst (a benchmark, not a test)
    source = producer(bootstrap)
    started = time.time()
    source_cpu = time.process_time()
    for n in range(messages):
        body = json.dumps({"born": time.time(), "n": n, "pad": "x" * 200}).encode()
        source.send(topics[0], key=uuid.uuid4().hex.encode(), value=body)
    source.flush()
    source_cpu = time.process_time() - source_cpu
    source.close()
    outputs = [json.loads(s.communicate(timeout=600)[0].decode().strip().splitlines()[-1])
               for s in stages]
    sink = outputs[-1]
    wall = sink["last"] - started
    cpu = sum(o["cpu_s"] for o in outputs) + source_cpu
    return {"messages": messages, "wall_s": wall, "per_s": messages / wall,
            "cpu_ms_per_message": cpu / messages * 1000,
            "p50_s": statistics.median(sink["latencies"]),
            "p99_s": percentile(sink["latencies"], 0.99), "commit": commit}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--partitions", type=int, default=3)
    parser.add_argument("--commit", choices=("batch", "record"), default="batch")
    sub = parser.add_subparsers(dest="command")
    one = sub.add_parser("stage")
    one.add_argument("source")
    one.add_argument("target")
    args = parser.parse_args()
    if args.command == "stage":
        stage(args.bootstrap, args.source, args.target or None, args.messages, args.commit)
        return
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    figures = run_chain(args.bootstrap, args.messages, args.partitions, args.commit)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
