"""Metrics and worker health on real processes: each process's /metrics (Prometheus text, no
case ids), a worker's /livez failing when one of its loops is stuck, and web readiness that
does not depend on Kafka."""

from __future__ import annotations

import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from marac_platform import events, payloads
from marac_platform.ports import free_port
from tests.conftest import PlatformEnv
from tests.support.kafka_tools import produce, wait_for
from tests.support.workers import Workers

pytestmark = pytest.mark.integration


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError:
        return 0, ""


def answered(url: str, status: int, containing: str = "") -> str:
    """The body of `url` when it answers `status` (and holds `containing`), else "" to wait on."""
    got, body = get(url)
    return body if got == status and containing in body else ""


@pytest.fixture
def worker_port(platform_env: PlatformEnv, tmp_path: Path) -> Iterator[tuple[int, Workers]]:
    port = free_port()
    workers = Workers("notify", {**platform_env.env, "MARAC_METRICS_PORT": str(port)}, tmp_path)
    workers.start()
    yield port, workers
    workers.stop_all()


def test_a_worker_serves_its_metrics_and_is_live_while_its_loops_go_round(
    platform_env: PlatformEnv, worker_port: tuple[int, Workers]
) -> None:
    port, workers = worker_port
    base = f"http://127.0.0.1:{port}"
    assert wait_for(lambda: answered(f"{base}/readyz", 200), 60), workers.logs()
    assert get(f"{base}/livez") == (200, "ok")

    start = datetime(2026, 12, 8, 10, tzinfo=UTC)
    case_id = "case-metrics-7f3a"
    message = events.new_message(events.CASE_SCHEDULED, source="/test", subject=case_id,
                                 area="northshire", data=payloads.CaseScheduled(
        case_id=case_id, referral_id="ref-metrics", area_id="northshire",
        meeting_id="northshire-2026-12-08", marac_date=date(2026, 12, 8), meeting_start=start,
        model="meeting", slot_index=0, slot_start=start, target_date=date(2026, 12, 8),
        beyond_target=False, rescheduled=False, referrer_agency="police"))
    produce(platform_env.env["KAFKA_BOOTSTRAP_SERVERS"], message.topic, message.value,
            message.key.encode(), [(k, v.encode()) for k, v in message.headers.items()])

    topic = events.kafka_topic("case.scheduled")

    def scraped() -> str:
        text = answered(f"{base}/metrics", 200)
        handled = [line for line in text.splitlines()
                   if line.startswith("marac_events_consumed_total{")
                   and 'outcome="handled"' in line and f'topic="{topic}"' in line]
        # ... and its delivery tried (no SMTP relay here: a retry, counted by outcome).
        return text if handled and "marac_notify_deliveries_total{" in text else ""

    text = wait_for(scraped, 60)
    for name in ("marac_handler_duration_seconds_bucket", "marac_jobs_runs_total",
                 "marac_jobs_duration_seconds_bucket", "marac_outbox_backlog",
                 "marac_consumer_lag", "marac_notify_deliveries_total"):
        assert name in text, name
    assert 'job="deliver"' in text and 'measure="oldest_age_s"' in text
    assert case_id not in text and "ref-metrics" not in text  # bounded labels only


def test_a_stuck_loop_fails_the_liveness_check_by_name(
    platform_env: PlatformEnv, tmp_path: Path
) -> None:
    port = free_port()
    workers = Workers("notify", {**platform_env.env, "MARAC_METRICS_PORT": str(port),
                                 "MARAC_WORKER_STALL_S": "2", "MARAC_FAULT": "job.deliver:3"},
                      tmp_path)
    workers.start()
    try:
        base = f"http://127.0.0.1:{port}"
        assert wait_for(lambda: get(f"{base}/readyz")[0] == 200, 60), workers.logs()
        assert wait_for(lambda: answered(f"{base}/livez", 503), 30) == "stalled: job deliver"
    finally:
        workers.stop_all()


def test_a_web_process_serves_request_metrics_and_stays_ready_without_kafka(
    platform_env: PlatformEnv, tmp_path: Path
) -> None:
    web_port, metrics_port = free_port(), free_port()
    env = {**platform_env.env, "MARAC_METRICS_PORT": str(metrics_port),
           "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}"}  # no broker there
    log = (tmp_path / "web.log").open("wb")
    process = subprocess.Popen([sys.executable, "-m", "services", "web", "notify", "--port",
                                str(web_port)], env=env, stdout=log, stderr=log)
    try:
        base = f"http://127.0.0.1:{web_port}"
        ready = wait_for(lambda: answered(f"{base}/readyz", 200), 60)
        assert '"kafka":"unreachable"' in ready.replace(" ", "")  # reported, not fatal
        assert get(f"{base}/v1/deliveries?case_id=case-secret-1")[0] == 401
        text = wait_for(lambda: answered(f"http://127.0.0.1:{metrics_port}/metrics", 200,
                                         "marac_http_requests_total"), 30)
        assert 'route="/v1/deliveries"' in text and 'status="401"' in text
        assert "case-secret-1" not in text and "readyz" not in text
    finally:
        process.terminate()
        process.wait(30)
