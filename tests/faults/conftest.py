"""One platform for the fault scenarios: every service's web and worker as real processes,
under the launcher's supervision (a process that dies is restarted by it, never by the test),
over a broker and a PostgreSQL cluster of its own that a scenario may stop and start again."""

from __future__ import annotations

import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from marac_devinfra.kafka import LocalKafka, ensure_kafka_jars
from marac_devinfra.postgres import PASSWORD, ROLE, LocalPostgres
from marac_platform.ports import free_port
from marac_platform.settings import SERVICES, settings_for
from services.registry import PROGRAM
from tests.conftest import REPO, make_platform_env
from tests.faults.stack import ShiftedPlatform, Stack, supervise
from tests.support.clock import DEFAULT_INSTANT
from tests.support.infra import PostgresServer
from tests.support.smtp import SmtpServer

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def fault_broker() -> Iterator[LocalKafka]:
    ensure_kafka_jars(progress=print)
    folder = Path(tempfile.mkdtemp(prefix="marac-fault-kafka-"))
    kafka = LocalKafka(data_dir=folder, port=free_port(), controller_port=free_port())
    kafka.start()
    try:
        yield kafka
    finally:
        kafka.stop()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def fault_postgres() -> Iterator[LocalPostgres]:
    folder = Path(tempfile.mkdtemp(prefix="marac-fault-pg-"))
    folder.chmod(0o755)  # the postgres OS user must reach it
    cluster = LocalPostgres(data_dir=folder, port=free_port(), fast=True, progress=print)
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop(discard=True)
        shutil.rmtree(folder, ignore_errors=True)


AREAS = tuple(f"northshire{n}" for n in range(1, 5))


def region_areas(folder: Path) -> Path:
    """Four copies of northshire: every scenario's cases must find a date within the 180-day
    calendar (18 places a week an area), at the issue's 200 a burst too."""
    example = yaml.safe_load((REPO / "deploy" / "areas.yaml").read_text())
    north = next(a for a in example["areas"] if a["id"] == "northshire")
    region = [{**north, "id": name, "name": f"{name} MARAC", "partners": []} for name in AREAS]
    path = folder / "areas.yaml"
    path.write_text(yaml.safe_dump({"areas": region}))
    return path


@pytest.fixture(scope="module")
def stack(fault_broker: LocalKafka, fault_postgres: LocalPostgres,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    server = PostgresServer("127.0.0.1", fault_postgres.port, ROLE, PASSWORD)
    data_dir = tmp_path_factory.mktemp("fault-platform")
    created = make_platform_env(fault_broker.bootstrap_servers, server, data_dir,
                                clock_start=DEFAULT_INSTANT)
    settings_for.cache_clear()
    with SmtpServer() as smtp:
        env = dict(created.env)
        env.update({
            "MARAC_AREAS_FILE": str(region_areas(data_dir)),
            **smtp.env(),  # STARTTLS and AUTH, as a deployment's relay
            # The broker's minimum: a killed worker's partitions move on within seconds.
            "MARAC_KAFKA_SESSION_TIMEOUT_MS": "6000",
            # A delivery whose worker died mid-send is sent again (same Message-ID) soon.
            "MARAC_NOTIFY_CLAIM_TIMEOUT_S": "10",
        })
        for service in SERVICES:
            env[f"MARAC_{service.upper()}_PORT"] = str(free_port())
        platform = ShiftedPlatform(env=env, log_dir=data_dir / "logs", program=PROGRAM,
                                   restart_delay_s=0.5, progress=print,
                                   clock_start=DEFAULT_INSTANT)
        stop = threading.Event()
        built = Stack(platform=platform, smtp=smtp, env=env, today=DEFAULT_INSTANT.date(),
                      areas=AREAS)
        watcher = threading.Thread(target=supervise, args=(built, stop), daemon=True)
        try:
            platform.start(timeout_s=180)
            watcher.start()
            yield built
        finally:
            stop.set()
            if watcher.is_alive():
                watcher.join(10)
            platform.stop()
            for engine in built.engines.values():
                engine.dispose()
