"""Workers outlive the broker: down at their start, or stopped and restarted while they run.

A private broker (not the session one) is stopped and started again on the same port and data
folder; the actions worker runs as a real process against it and PostgreSQL.
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, text

from marac_devinfra.kafka import LocalKafka, ensure_kafka_jars
from marac_platform import events
from marac_platform.ports import free_port
from marac_platform.runtime import Runtime
from marac_platform.settings import load_settings, settings_for
from services.actions.models import CaseRecord
from services.actions.wiring import SERVICE as ACTIONS
from tests.conftest import PlatformEnv, in_process, make_platform_env
from tests.support.infra import PostgresServer
from tests.support.kafka_tools import produce, read_all, wait_for

pytestmark = pytest.mark.integration

WORKER = [sys.executable, "-m", "services", "worker", "actions"]
SESSION_TIMEOUT_S = 6.0  # the broker's minimum; the outages below last longer
# Longer than a consumer's session, and than the 30 s an offset commit waits by default (a
# worker used to exit when that commit failed).
OUTAGE_S = 35.0


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKafka]:
    ensure_kafka_jars(progress=print)
    kafka = LocalKafka(data_dir=tmp_path_factory.mktemp("private-kafka"), port=free_port(),
                       controller_port=free_port())
    kafka.start()
    yield kafka
    kafka.stop()


@pytest.fixture
def env(broker: LocalKafka, postgres: PostgresServer, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> Iterator[PlatformEnv]:
    broker.start()  # a no-op unless a test left it stopped
    created = make_platform_env(broker.bootstrap_servers, postgres, tmp_path,
                                services=("actions",))
    created.env["MARAC_KAFKA_SESSION_TIMEOUT_MS"] = str(int(SESSION_TIMEOUT_S * 1000))
    for key, value in in_process(created.env).items():  # the clock stays this process's
        monkeypatch.setenv(key, value)
    settings_for.cache_clear()
    yield created
    settings_for.cache_clear()


@pytest.fixture
def runtime(env: PlatformEnv) -> Iterator[Runtime]:
    created = Runtime(ACTIONS, settings=load_settings("actions"))
    yield created
    created.db.dispose()


@pytest.fixture
def worker(env: PlatformEnv, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    log = tmp_path / "worker.log"
    with log.open("wb") as handle:
        process = subprocess.Popen(WORKER, env=env.env, stdout=handle, stderr=subprocess.STDOUT)
    try:
        yield process, log
    finally:
        process.terminate()
        try:
            code = process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            code = process.wait(10)
        assert code == 0, log.read_text()[-3000:]


def send_case_scheduled(bootstrap: str) -> str:
    case_id = f"case-{uuid.uuid4().hex[:8]}"
    message = events.new_message(
        events.CASE_SCHEDULED, source="/test", subject=case_id, area="northshire",
        data={"case_id": case_id, "referral_id": f"ref-{case_id}", "area_id": "northshire",
              "meeting_id": "northshire-2026-12-08", "marac_date": "2026-12-08",
              "meeting_start": "2026-12-08T10:00:00+00:00", "model": "meeting",
              "slot_index": 0, "slot_start": "2026-12-08T10:00:00+00:00",
              "target_date": "2027-01-05", "beyond_target": False, "referrer_agency": "police"})
    produce(bootstrap, message.topic, message.value, message.key.encode(),
            [(k, v.encode()) for k, v in message.headers.items()])
    return case_id


def handled(runtime: Runtime, bootstrap: str, case_id: str) -> bool:
    """The case record exists and its action.case_opened event reached the broker (relayed)."""
    with runtime.unit_of_work() as uow:
        if uow.session.scalar(select(CaseRecord).where(CaseRecord.case_id == case_id)) is None:
            return False
    opened = read_all(bootstrap, events.kafka_topic("action.case_opened"), idle_s=0.5)
    return any(record.key == case_id.encode() for record in opened)


def stays_alive(process: subprocess.Popen[bytes], log: Path, seconds: float) -> None:
    """The worker keeps running through `seconds` of outage (it used to exit)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()[-3000:]
        time.sleep(0.5)


def retry_lines(log: Path, reason: str | None = None) -> list[str]:
    return [line for line in log.read_text(errors="replace").splitlines()
            if "unavailable; retrying" in line and (reason is None or reason in line)]


def test_worker_started_without_a_broker_waits_for_it_and_then_works(
    broker: LocalKafka, env: PlatformEnv, runtime: Runtime
) -> None:
    bootstrap = broker.bootstrap_servers
    broker.stop()  # topics were created; now nothing listens on the bootstrap address
    log = Path(env.env["MARAC_DATA_DIR"]) / "worker.log"
    with log.open("wb") as handle:
        process = subprocess.Popen(WORKER, env=env.env, stdout=handle, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: retry_lines(log), 30)  # told, with the reason
        stays_alive(process, log, 8.0)  # longer than a client's bootstrap timeout
        assert '"reason_code": "KafkaTimeoutError"' in "\n".join(retry_lines(log))
        broker.start()
        case_id = send_case_scheduled(bootstrap)
        wait_for(lambda: handled(runtime, bootstrap, case_id), 60, interval_s=0.5)
    finally:
        process.terminate()
        code = process.wait(60)
    assert code == 0, log.read_text()[-3000:]
    assert "kafka producer available again" in log.read_text()


def inbox_waiters(runtime: Runtime) -> int:
    """Transactions of this database waiting for a lock on the inbox table."""
    with runtime.db.engine.connect() as connection:
        return int(connection.execute(text(
            "SELECT count(*) FROM pg_locks l JOIN pg_class c ON l.relation = c.oid "
            "WHERE c.relname = 'inbox' AND NOT l.granted AND l.database = "
            "(SELECT oid FROM pg_database WHERE datname = current_database())")).scalar() or 0)


def test_worker_survives_a_broker_stop_and_restart(
    broker: LocalKafka, env: PlatformEnv, runtime: Runtime,
    worker: tuple[subprocess.Popen[bytes], Path]
) -> None:
    process, log = worker
    bootstrap = broker.bootstrap_servers
    before = send_case_scheduled(bootstrap)
    wait_for(lambda: handled(runtime, bootstrap, before), 60, interval_s=0.5)

    # Hold the next event's handler (a lock on the inbox) until the broker is down, so the
    # worker finishes it and commits its offset in the middle of the outage.
    with runtime.db.engine.connect() as blocker:
        blocker.execute(text("LOCK TABLE inbox IN ACCESS EXCLUSIVE MODE"))
        during = send_case_scheduled(bootstrap)
        wait_for(lambda: inbox_waiters(runtime) > 0, 30)
        broker.stop()
        blocker.commit()
    stays_alive(process, log, OUTAGE_S)
    assert retry_lines(log), log.read_text()[-3000:]  # told, with the reason
    broker.start()  # the same port and data folder
    after = send_case_scheduled(bootstrap)
    wait_for(lambda: handled(runtime, bootstrap, after), 90, interval_s=0.5)
    wait_for(lambda: handled(runtime, bootstrap, during), 30, interval_s=0.5)
    assert process.poll() is None
