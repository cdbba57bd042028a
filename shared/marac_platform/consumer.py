"""The consumer loop: inbox dedup in the handler's transaction, retries, then the dead-letter topic."""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from kafka import KafkaConsumer, KafkaProducer
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import CommitFailedError, KafkaError
from kafka.structs import OffsetAndMetadata, TopicPartition
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from sqlalchemy import Select, Table, bindparam, select
from sqlalchemy.sql.dml import Insert

from marac_platform import events, metrics, telemetry
from marac_platform.backoff import Backoff
from marac_platform.db import database_unavailable, utcnow
from marac_platform.events import Event, MalformedEvent
from marac_platform.runtime import Runtime, UnitOfWork

log = logging.getLogger(__name__)
tracer = trace.get_tracer("marac_platform.consumer")

Handler = Callable[[UnitOfWork, Event], None]

# An outage shows in the log within seconds; the uncommitted record is redelivered harmlessly.
COMMIT_TIMEOUT_MS = 10_000
# Records handled in one transaction: fewer commits, yet a short hold of SQLite's one write
# lock (the relay and the web write to the same file).
TRANSACTION_RECORDS = 20
LAG_EVERY_S = 1.0  # how often a busy consumer asks how far behind each partition it is
DLQ_HEADERS = ("dlq_error", "dlq_topic", "dlq_partition", "dlq_offset", "dlq_attempts", "dlq_service")


def group_id(service: str) -> str:
    """The service's consumer group; the topic prefix keeps deployments' groups apart."""
    return f"{events.kafka_topic('marac')}-{service}"


class DatabaseUnavailable(Exception):
    """The service's database could not be used (down, restarting, connection lost): an
    outage to wait out, never a reason to dead-letter the event."""


def error_summary(exc: BaseException) -> str:
    """What went wrong, safe for headers and logs: our own messages are value-free, others are not."""
    if isinstance(exc, MalformedEvent):
        return f"MalformedEvent: {exc}"
    return type(exc).__name__


class _Inbox:
    """The inbox of one unit of work's records: which events were handled before, read in
    one query for the whole chunk, and the new rows written in one statement at its end
    (before: a SELECT and an INSERT per record, two round trips each)."""

    def __init__(self, uow: UnitOfWork, table: Table, headers: list[dict[str, bytes]]) -> None:
        self.uow, self.table = uow, table
        ids = sorted({h["ce_id"].decode("utf-8", "replace") for h in headers if h.get("ce_id")})
        self.seen: set[str] = set(uow.session.scalars(
            _statements(table)[0], {"ids": ids})) if ids else set()
        self.rows: list[dict[str, Any]] = []

    def first_time(self, event: Event, topic: str) -> bool:
        """Whether the event is new (then it is noted as handled): once per event, also
        when a chunk holds it twice."""
        if event.id in self.seen:
            return False
        self.seen.add(event.id)
        self.rows.append({"event_id": event.id, "event_type": event.type, "topic": topic,
                          "received_at": utcnow()})
        return True

    def write(self) -> None:
        if self.rows:
            self.uow.session.execute(_statements(self.table)[1], self.rows)
            self.rows = []


@functools.cache
def _statements(table: Table) -> tuple[Select[tuple[str]], Insert]:
    """An inbox's two statements, built once (building one cost more than running it)."""
    return (select(table.c.event_id).where(table.c.event_id.in_(bindparam("ids", expanding=True))),
            table.insert())


class EventConsumer:
    def __init__(
        self,
        runtime: Runtime,
        handlers: Mapping[str, Handler],
        kafka_consumer: KafkaConsumer,
        producer: KafkaProducer,
    ) -> None:
        self.runtime = runtime
        self.handlers = handlers
        self.consumer = kafka_consumer
        self.producer = producer
        self.max_attempts = runtime.settings.consumer_max_attempts
        self.backoff_s = runtime.settings.consumer_backoff_s
        self.database_backoff = Backoff("database")
        self.beat: Callable[[], None] = lambda: None  # the worker's liveness heartbeat
        # Records behind the end of each partition, as of the last poll: read by the metrics
        # thread, written only here (kafka-python's consumer is not for sharing across threads).
        self.lag: dict[tuple[str, int], int] = {}
        self._lag_measured = 0.0

    @staticmethod
    def topics_for(handlers: Mapping[str, Handler]) -> list[str]:
        return sorted({events.kafka_topic(events.spec_for(t).topic) for t in handlers})

    def run(self, stop: threading.Event) -> None:
        """Poll, handle, commit, until `stop`. A broker outage is waited out (capped backoff,
        logged): the consumer reconnects and rejoins its group by itself once the broker is back."""
        backoff = Backoff("kafka consumer")
        while not stop.is_set():
            self.beat()
            try:
                batches = self.consumer.poll(timeout_ms=500)
            except KafkaError as exc:
                backoff.wait(stop, exc)
                continue
            for partition, records in batches.items():
                # Each partition on its own: poll moved past all of them, so none may be skipped.
                self._run_batch(partition, records, stop, backoff)
            # Idle, or once a second when busy: asked after every small poll of a burst, the
            # positions cost several percent of a worker's CPU for a figure scraped far less.
            if not batches or time.monotonic() - self._lag_measured >= LAG_EVERY_S:
                self._measure_lag()

    def _measure_lag(self) -> None:
        self._lag_measured = time.monotonic()
        with contextlib.suppress(KafkaError, AssertionError):
            for partition in self.consumer.assignment():
                end = self.consumer.highwater(partition)
                if end is not None:
                    position = self.consumer.position(partition, timeout_ms=0) or 0
                    self.lag[(partition.topic, partition.partition)] = max(0, end - position)

    def _run_batch(self, partition: TopicPartition, records: list[ConsumerRecord],
                   stop: threading.Event, backoff: Backoff) -> None:
        """Handle one partition's records in order, then commit the offset once. They go in
        transactions of up to TRANSACTION_RECORDS (their order is the partition's, so each
        case's events keep theirs); a transaction in which any record fails is rolled back and
        its records handled one at a time, each failing one retried and dead-lettered on its
        own. Stop early where the rest will be read again (a seek back, a rebalance, or a
        restart from the last commit)."""
        done: ConsumerRecord | None = None
        for start in range(0, len(records), TRANSACTION_RECORDS):
            if stop.is_set():
                break
            last, going = self._run_chunk(partition, records[start:start + TRANSACTION_RECORDS],
                                          stop, backoff)
            done = last or done
            if not going:
                break
        if done is not None:
            self._commit(partition, done, stop, backoff)

    def _run_chunk(self, partition: TopicPartition, records: list[ConsumerRecord],
                   stop: threading.Event, backoff: Backoff) -> tuple[ConsumerRecord | None, bool]:
        """(the last record handled, whether to go on with the batch)."""
        if len(records) > 1:
            try:
                self.process_together(records)
            except DatabaseUnavailable as exc:
                with contextlib.suppress(KafkaError):
                    self.consumer.seek(partition, records[0].offset)
                self.database_backoff.wait(stop, exc.__cause__ or exc)
                return None, False
            except Exception as exc:
                # Nothing of them was kept: each record again on its own.
                log.info("batch rolled back; handling its records one at a time",
                         extra={"topic": partition.topic, "partition": partition.partition,
                                "count": len(records), "reason_code": error_summary(exc)})
            else:
                self.database_backoff.succeeded()
                return records[-1], True
        done: ConsumerRecord | None = None
        for record in records:
            if stop.is_set():
                return done, False
            try:
                self.process(record)
            except KafkaError as exc:
                # The dead-letter topic could not be written: read this record again later.
                with contextlib.suppress(KafkaError):
                    self.consumer.seek(partition, record.offset)
                backoff.wait(stop, exc)
                return done, False
            except DatabaseUnavailable as exc:
                # Nothing of it was kept (the transaction rolled back): read it again once the
                # database answers, however long that takes. Dead-lettering it would lose it.
                with contextlib.suppress(KafkaError):
                    self.consumer.seek(partition, record.offset)
                self.database_backoff.wait(stop, exc.__cause__ or exc)
                return done, False
            self.database_backoff.succeeded()
            done = record
        return done, True

    def _commit(self, partition: TopicPartition, last: ConsumerRecord, stop: threading.Event,
                backoff: Backoff) -> None:
        """One offset commit for everything handled up to `last` (a synchronous commit per
        record was the consumer's bottleneck)."""
        try:
            self.consumer.commit({partition: OffsetAndMetadata(last.offset + 1, "", -1)},
                                 timeout_ms=COMMIT_TIMEOUT_MS)
        except CommitFailedError:
            # The partition moved to another consumer during a rebalance; it will
            # redeliver from the last commit and the inbox makes that a no-op.
            log.warning("offset commit failed after a rebalance",
                        extra={"topic": last.topic, "partition": last.partition})
            return
        except KafkaError as exc:
            # Handled but not committed: a later commit covers it, and a redelivery after
            # the outage is a no-op (the inbox).
            backoff.wait(stop, exc)
            return
        backoff.succeeded()

    def process_together(self, records: list[ConsumerRecord]) -> None:
        """Every record in one unit of work (each with its span); any failure rolls back all."""
        outcomes: list[tuple[str, str, float]] = []
        try:
            with self.runtime.unit_of_work() as uow:
                all_headers = [events.header_map(record.headers) for record in records]
                inbox = _Inbox(uow, self.runtime.tables.inbox, all_headers)
                for record, headers in zip(records, all_headers, strict=True):
                    started = time.monotonic()
                    with self._span(record, headers) as span:
                        outcome = self._apply(uow, record, headers, span, inbox)
                    outcomes.append((record.topic, outcome, time.monotonic() - started))
                inbox.write()
        except Exception as exc:
            if database_unavailable(exc):
                raise DatabaseUnavailable(type(exc).__name__) from exc
            raise
        for topic, outcome, seconds in outcomes:  # counted once the transaction committed
            metrics.HANDLER_DURATION.record(seconds, {"topic": topic})
            metrics.EVENTS_CONSUMED.add(1, {"topic": topic, "outcome": outcome})

    def _span(self, record: ConsumerRecord, headers: dict[str, bytes]) -> Any:
        return tracer.start_as_current_span(
            f"{record.topic} process",
            context=telemetry.extract_context(headers),
            kind=SpanKind.CONSUMER,
            attributes={
                "messaging.system": "kafka",
                "messaging.operation.type": "process",
                "messaging.destination.name": record.topic,
                "messaging.kafka.destination.partition": record.partition,
                "messaging.kafka.message.offset": record.offset,
                "messaging.kafka.message.key": (record.key or b"").decode("utf-8", "replace"),
                "messaging.consumer.group.name": group_id(self.runtime.service),
            },
        )

    def process(self, record: ConsumerRecord) -> None:
        headers = events.header_map(record.headers)
        with self._span(record, headers) as span:
            error: BaseException | None = None
            started = time.monotonic()
            for attempt in range(1, self.max_attempts + 1):
                try:
                    outcome = self._handle_once(record, headers, span)
                    metrics.HANDLER_DURATION.record(time.monotonic() - started,
                                                    {"topic": record.topic})
                    metrics.EVENTS_CONSUMED.add(1, {"topic": record.topic, "outcome": outcome})
                    return
                except Exception as exc:
                    if database_unavailable(exc):
                        span.set_status(Status(StatusCode.ERROR, "database unavailable"))
                        raise DatabaseUnavailable(type(exc).__name__) from exc
                    error = exc
                    log.warning(
                        "event handling failed",
                        extra={"topic": record.topic, "partition": record.partition,
                               "offset": record.offset, "attempt": attempt,
                               "reason_code": error_summary(exc)},
                    )
                    if attempt < self.max_attempts:
                        time.sleep(self.backoff_s * 2 ** (attempt - 1))
            assert error is not None
            span.set_status(Status(StatusCode.ERROR, error_summary(error)))
            self.dead_letter(record, error)
            metrics.EVENTS_CONSUMED.add(1, {"topic": record.topic, "outcome": "dead_lettered"})

    def _handle_once(self, record: ConsumerRecord, headers: dict[str, bytes], span: Any) -> str:
        with self.runtime.unit_of_work() as uow:
            inbox = _Inbox(uow, self.runtime.tables.inbox, [headers])
            outcome = self._apply(uow, record, headers, span, inbox)
            inbox.write()
            return outcome

    def _apply(self, uow: UnitOfWork, record: ConsumerRecord, headers: dict[str, bytes],
               span: Any, inbox: _Inbox) -> str:
        """Decode, dedupe by the inbox and handle one record in `uow`; returns the outcome for
        the metrics (handled, duplicate, ignored). The inbox row goes in with the chunk's, in
        the same transaction as what the handler wrote."""
        event = events.decode(headers, record.key, record.value)
        span.set_attribute("messaging.message.id", event.id)
        span.set_attribute("cloudevents.event_type", event.type)
        handler = self.handlers.get(event.type)
        if handler is None:
            return "ignored"  # another version or type on a shared topic: not ours
        if not inbox.first_time(event, record.topic):
            span.set_attribute("marac.duplicate", True)
            return "duplicate"
        handler(uow, event)
        return "handled"

    def dead_letter(self, record: ConsumerRecord, error: BaseException) -> None:
        original = [(k, v) for k, v in (record.headers or []) if k not in DLQ_HEADERS]
        extra = [
            ("dlq_error", error_summary(error).encode()),
            ("dlq_topic", record.topic.encode()),
            ("dlq_partition", str(record.partition).encode()),
            ("dlq_offset", str(record.offset).encode()),
            ("dlq_attempts", str(self.max_attempts).encode()),
            ("dlq_service", self.runtime.service.encode()),
        ]
        self.producer.send(
            events.dlq_topic(record.topic), key=record.key, value=record.value,
            headers=original + extra,
        ).get(timeout=30)
        log.error(
            "event sent to the dead-letter topic",
            extra={"topic": record.topic, "partition": record.partition, "offset": record.offset,
                   "reason_code": error_summary(error)},
        )

