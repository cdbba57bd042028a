"""Transactional outbox: events are rows written with the state change, then relayed to Kafka."""

from __future__ import annotations

import functools
import logging
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import psycopg
from kafka import KafkaProducer
from opentelemetry import trace
from opentelemetry.trace import SpanKind
from sqlalchemy import Table, bindparam, event, func, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, SessionTransaction
from sqlalchemy.sql.dml import Insert

from marac_platform import metrics, telemetry
from marac_platform.backoff import Backoff
from marac_platform.db import RELAYED_HERE, Database, PlatformTables, utcnow
from marac_platform.events import Message, new_message
from marac_platform.faults import FAULT_ENV
from marac_platform.payloads import Payload

log = logging.getLogger(__name__)
tracer = trace.get_tracer("marac_platform.outbox")

# Test-only fault injection: the relay process exits after reading committed rows and before
# publishing them, as a crash or a kill would.
FAULT_RELAY_BEFORE_PUBLISH = "relay.before_publish"

# PostgreSQL: a transaction that queued an event notifies this channel at its commit (never
# if it rolls back), so the relay of another process (the worker, for the web's rows) wakes
# at once instead of at its next poll.
NOTIFY_CHANNEL = "marac_outbox"
# After sending some rows, how long the relay waits before reading again (see `run`).
RELAY_LINGER_S = 0.01


@dataclass
class _Queued:
    """The rows a transaction queued, written together just before it commits."""

    transaction: SessionTransaction
    table: Table
    rows: list[dict[str, Any]]


_QUEUED = "marac_outbox_queued"


def add(session: Session, tables: PlatformTables, message: Message) -> None:
    """Queue `message` in the caller's transaction, with the current trace context.

    The row is written with the transaction's others in one statement as it commits (a
    handler that publishes three events per record, twenty records to a transaction, made
    sixty round trips), so it commits with the state change or not at all, as before.
    """
    headers = dict(message.headers)
    headers.update(telemetry.inject_context())
    row = {"event_id": message.event_id, "topic": message.topic, "message_key": message.key,
           "headers": headers, "value": message.value, "created_at": utcnow(), "sent_at": None}
    session.connection()  # begins the transaction if nothing else has yet
    transaction = session.get_transaction()
    if transaction is None:  # connection() began one: never here
        raise RuntimeError("no transaction to queue the event in")
    queued: _Queued | None = session.info.get(_QUEUED)
    if queued is None or queued.transaction is not transaction:
        # Rows of a transaction that ended without committing went with it.
        queued = session.info[_QUEUED] = _Queued(transaction, tables.outbox, [])
    queued.rows.append(row)


@event.listens_for(Session, "before_commit")
def _write_queued(session: Session) -> None:
    queued: _Queued | None = session.info.get(_QUEUED)
    if queued is None or queued.transaction is not session.get_transaction():
        return
    del session.info[_QUEUED]
    session.execute(_insert(queued.table), queued.rows)
    if session.get_bind().dialect.name == "postgresql" and not session.info.get(RELAYED_HERE):
        # At its commit (never on a rollback), whoever LISTENs wakes: one per transaction. Not
        # from a worker: its own relay, woken in-process, publishes them (a round trip saved
        # per transaction, a wake-up saved in every listener).
        session.execute(_NOTIFY)


_NOTIFY = text(f"NOTIFY {NOTIFY_CHANNEL}")


@functools.cache
def _insert(table: Table) -> Insert:
    return table.insert()


@event.listens_for(Session, "after_soft_rollback")
def _drop_queued(session: Session, previous: SessionTransaction) -> None:
    queued: _Queued | None = session.info.get(_QUEUED)
    if queued is not None and queued.transaction is previous:
        del session.info[_QUEUED]


def publish(
    session: Session,
    tables: PlatformTables,
    event_type: str,
    *,
    source: str,
    subject: str,
    area: str,
    data: Mapping[str, Any] | Payload,
) -> str:
    """Build, validate and queue one event; returns its id."""
    message = new_message(event_type, source=source, subject=subject, area=area, data=data)
    add(session, tables, message)
    return message.event_id


class OutboxRelay:
    """Publishes unsent outbox rows in id order, then marks them sent.

    A crash after publishing and before marking re-sends the rows: consumers dedupe by event id.
    On PostgreSQL, FOR UPDATE SKIP LOCKED lets several worker replicas relay side by side.
    """

    def __init__(
        self,
        db: Database,
        tables: PlatformTables,
        producer: KafkaProducer,
        batch_size: int = 100,
        send_timeout_s: float = 30.0,
    ) -> None:
        self.db = db
        self.tables = tables
        self.producer = producer
        self.batch_size = batch_size
        self.send_timeout_s = send_timeout_s
        self.fault = os.environ.get(FAULT_ENV, "")
        self.beat: Callable[[], None] = lambda: None  # the worker's liveness heartbeat
        # Built once: constructing a statement and its cache key took longer than running it.
        outbox = tables.outbox
        unsent = (select(outbox.c.id, outbox.c.event_id, outbox.c.topic, outbox.c.message_key,
                         outbox.c.headers, outbox.c.value)
                  .where(outbox.c.sent_at.is_(None)).order_by(outbox.c.id).limit(batch_size))
        self._unsent = unsent.with_for_update(skip_locked=True) if db.is_postgres else unsent
        self._mark_sent = (update(outbox).where(outbox.c.id.in_(bindparam("ids", expanding=True)))
                           .values(sent_at=bindparam("now")))

    def backlog(self) -> tuple[int, float]:
        """Unsent rows and the age in seconds of the oldest (0 when none): for the metrics."""
        outbox = self.tables.outbox
        with self.db.unit_of_work() as session:
            count, oldest = session.execute(
                select(func.count(), func.min(outbox.c.created_at))
                .where(outbox.c.sent_at.is_(None))).one()
        age = (utcnow() - oldest).total_seconds() if oldest is not None else 0.0
        return int(count), max(0.0, age)

    def run_once(self) -> int:
        with self.db.unit_of_work() as session:
            rows = session.execute(self._unsent).all()
            if not rows:
                return 0
            if self.fault == FAULT_RELAY_BEFORE_PUBLISH:
                log.warning("fault injected: relay exits before publishing", extra={"count": len(rows)})
                os._exit(86)
            futures = []
            for row in rows:
                futures.append(self._send(row.topic, row.message_key, row.headers, row.value,
                                          row.event_id))
            self.producer.flush(timeout=self.send_timeout_s)
            try:
                for future in futures:
                    future.get(timeout=self.send_timeout_s)  # raises: the transaction rolls back
            except Exception:
                for row in rows:
                    metrics.EVENTS_PRODUCED.add(1, {"topic": row.topic, "outcome": "failed"})
                raise
            for row in rows:
                metrics.EVENTS_PRODUCED.add(1, {"topic": row.topic, "outcome": "sent"})
            session.execute(self._mark_sent, {"ids": [row.id for row in rows], "now": utcnow()})
        return len(rows)

    def _send(
        self, topic: str, key: str | None, headers: dict[str, str], value: bytes, event_id: str
    ) -> Any:
        parent = telemetry.extract_context(headers)
        with tracer.start_as_current_span(
            f"{topic} publish",
            context=parent,
            kind=SpanKind.PRODUCER,
            attributes={
                "messaging.system": "kafka",
                "messaging.operation.type": "publish",
                "messaging.destination.name": topic,
                "messaging.message.id": event_id,
                "messaging.kafka.message.key": key or "",
            },
        ):
            wire_headers = {k: v for k, v in headers.items() if k not in ("traceparent", "tracestate")}
            wire_headers.update(telemetry.inject_context())  # the consumer continues from here
            return self.producer.send(
                topic,
                key=key.encode("utf-8") if key else None,
                value=value,
                headers=[(k, v.encode("utf-8")) for k, v in wire_headers.items()],
            )

    def run(self, stop: threading.Event, poll_s: float,
            wake: threading.Event | None = None) -> None:
        """Relay until `stop`; an unreachable broker (or database) is retried with capped
        backoff, so the relay resumes by itself when it is back. Unsent rows stay queued.
        `wake` (set when this process commits outbox rows, or another process's commit is
        signalled: LISTEN/NOTIFY, marac_platform.outbox_wake) ends an idle wait at once; the
        poll is the fallback."""
        backoff = Backoff("outbox relay")
        wake = wake or stop
        while not stop.is_set():
            self.beat()
            if wake is not stop:
                wake.clear()  # before reading: a commit from now on wakes the next wait
            try:
                sent = self.run_once()
            except Exception as exc:
                backoff.wait(stop, exc)
                continue
            backoff.succeeded()
            if sent == 0:
                wake.wait(poll_s)
            elif sent < self.batch_size:
                # Busy, not behind: let the commits of the next few milliseconds land, so the
                # next read takes them in one transaction and one produce request instead of
                # one each. An idle relay (nothing sent last time) still wakes at once.
                stop.wait(RELAY_LINGER_S)

    def listen(self, stop: threading.Event, wake: threading.Event) -> None:
        """On PostgreSQL: set `wake` whenever any process commits outbox rows to this database
        (LISTEN/NOTIFY). A lost connection is retried with backoff; the relay polls meanwhile."""
        conninfo = make_url(self.db.url).set(drivername="postgresql").render_as_string(
            hide_password=False)
        backoff = Backoff("outbox listener")
        while not stop.is_set():
            try:
                with psycopg.connect(conninfo, autocommit=True, connect_timeout=5) as connection:
                    connection.execute(f"LISTEN {NOTIFY_CHANNEL}")
                    backoff.succeeded()
                    wake.set()  # whatever was committed while nobody listened
                    while not stop.is_set():
                        for _ in connection.notifies(timeout=1.0):
                            wake.set()
            except psycopg.Error as exc:
                backoff.wait(stop, exc)
