"""A service's worker process: its event consumers, the outbox relay and its timed jobs."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Mapping
from types import FrameType
from typing import TypeVar

from kafka import KafkaProducer
from kafka.errors import KafkaError

from marac_platform import kafka as platform_kafka
from marac_platform import telemetry
from marac_platform.backoff import Backoff
from marac_platform.consumer import EventConsumer, Handler, group_id
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


def _job_loop(job: Job, runtime: Runtime, stop: threading.Event) -> None:
    # No span per run: an idle poll every half second would flood the trace viewer; jobs open
    # spans themselves, continuing the trace of the work they pick up.
    while not stop.is_set():
        try:
            job.run(runtime)
        except Exception as exc:
            log.error("timed job failed", extra={"reason_code": type(exc).__name__, "path": job.name})
        stop.wait(job.interval_s)


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
            stop: threading.Event) -> None:
    topics = EventConsumer.topics_for(handlers)
    kafka_consumer = connect("kafka consumer", stop, lambda: platform_kafka.consumer(
        runtime.settings.kafka, group_id(runtime.service), *topics))
    if kafka_consumer is None:
        return
    try:
        EventConsumer(runtime, handlers, kafka_consumer, producer).run(stop)
    finally:
        kafka_consumer.close()


def run_worker(spec: ServiceSpec, stop: threading.Event | None = None) -> int:
    """The service's consumers (its declared handlers), outbox relay and declared timed jobs."""
    runtime = Runtime(spec)
    service = spec.name
    telemetry.setup_logging(service, runtime.settings.log_level)
    telemetry.setup_tracing(service, "worker")
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
    threads = [
        threading.Thread(target=_job_loop, args=(job, runtime, stop), name=f"job-{job.name}",
                         daemon=True)
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
        relay = OutboxRelay(runtime.db, runtime.tables, producer)
        relay_thread = threading.Thread(
            target=relay.run, args=(stop, runtime.settings.outbox_poll_s, runtime.outbox_written),
            name="outbox-relay", daemon=True)
        relay_thread.start()
        threads.append(relay_thread)
        if runtime.db.is_postgres:
            listener = threading.Thread(target=relay.listen, args=(stop, runtime.outbox_written),
                                        name="outbox-listener", daemon=True)
            listener.start()
            threads.append(listener)
        if handlers:
            consume(runtime, handlers, producer, stop)
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
        telemetry.shutdown_tracing()
        log.info("worker stopped")
    return 0
