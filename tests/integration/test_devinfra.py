"""Integration tests of the local dev infrastructure: a real Kafka broker and PostgreSQL cluster."""

from __future__ import annotations

import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import sqlalchemy
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic

from marac_devinfra import DevInfraError
from marac_devinfra.kafka import LocalKafka
from marac_devinfra.postgres import LocalPostgres
from marac_devinfra.processes import port_in_use
from marac_platform.ports import free_port

pytestmark = pytest.mark.integration


def two_free_ports() -> tuple[int, int]:
    first = free_port()
    second = free_port()
    while second == first:
        second = free_port()
    return first, second


@pytest.fixture
def kafka_dir(tmp_path: Path) -> Path:
    return tmp_path / "kafka"


@pytest.fixture
def postgres_dir() -> Iterator[Path]:
    # Not tmp_path: pytest makes its parent folders private (0700), and as root the server
    # runs as the postgres OS user, which must reach the data folder.
    folder = Path(tempfile.mkdtemp(prefix="marac-pg-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.timeout(300)
def test_local_kafka_round_trip(kafka_dir: Path) -> None:
    port, controller_port = two_free_ports()
    kafka = LocalKafka(
        data_dir=kafka_dir, port=port, controller_port=controller_port, heap="-Xmx384m -Xms128m"
    )
    bootstrap = f"127.0.0.1:{port}"
    topic = f"devinfra-{uuid.uuid4().hex[:8]}"
    try:
        with kafka:
            status = kafka.status()
            assert status.running and status.address == bootstrap
            # A second start, even from another object, finds the running broker.
            assert LocalKafka(data_dir=kafka_dir, port=port).start() == bootstrap

            admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=20_000)
            try:
                admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])
                assert topic in admin.list_topics()
            finally:
                admin.close()

            producer = KafkaProducer(
                bootstrap_servers=bootstrap, enable_idempotence=True, acks="all"
            )
            try:
                sent = producer.send(topic, key=b"case-1", value=b"referral-received")
                sent.get(timeout=30)
            finally:
                producer.close(timeout=10)

            consumer = KafkaConsumer(
                topic,
                bootstrap_servers=bootstrap,
                group_id=f"devinfra-test-{topic}",
                auto_offset_reset="earliest",
                enable_auto_commit=False,
                consumer_timeout_ms=30_000,
            )
            try:
                received = next(iter(consumer))
            finally:
                consumer.close()
            assert (received.key, received.value) == (b"case-1", b"referral-received")

        assert not kafka.status().running
        assert not kafka.pid_file.exists()
        assert not port_in_use(port)
        assert "Kafka Server started" in kafka.log_file.read_text()  # logs go to the file
    finally:
        kafka.stop()


@pytest.mark.timeout(120)
def test_kafka_that_dies_during_start_reports_its_log(kafka_dir: Path) -> None:
    port, controller_port = two_free_ports()
    kafka = LocalKafka(
        data_dir=kafka_dir, port=port, controller_port=controller_port, heap="-Xmx1k"
    )
    try:
        with pytest.raises(DevInfraError, match="Too small maximum heap"):
            kafka.start(timeout=60)
        assert not kafka.status().running
        assert not kafka.pid_file.exists()
    finally:
        kafka.stop()


@pytest.mark.timeout(180)
def test_local_postgres_databases(postgres_dir: Path) -> None:
    port = free_port()
    pg = LocalPostgres(data_dir=postgres_dir, port=port, fast=True)
    try:
        with pg:
            assert pg.status().running
            assert pg.create_databases(["devinfra_a", "devinfra_b"]) == [
                "devinfra_a",
                "devinfra_b",
            ]
            assert pg.create_databases(["devinfra_a"]) == []  # idempotent

            with psycopg.connect(
                host="127.0.0.1",
                port=port,
                user="marac",
                password="marac",
                dbname="devinfra_a",
                connect_timeout=10,
            ) as conn:
                row = conn.execute(
                    "SELECT current_database(), current_setting('fsync'), "
                    "current_setting('listen_addresses')"
                ).fetchone()
            assert row == ("devinfra_a", "off", "127.0.0.1")

            engine = sqlalchemy.create_engine(pg.url("devinfra_b"))
            try:
                with engine.connect() as conn:
                    assert conn.execute(sqlalchemy.text("SELECT 1")).scalar_one() == 1
            finally:
                engine.dispose()

            # Another object on the same folder finds the running cluster and leaves it be.
            with LocalPostgres(data_dir=postgres_dir, port=free_port()) as same:
                assert same.port == port
            assert pg.status().running

            # Data survive a restart.
            started = time.monotonic()
            assert pg.stop()
            pg.start()
            assert time.monotonic() - started < 60
            assert pg.create_databases(["devinfra_b"]) == []

        assert not pg.status().running
        assert not port_in_use(port)
    finally:
        pg.stop()
