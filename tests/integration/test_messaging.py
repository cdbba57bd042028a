"""Delivery guarantees over the real broker and PostgreSQL: outbox, inbox, dead letters."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import date
from typing import Any

import psycopg
import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from marac_platform import events
from marac_platform import kafka as platform_kafka
from marac_platform.consumer import EventConsumer
from marac_platform.runtime import Runtime
from marac_platform.settings import load_settings
from services.actions import handlers as actions_handlers
from services.actions.models import TABLES as ACTIONS_TABLES
from services.actions.models import CaseRecord
from services.actions.wiring import SERVICE as ACTIONS
from tests.conftest import PlatformEnv
from tests.support.kafka_tools import produce, read_all, wait_for

pytestmark = pytest.mark.integration


def scheduled_data(case_id: str) -> dict[str, Any]:
    return {
        "case_id": case_id, "referral_id": f"ref-{case_id}", "area_id": "northshire",
        "meeting_id": "northshire-2026-12-08", "marac_date": "2026-12-08",
        "meeting_start": "2026-12-08T10:00:00+00:00", "model": "meeting", "slot_index": 0,
        "slot_start": "2026-12-08T10:00:00+00:00", "target_date": "2027-01-05",
        "beyond_target": False, "referrer_agency": "police",
    }


def wire(message: events.Message) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    headers = [(k, v.encode()) for k, v in message.headers.items()]
    return message.value, message.key.encode(), headers


@pytest.fixture
def actions_runtime(platform_env: PlatformEnv) -> Iterator[Runtime]:
    runtime = Runtime(ACTIONS, settings=load_settings("actions"))
    yield runtime
    runtime.db.dispose()


def run_consumer(runtime: Runtime, until: Any, timeout_s: float = 60.0) -> None:
    """The real consumer loop in a thread, against the real broker, until `until()` holds."""
    settings = runtime.settings.kafka
    handlers = actions_handlers.HANDLERS
    consumer = platform_kafka.consumer(settings, f"{events.kafka_topic('test')}-actions",
                                       *EventConsumer.topics_for(handlers))
    producer = platform_kafka.producer(settings, "test-actions")
    stop = threading.Event()
    thread = threading.Thread(
        target=EventConsumer(runtime, handlers, consumer, producer).run, args=(stop,))
    thread.start()
    try:
        wait_for(until, timeout_s)
    finally:
        stop.set()
        thread.join(30)
        consumer.close()
        producer.close()


def test_relay_killed_between_commit_and_publish_publishes_once_after_restart(
    platform_env: PlatformEnv, actions_runtime: Runtime
) -> None:
    with actions_runtime.unit_of_work() as uow:
        event_id = uow.publish(events.ACTION_CASE_OPENED, subject="case-1", area="northshire",
                               data={"case_id": "case-1", "referral_id": "ref-1",
                                     "area_id": "northshire", "meeting_id": "m-1",
                                     "marac_date": date(2026, 12, 8).isoformat()})
    topic = events.kafka_topic("action.case_opened")
    worker = [sys.executable, "-m", "services", "worker", "actions"]
    env = {**platform_env.env, "MARAC_FAULT": "relay.before_publish"}
    crashed = subprocess.run(worker, env=env, capture_output=True, timeout=120)
    assert crashed.returncode == 86, crashed.stderr[-2000:]
    assert read_all(platform_env.env["KAFKA_BOOTSTRAP_SERVERS"], topic) == []

    restarted = subprocess.Popen(worker, env=platform_env.env, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
    outbox = ACTIONS_TABLES.outbox
    try:
        def sent() -> bool:
            with actions_runtime.db.engine.connect() as connection:
                return connection.execute(
                    select(outbox.c.sent_at).where(outbox.c.event_id == event_id)
                ).scalar() is not None

        wait_for(sent, 60)
    finally:
        restarted.terminate()
        assert restarted.wait(60) == 0
    records = read_all(platform_env.env["KAFKA_BOOTSTRAP_SERVERS"], topic)
    ids = [dict(r.headers)["ce_id"].decode() for r in records]
    assert ids == [event_id]
    # The relay continued the trace of the unit of work that wrote the row.
    assert "traceparent" in dict(records[0].headers)


def test_redelivered_event_has_no_second_effect(
    platform_env: PlatformEnv, actions_runtime: Runtime
) -> None:
    message = events.new_message(events.CASE_SCHEDULED, source="/test", subject="case-2",
                                 area="northshire", data=scheduled_data("case-2"))
    value, key, headers = wire(message)
    bootstrap = platform_env.env["KAFKA_BOOTSTRAP_SERVERS"]
    produce(bootstrap, message.topic, value, key, headers)
    produce(bootstrap, message.topic, value, key, headers)  # the same event id, again

    inbox = ACTIONS_TABLES.inbox

    def both_seen() -> bool:
        with actions_runtime.db.engine.connect() as connection:
            return connection.execute(select(func.count()).select_from(inbox)).scalar() == 1

    run_consumer(actions_runtime, both_seen)
    # Give the second copy time to be processed, then check the effect happened once.
    run_consumer(actions_runtime, lambda: True)
    with actions_runtime.unit_of_work() as uow:
        assert uow.session.scalar(select(func.count()).select_from(CaseRecord)) == 1
        outbox = ACTIONS_TABLES.outbox
        opened = uow.session.scalar(select(func.count()).select_from(outbox))
        assert opened == 1


def test_poison_message_goes_to_dead_letters_and_consumer_moves_on(
    platform_env: PlatformEnv, actions_runtime: Runtime
) -> None:
    bootstrap = platform_env.env["KAFKA_BOOTSTRAP_SERVERS"]
    topic = events.kafka_topic("case.scheduled")
    produce(bootstrap, topic, b"{not json", b"case-bad", [
        ("ce_id", b"bad-1"), ("ce_type", b"marac.case.scheduled.v1"), ("ce_source", b"/test"),
        ("ce_specversion", b"1.0"), ("ce_subject", b"case-bad"), ("ce_maracarea", b"northshire")])
    good = events.new_message(events.CASE_SCHEDULED, source="/test", subject="case-3",
                              area="northshire", data=scheduled_data("case-3"))
    value, key, headers = wire(good)
    produce(bootstrap, topic, value, key, headers)

    def good_handled() -> bool:
        with actions_runtime.unit_of_work() as uow:
            return uow.session.get(CaseRecord, "case-3") is not None

    run_consumer(actions_runtime, good_handled)
    letters = read_all(bootstrap, events.dlq_topic(topic))
    assert len(letters) == 1
    letter_headers = dict(letters[0].headers)
    assert letters[0].value == b"{not json"
    assert letter_headers["dlq_error"] == b"MalformedEvent: value is not JSON"
    assert letter_headers["dlq_attempts"] == b"3"
    assert letter_headers["dlq_topic"] == topic.encode()

    cli = [sys.executable, "-m", "services", "dlq"]
    listed = subprocess.run([*cli, "list", "case.scheduled"], env=platform_env.env,
                            capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0, listed.stderr
    assert "1 dead letter(s)" in listed.stdout
    assert "MalformedEvent" in listed.stdout
    replayed = subprocess.run([*cli, "replay", "case.scheduled"], env=platform_env.env,
                              capture_output=True, text=True, timeout=60)
    assert replayed.returncode == 0, replayed.stderr
    back = [r for r in read_all(bootstrap, topic) if r.value == b"{not json"]
    assert len(back) == 2  # the original and the replayed copy
    assert "dlq_error" not in dict(back[-1].headers)


def test_unknown_dlq_topic_is_a_clear_error(platform_env: PlatformEnv) -> None:
    result = subprocess.run([sys.executable, "-m", "services", "dlq", "list", "nope"],
                            env=platform_env.env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "unknown event family" in result.stderr
    assert os.environ.get("MARAC_TOPIC_PREFIX") == platform_env.prefix


def test_event_waits_out_a_database_outage_instead_of_being_dead_lettered(
    platform_env: PlatformEnv, actions_runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    """The handler's database refuses connections for longer than every retry takes (the
    consumer used to dead-letter the event, losing it): it is handled once it answers again."""
    bootstrap = platform_env.env["KAFKA_BOOTSTRAP_SERVERS"]
    database = make_url(platform_env.database_url("actions")).database
    server = platform_env.postgres
    admin = psycopg.connect(host=server.host, port=server.port, user=server.user,
                            password=server.password, dbname="postgres", autocommit=True)
    topic = events.kafka_topic("case.scheduled")
    good = events.new_message(events.CASE_SCHEDULED, source="/test", subject="case-4",
                              area="northshire", data=scheduled_data("case-4"))
    value, key, headers = wire(good)
    outage = {"on": True}
    try:
        admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false')
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                      "WHERE datname = %s AND pid <> pg_backend_pid()", (database,))
        actions_runtime.db.engine.dispose()
        produce(bootstrap, topic, value, key, headers)

        def retried() -> int:
            return sum("database unavailable; retrying" in r.getMessage() for r in caplog.records)

        def handled_or_lost() -> bool:
            if outage["on"] and retried() >= 2:  # longer than the 3 attempts' backoff
                admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true')
                outage["on"] = False
            if read_all(bootstrap, events.dlq_topic(topic), idle_s=0.2):
                return True
            if outage["on"]:
                return False
            with actions_runtime.unit_of_work() as uow:
                return uow.session.get(CaseRecord, "case-4") is not None

        with caplog.at_level("WARNING"):
            run_consumer(actions_runtime, handled_or_lost)
    finally:
        admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true')
        admin.close()
    assert read_all(bootstrap, events.dlq_topic(topic)) == []
    with actions_runtime.unit_of_work() as uow:
        assert uow.session.get(CaseRecord, "case-4") is not None
