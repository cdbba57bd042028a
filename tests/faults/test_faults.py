"""Nothing lost, nothing doubled, when processes, the broker or the database die mid-burst.

Each scenario sends a burst of referrals (an Idempotency-Key each, retried by the client as a
real one would), does its damage while they are in flight, then counts: every accepted referral
has exactly one case, one MARAC date (the same in referral, scheduling and actions), one
case-list entry, one case record and one notification sent (one distinct e-mail) to its
referrer's agency; no extra referral or case exists; every service answers /readyz again by
itself. The counts cover every scenario so far, so a later fault cannot double an earlier
burst unseen. Scenarios share one running platform (tests/faults/conftest.py).
"""

from __future__ import annotations

import signal
import time
import uuid

import pytest

from marac_devinfra.kafka import LocalKafka
from marac_devinfra.postgres import LocalPostgres
from marac_platform import events
from marac_platform.settings import SERVICES
from services.registry import SERVICES as DECLARED
from tests.faults.stack import Burst, Stack, report, settled
from tests.support.kafka_tools import PATIENCE, produce, read_all, wait_for

pytestmark = pytest.mark.e2e

SETTLE_S = 40.0  # x PATIENCE (tests/support/kafka_tools.py)


def finish(name: str, stack: Stack, burst: Burst, extra: str = "") -> None:
    burst.join()
    assert not burst.refused, f"referrals refused: {burst.refused[:5]}"
    assert not stack.supervisor_error, stack.supervisor_error
    counts = settled(stack, burst.accepted, SETTLE_S)
    wait_for(stack.all_ready, 30, interval_s=0.5)  # every service ready again, by itself
    report(name, burst, counts, extra)
    assert counts.referrals == len(stack.accepted)
    assert counts.referral_rows_total == counts.cases_total == counts.referrals
    assert counts.case_records == counts.scheduled == counts.with_date == counts.referrals
    assert counts.emails == counts.deliveries_sent == counts.referrals + counts.moves


def test_sigkill_each_worker_in_turn(stack: Stack) -> None:
    burst = Burst(stack).start()
    burst.wait_answered(burst.size // 6)
    for service in SERVICES:
        name = f"{service}-worker"
        pid = stack.signal(name, signal.SIGKILL)
        wait_for(lambda name=name, pid=pid: stack.restarted(name, pid), 30, interval_s=0.1)
    finish("SIGKILL each worker", stack, burst, f"workers killed: {len(SERVICES)}")


def test_sigkill_web_mid_request(stack: Stack) -> None:
    burst = Burst(stack).start()
    burst.wait_answered(burst.size // 4)
    wait_for(lambda: burst.in_flight > 0, 10, interval_s=0.005)
    in_flight = burst.in_flight
    pid = stack.signal("referral-web", signal.SIGKILL)
    wait_for(lambda: stack.restarted("referral-web", pid), 30, interval_s=0.1)
    finish("SIGKILL referral web mid-request", stack, burst,
           f"requests in flight at the kill: {in_flight}")


def test_kafka_broker_stopped_and_restarted(stack: Stack, fault_broker: LocalKafka) -> None:
    burst = Burst(stack).start()
    burst.wait_answered(burst.size // 4)
    fault_broker.stop()
    try:
        burst.wait_answered(burst.size // 2)  # the intake goes on: events wait in the outbox
    finally:  # up again whatever happened, or every later scenario fails with it
        fault_broker.start(timeout=120 * PATIENCE)
    finish("Kafka broker stopped and restarted", stack, burst)


def test_postgres_stopped_and_restarted(stack: Stack, fault_postgres: LocalPostgres) -> None:
    burst = Burst(stack).start()
    burst.wait_answered(burst.size // 4)
    fault_postgres.stop()
    try:
        before = sum(burst.retries.values())
        wait_for(lambda: sum(burst.retries.values()) > before, 30, interval_s=0.05)  # refused
    finally:
        fault_postgres.start()
    for engine in stack.engines.values():
        engine.dispose()
    finish("PostgreSQL stopped and restarted", stack, burst)
    # An outage is answered 503 with Retry-After (the client may try again), never a 500.
    assert "http 500" not in burst.retries, dict(burst.retries)


def consumed_topics() -> dict[str, list[str]]:
    """Each topic some service consumes, with the services consuming it."""
    readers: dict[str, list[str]] = {}
    for name in SERVICES:
        for event_type in DECLARED[name].handlers:
            topic = events.kafka_topic(events.spec_for(event_type).topic)
            if name not in readers.setdefault(topic, []):
                readers[topic].append(name)
    return readers


def poison(stack: Stack, topic: str, event_type: str) -> str:
    """A record that cannot be read (its value is not JSON); returns its key."""
    key = f"poison-{uuid.uuid4().hex[:8]}"
    headers = {"ce_id": str(uuid.uuid4()), "ce_type": event_type, "ce_source": "/fault-test",
               "ce_specversion": "1.0", "ce_subject": key, "ce_maracarea": stack.areas[0],
               "content-type": "application/json"}
    produce(stack.env["KAFKA_BOOTSTRAP_SERVERS"], topic, b"{not json", key.encode(),
            [(k, v.encode()) for k, v in headers.items()])
    return key


def test_poison_event_on_each_consumed_topic(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MARAC_TOPIC_PREFIX", stack.env["MARAC_TOPIC_PREFIX"])
    readers = consumed_topics()
    types = {events.kafka_topic(spec.topic): event_type
             for event_type, spec in events.CATALOG.items()}
    burst = Burst(stack).start()
    burst.wait_answered(burst.size // 4)
    planted = {topic: poison(stack, topic, types[topic]) for topic in sorted(readers)}
    bootstrap = stack.env["KAFKA_BOOTSTRAP_SERVERS"]

    def dead_lettered() -> dict[str, set[str]]:
        found: dict[str, set[str]] = {}
        for topic, key in planted.items():
            for record in read_all(bootstrap, events.dlq_topic(topic), idle_s=0.3):
                if record.key == key.encode():
                    headers = dict(record.headers or [])
                    found.setdefault(topic, set()).add(headers["dlq_service"].decode())
        return found if all(found.get(t, set()) >= set(readers[t]) for t in planted) else {}

    found = wait_for(dead_lettered, SETTLE_S, interval_s=1.0)
    for topic, services in readers.items():
        assert found[topic] == set(services), (topic, found.get(topic))
    entries = sum(len(s) for s in found.values())
    finish("poison event on each consumed topic", stack, burst,
           f"poison events {len(planted)} on {len(planted)} topics, DLQ entries {entries} "
           f"(one per consuming service)")


def test_sigterm_every_process_as_a_rolling_restart(stack: Stack) -> None:
    burst = Burst(stack).start()
    burst.wait_answered(burst.size // 6)
    restarted = 0
    started = time.monotonic()
    for process in list(stack.platform.processes):
        pid = stack.signal(process.name, signal.SIGTERM)
        wait_for(lambda name=process.name, pid=pid: stack.restarted(name, pid), 40, interval_s=0.1)
        restarted += 1
    finish("SIGTERM every process (rolling restart)", stack, burst,
           f"processes restarted: {restarted} in {time.monotonic() - started:.1f}s")
