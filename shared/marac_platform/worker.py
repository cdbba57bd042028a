"""A service's worker process: its event consumers, the outbox relay and its timed jobs."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Mapping
from types import FrameType
from typing import Any, TypeVar

from kafka import KafkaProducer
from kafka.errors import KafkaError
from kafka.structs import TopicPartition

from marac_platform import faults, metrics, outbox_wake, telemetry
from marac_platform import kafka as platform_kafka
from marac_platform.backoff import Backoff
from marac_platform.consumer import EventConsumer, Handler, group_id
from marac_platform.events import dlq_topic
from marac_platform.outbox import OutboxRelay
from marac_platform.runtime import Runtime
from marac_platform.service_spec import Job as Job  # where services' handler tables take it from
from marac_platform.service_spec import ServiceSpec

log = logging.getLogger(__name__)
Client = TypeVar("Client")


SHUTDOWN_GRACE_S = 15.0


def _exit_after(seconds: float) -> None:
    time.sleep(seconds)
    log.warning("graceful shutdown took too long; exiting", extra={"duration_ms": seconds * 1000})
    telemetry.shutdown_tracing()
    os._exit(0)


def _job_loop(job: Job, runtime: Runtime, stop: threading.Event,
              heartbeats: metrics.Heartbeats) -> None:
    # No span per run: an idle poll every half second would flood the trace viewer; jobs open
    # spans themselves, continuing the trace of the work they pick up.
    labels = {"job": job.name}
    wake = runtime.job_wakes.get(job.name) or stop
    while not stop.is_set():
        if wake is not stop:
            wake.clear()  # before running: work committed from now on wakes the next wait
        heartbeats.beat(f"job {job.name}")
        started = time.monotonic()
        try:
            faults.hang_at(f"job.{job.name}")
            job.run(runtime)
            metrics.JOB_RUNS.add(1, {**labels, "outcome": "ok"})
        except Exception as exc:
            metrics.JOB_RUNS.add(1, {**labels, "outcome": "failed"})
            log.error("timed job failed", extra={"reason_code": type(exc).__name__, "path": job.name})
        metrics.JOB_DURATION.record(time.monotonic() - started, labels)
        wake.wait(job.interval_s)


def _wake_jobs_at_stop(runtime: Runtime, stop: threading.Event) -> None:
    stop.wait()
    for wake in runtime.job_wakes.values():
        wake.set()


def outbox_listener(runtime: Runtime, relay: OutboxRelay,
                    stop: threading.Event) -> threading.Thread | None:
    """What wakes the relay when another process (the web) commits outbox rows: LISTEN on
    PostgreSQL, the wake socket on SQLite (marac_platform.outbox_wake); else it polls."""
    if runtime.db.is_postgres:
        return threading.Thread(target=relay.listen, args=(stop, runtime.outbox_written),
                                name="outbox-listener", daemon=True)
    wake_socket = outbox_wake.address(runtime.db.url)
    if wake_socket is None:
        return None
    return threading.Thread(target=outbox_wake.listen,
                            args=(wake_socket, stop, runtime.outbox_written),
                            name="outbox-listener", daemon=True)


def connect(what: str, stop: threading.Event, make: Callable[[], Client]) -> Client | None:
    """`make()` a Kafka client, retrying with capped, logged backoff while no broker answers
    (a worker outlives a broker that is down at its start); None if `stop` is set first."""
    backoff = Backoff(what)
    while not stop.is_set():
        try:
            client = make()
        except KafkaError as exc:
            backoff.wait(stop, exc)
            continue
        backoff.succeeded()
        return client
    return None


def consume(runtime: Runtime, handlers: Mapping[str, Handler], producer: KafkaProducer,
            stop: threading.Event, heartbeats: metrics.Heartbeats) -> None:
    topics = EventConsumer.topics_for(handlers)
    heartbeats.beat("consumer")  # joining the group counts as going round
    kafka_consumer = connect("kafka consumer", stop, lambda: platform_kafka.consumer(
        runtime.settings.kafka, group_id(runtime.service), *topics))
    if kafka_consumer is None:
        return
    try:
        consumer = EventConsumer(runtime, handlers, kafka_consumer, producer)
        consumer.beat = lambda: heartbeats.beat("consumer")
        metrics.observe("marac.consumer.lag", "{event}",
                        "Records behind each partition's end, as of the consumer's last poll.",
                        lambda: [(lag, {"topic": topic, "partition": partition})
                                 for (topic, partition), lag in list(consumer.lag.items())])
        consumer.run(stop)
    finally:
        kafka_consumer.close()  # leaves the group: its partitions move on at once


def observe_outbox(relay: OutboxRelay) -> None:
    def backlog() -> list[tuple[float, dict[str, str | int]]]:
        count, age = relay.backlog()
        return [(count, {"measure": "rows"}), (age, {"measure": "oldest_age_s"})]

    metrics.observe("marac.outbox.backlog", "1",
                    "Outbox rows not yet relayed (measure=rows) and the age in seconds of the "
                    "oldest (measure=oldest_age_s).", backlog)


def observe_dead_letters(runtime: Runtime, topics: list[str]) -> None:
    """How many records each of this service's dead-letter topics holds (end - start),
    read with a client of its own, at most every 30 s."""
    cache: dict[str, Any] = {"at": 0.0, "depth": []}

    def depth() -> list[tuple[float, dict[str, str | int]]]:
        if time.monotonic() - cache["at"] > 30:
            cache["depth"] = dead_letter_depth(runtime, topics)
            cache["at"] = time.monotonic()
        found: list[tuple[float, dict[str, str | int]]] = cache["depth"]
        return found

    metrics.observe("marac.dlq.depth", "{event}", "Records in each dead-letter topic.", depth)


def dead_letter_depth(runtime: Runtime, topics: list[str]) -> list[tuple[float, dict[str, str | int]]]:
    client = platform_kafka.consumer(runtime.settings.kafka, None)
    try:
        found: list[tuple[float, dict[str, str | int]]] = []
        for topic in topics:
            dlq = dlq_topic(topic)
            partitions = [TopicPartition(dlq, p) for p in client.partitions_for_topic(dlq) or ()]
            if not partitions:
                continue
            ends = client.end_offsets(partitions)
            starts = client.beginning_offsets(partitions)
            found.append((sum(ends[p] - starts[p] for p in partitions), {"topic": dlq}))
        return found
    finally:
        client.close()


def run_worker(spec: ServiceSpec, stop: threading.Event | None = None) -> int:
    """The service's consumers (its declared handlers), outbox relay and declared timed jobs."""
    runtime = Runtime(spec)
    service = spec.name
    telemetry.setup_logging(service, runtime.settings.log_level)
    telemetry.setup_tracing(service, "worker")
    metrics.setup_metrics(service, "worker")
    heartbeats = metrics.Heartbeats(runtime.settings.worker_stall_s)
    connected = threading.Event()  # the producer is up: the worker can relay what it writes
    if runtime.settings.metrics_port:
        metrics.serve(runtime.settings.metrics_port, heartbeats, ready=connected.is_set)
    handlers: Mapping[str, Handler] = spec.handlers
    jobs: list[Job] = list(spec.jobs)

    stop = stop or threading.Event()

    def _stop(signum: int, _frame: FrameType | None) -> None:
        stop.set()
        # kafka-python can block inside a group join (e.g. waiting out a crashed member's
        # session) longer than its poll timeout. Every effect is transactional and offsets are
        # committed after it, so ending the process after a grace period loses nothing.
        threading.Thread(target=_exit_after, args=(SHUTDOWN_GRACE_S,), daemon=True).start()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)

    # Timed jobs need only the database: they run while the broker is still unreachable.
    # A job waits on its wake event; stopping sets them all, so none waits out its interval.
    threading.Thread(target=_wake_jobs_at_stop, args=(runtime, stop), name="job-stop",
                     daemon=True).start()
    threads = [
        threading.Thread(target=_job_loop, args=(job, runtime, stop, heartbeats),
                         name=f"job-{job.name}", daemon=True)
        for job in jobs
    ]
    for thread in threads:
        thread.start()
    log.info("worker started", extra={"count": len(handlers)})
    producer: KafkaProducer | None = None
    try:
        producer = connect("kafka producer", stop, lambda: platform_kafka.producer(
            runtime.settings.kafka, client_id=f"marac-{service}"))
        if producer is None:
            return 0  # stopped while waiting for the broker
        connected.set()
        relay = OutboxRelay(runtime.db, runtime.tables, producer)
        relay.beat = lambda: heartbeats.beat("relay")
        observe_outbox(relay)
        if handlers:
            observe_dead_letters(runtime, EventConsumer.topics_for(handlers))
        relay_thread = threading.Thread(
            target=relay.run, args=(stop, runtime.settings.outbox_poll_s, runtime.outbox_written),
            name="outbox-relay", daemon=True)
        relay_thread.start()
        threads.append(relay_thread)
        runtime.db.relayed_here = True  # this process's commits wake the relay in-process
        listener = outbox_listener(runtime, relay, stop)
        if listener is not None:
            listener.start()
            threads.append(listener)
        if handlers:
            consume(runtime, handlers, producer, stop, heartbeats)
        else:
            stop.wait()
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=10)
        if producer is not None:
            try:
                producer.flush(timeout=10)
            except KafkaError as exc:
                # Unsent events are still unsent outbox rows: the next start relays them.
                log.warning("producer not flushed at stop", extra={"reason_code": type(exc).__name__})
            producer.close(timeout=10)
        runtime.db.dispose()
        metrics.shutdown_metrics()
        telemetry.shutdown_tracing()
        log.info("worker stopped")
    return 0
