"""A service's worker process: its event consumers, the outbox relay and its timed jobs."""

from __future__ import annotations

import importlib
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import FrameType, ModuleType

from marac_platform import kafka as platform_kafka
from marac_platform import telemetry
from marac_platform.consumer import EventConsumer, Handler, group_id
from marac_platform.outbox import OutboxRelay
from marac_platform.runtime import Runtime

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    """Timed work. It must be safe with several replicas (a row lock or a unique key)."""

    name: str
    interval_s: float
    run: Callable[[Runtime], None]


def service_module(service: str, part: str) -> ModuleType:
    return importlib.import_module(f"services.{service}.{part}")


SHUTDOWN_GRACE_S = 15.0


def _exit_after(seconds: float) -> None:
    time.sleep(seconds)
    log.warning("graceful shutdown took too long; exiting", extra={"duration_ms": seconds * 1000})
    telemetry.shutdown_tracing()
    os._exit(0)


def build_runtime(service: str) -> Runtime:
    models = service_module(service, "models")
    return Runtime(service, models.TABLES)


def _job_loop(job: Job, runtime: Runtime, stop: threading.Event) -> None:
    # No span per run: an idle poll every half second would flood the trace viewer; jobs open
    # spans themselves, continuing the trace of the work they pick up.
    while not stop.is_set():
        try:
            job.run(runtime)
        except Exception as exc:
            log.error("timed job failed", extra={"reason_code": type(exc).__name__, "path": job.name})
        stop.wait(job.interval_s)


def run_worker(service: str, stop: threading.Event | None = None) -> int:
    runtime = build_runtime(service)
    telemetry.setup_logging(service, runtime.settings.log_level)
    telemetry.setup_tracing(service, "worker")
    handlers_module = service_module(service, "handlers")
    handlers: Mapping[str, Handler] = handlers_module.HANDLERS
    jobs: list[Job] = list(getattr(handlers_module, "JOBS", []))

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

    producer = platform_kafka.producer(runtime.settings.kafka, client_id=f"marac-{service}")
    relay = OutboxRelay(runtime.db, runtime.tables, producer)
    threads = [
        threading.Thread(target=relay.run, args=(stop, runtime.settings.outbox_poll_s),
                         name="outbox-relay", daemon=True)
    ]
    threads += [
        threading.Thread(target=_job_loop, args=(job, runtime, stop), name=f"job-{job.name}",
                         daemon=True)
        for job in jobs
    ]
    for thread in threads:
        thread.start()
    log.info("worker started", extra={"count": len(handlers)})
    try:
        if handlers:
            topics = EventConsumer.topics_for(handlers)
            kafka_consumer = platform_kafka.consumer(
                runtime.settings.kafka, group_id(service), *topics
            )
            try:
                EventConsumer(runtime, handlers, kafka_consumer, producer).run(stop)
            finally:
                kafka_consumer.close()
        else:
            stop.wait()
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=10)
        producer.flush(timeout=10)
        producer.close(timeout=10)
        runtime.db.dispose()
        telemetry.shutdown_tracing()
        log.info("worker stopped")
    return 0
