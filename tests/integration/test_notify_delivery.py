"""Notify's deliveries over a real SMTP server, real worker processes, Kafka and the database.

A worker killed between a send and its record must not re-send what it had recorded, and what
it re-sends (an unknown outcome) carries the same Message-ID; two replicas never share a send.
Run on PostgreSQL and on SQLite (the default of `./dev run`).
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from marac_platform import events, migrations, payloads
from marac_platform.runtime import Runtime
from marac_platform.settings import load_settings, settings_for
from services.notify import delivery, service
from services.notify.models import Delivery
from services.notify.wiring import SERVICE as NOTIFY
from tests.conftest import PlatformEnv
from tests.support.kafka_tools import read_all, wait_for
from tests.support.smtp import SmtpServer

pytestmark = pytest.mark.integration

WORKER = [sys.executable, "-m", "services", "worker", "notify"]


@pytest.fixture(params=["postgresql", "sqlite"])
def notify_env(request: pytest.FixtureRequest, platform_env: PlatformEnv, tmp_path: Path,
               monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    env = dict(platform_env.env)
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'notify.db'}"
        env["NOTIFY_DATABASE_URL"] = url
        monkeypatch.setenv("NOTIFY_DATABASE_URL", url)
        settings_for.cache_clear()
        migrations.upgrade(NOTIFY, url)
    yield env


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


@pytest.fixture
def runtime(notify_env: dict[str, str], smtp: SmtpServer) -> Iterator[Runtime]:
    notify_env.update({**smtp.env(), "MARAC_NOTIFY_CLAIM_TIMEOUT_S": "2"})
    created = Runtime(NOTIFY, settings=load_settings("notify", notify_env))
    yield created
    created.db.dispose()


def queue_deliveries(runtime: Runtime, count: int) -> list[str]:
    """`count` case.scheduled events handled by notify's real handler: one e-mail each."""
    for n in range(count):
        message = events.new_message(
            events.CASE_SCHEDULED, source="/test", subject=f"case-{n}", area="northshire",
            data={"case_id": f"case-{n}", "referral_id": f"ref-{n}", "area_id": "northshire",
                  "meeting_id": "northshire-2026-12-08", "marac_date": "2026-12-08",
                  "meeting_start": "2026-12-08T10:00:00+00:00", "model": "meeting",
                  "slot_index": n, "slot_start": "2026-12-08T10:00:00+00:00",
                  "target_date": "2027-01-05", "beyond_target": False,
                  "referrer_agency": "police"})
        headers = {k: v.encode() for k, v in message.headers.items()}
        event = events.decode(headers, message.key.encode(), message.value)
        with runtime.unit_of_work() as uow:
            service.on_event(uow, event)
    with runtime.unit_of_work() as uow:
        ids = list(uow.session.scalars(select(Delivery.id).order_by(Delivery.created_at)))
    assert len(ids) == count
    return ids


def deliveries(runtime: Runtime) -> dict[str, Delivery]:
    with runtime.unit_of_work() as uow:
        return {item.id: item for item in uow.session.scalars(select(Delivery))}


def message_ids(smtp: SmtpServer) -> Counter[str]:
    return Counter(str(message["Message-ID"]) for message in list(smtp.inbox.messages))


def start_worker(env: dict[str, str], log: Path, **extra: str) -> subprocess.Popen[bytes]:
    with log.open("ab") as handle:
        return subprocess.Popen(WORKER, env={**env, **extra}, stdout=handle,
                                stderr=subprocess.STDOUT)


def stop_worker(process: subprocess.Popen[bytes], log: Path) -> None:
    process.terminate()
    try:
        code = process.wait(60)
    except subprocess.TimeoutExpired:
        process.kill()
        code = process.wait(10)
    assert code == 0, log.read_text()[-3000:]


def sent_events(env: dict[str, str]) -> Counter[str]:
    """Distinct notification.sent events per delivery (the relay may publish one twice after
    the kill; consumers dedupe those by event id)."""
    topic = events.kafka_topic("notification.sent")
    seen: set[tuple[str, str]] = set()
    for record in read_all(env["KAFKA_BOOTSTRAP_SERVERS"], topic):
        event = events.decode(events.header_map(record.headers), record.key, record.value)
        seen.add((event.payload(payloads.NotificationSent).notification_id, event.id))
    return Counter(notification for notification, _ in seen)


def test_worker_killed_after_a_send_resends_only_that_one_with_the_same_message_id(
    runtime: Runtime, notify_env: dict[str, str], smtp: SmtpServer, tmp_path: Path
) -> None:
    ids = queue_deliveries(runtime, 12)
    log = tmp_path / "worker.log"
    crashed = start_worker(notify_env, log, MARAC_FAULT="notify.after_send:5")
    code = crashed.wait(90)
    assert code == -signal.SIGKILL, log.read_text()[-3000:]

    # Killed mid-batch: four sent and recorded, the fifth sent but not recorded, the rest queued.
    at_crash = deliveries(runtime)
    by_status = Counter(item.status for item in at_crash.values())
    assert by_status == {"sent": 4, "sending": 1, "queued": 7}, by_status
    (unknown,) = [item.id for item in at_crash.values() if item.status == "sending"]
    recorded = {item.id for item in at_crash.values() if item.status == "sent"}
    assert sum(message_ids(smtp).values()) == 5

    restarted = start_worker(notify_env, log)
    try:
        wait_for(lambda: all(item.status == "sent" for item in deliveries(runtime).values()), 60)
        wait_for(lambda: len(sent_events(notify_env)) == len(ids), 30)
    finally:
        stop_worker(restarted, log)

    received = message_ids(smtp)
    assert set(received) == {delivery.message_id(item) for item in ids}  # every e-mail arrived
    resent = {mid for mid, times in received.items() if times > 1}
    assert resent == {delivery.message_id(unknown)}  # the same Message-ID: the receiver dedupes
    assert received[delivery.message_id(unknown)] == 2
    assert all(received[delivery.message_id(item)] == 1 for item in recorded)
    final = deliveries(runtime)
    assert (final[unknown].attempts, final[unknown].error) == (2, "outcome_unknown")
    assert all(final[item].attempts == 1 for item in ids if item != unknown)
    assert all(item.claimed_at is None for item in final.values())
    assert sent_events(notify_env) == dict.fromkeys(ids, 1)  # one notification.sent each


def test_two_worker_replicas_send_each_delivery_once(
    runtime: Runtime, notify_env: dict[str, str], smtp: SmtpServer, tmp_path: Path
) -> None:
    ids = queue_deliveries(runtime, 30)
    logs = [tmp_path / "worker-a.log", tmp_path / "worker-b.log"]
    # A claim outlives any send here: only a dead worker's claim is retaken (the default is
    # 120 s; the 2 s of the crash test would let a send slowed by a busy machine be retaken).
    workers = [start_worker(notify_env, log, MARAC_NOTIFY_CLAIM_TIMEOUT_S="60") for log in logs]
    try:
        wait_for(lambda: all(item.status == "sent" for item in deliveries(runtime).values()), 60)
    finally:
        for process, log in zip(workers, logs, strict=True):
            stop_worker(process, log)
    received: dict[str, Any] = dict(message_ids(smtp))
    assert received == {delivery.message_id(item): 1 for item in ids}
    assert {item.attempts for item in deliveries(runtime).values()} == {1}


def test_a_sent_e_mail_is_recorded_even_when_the_claim_it_went_with_fails(
    runtime: Runtime, smtp: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An outcome rides with the next claim's transaction: if that fails, it is recorded on its
    own, so the e-mail is not sent again after the claim timeout."""
    queue_deliveries(runtime, 3)
    real_claim = service.claim
    claimed: list[str] = []

    def claim_failing_second(uow: Any, delivery_id: str, timeout: Any) -> Delivery | None:
        claimed.append(delivery_id)
        if len(claimed) == 2:
            raise OperationalError("UPDATE deliveries", {}, Exception("connection lost"))
        return real_claim(uow, delivery_id, timeout)

    monkeypatch.setattr(service, "claim", claim_failing_second)
    with pytest.raises(OperationalError):
        service.deliver_due(runtime)
    found = deliveries(runtime)
    assert found[claimed[0]].status == "sent"
    assert Counter(item.status for item in found.values()) == {"sent": 1, "queued": 2}
    assert message_ids(smtp) == {delivery.message_id(claimed[0]): 1}

    monkeypatch.setattr(service, "claim", real_claim)
    assert service.deliver_due(runtime) == 2
    assert message_ids(smtp) == {delivery.message_id(item): 1 for item in found}
