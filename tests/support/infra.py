"""The real Kafka broker and PostgreSQL server for tests: testcontainers when a Docker engine
answers, otherwise the local broker and cluster the platform's own commands run."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

KAFKA_IMAGE = "apache/kafka:4.1.1"
POSTGRES_IMAGE = "postgres:16-alpine"


def docker_available() -> bool:
    if os.environ.get("MARAC_TEST_NO_DOCKER"):
        return False
    try:
        import docker

        client = docker.from_env(timeout=3)
        client.ping()
        return True
    except Exception:
        return False


@contextmanager
def kafka_server() -> Iterator[str]:
    """A bootstrap address: KAFKA_BOOTSTRAP_SERVERS if set, a container, or a local broker."""
    configured = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if configured:
        yield configured
        return
    if docker_available():
        from testcontainers.kafka import KafkaContainer

        # As the local broker (devtools/marac_devinfra/kafka.py): records stamped by the broker, so tests
        # may run the platform's clock on another day.
        with KafkaContainer(KAFKA_IMAGE).with_kraft().with_env(
                "KAFKA_LOG_MESSAGE_TIMESTAMP_TYPE", "LogAppendTime") as container:
            yield container.get_bootstrap_server()
        return
    from marac_devinfra.kafka import LocalKafka, ensure_kafka_jars
    from marac_platform.ports import free_port

    ensure_kafka_jars(progress=print)
    folder = Path(tempfile.mkdtemp(prefix="marac-test-kafka-"))
    port = free_port()
    broker = LocalKafka(data_dir=folder, port=port, controller_port=free_port())
    try:
        yield broker.start()
    finally:
        # Its data is thrown away: no need to wait out a graceful shutdown (the broker may
        # still be deleting the session's topics); SIGKILL after 5 s.
        broker.stop(timeout=5)
        shutil.rmtree(folder, ignore_errors=True)


@dataclass(frozen=True)
class PostgresServer:
    """A server the tests may create databases on; `url(name)` is a SQLAlchemy URL."""

    host: str
    port: int
    user: str
    password: str

    def url(self, database: str) -> str:
        return (f"postgresql+psycopg://{self.user}:{self.password}@{self.host}:{self.port}/"
                f"{database}")

    def _admin(self) -> psycopg.Connection[Any]:
        """A connection to the server's `postgres` database, for creating and renaming."""
        return psycopg.connect(host=self.host, port=self.port, user=self.user,
                               password=self.password, dbname="postgres", autocommit=True)

    def create_database(self, name: str, template: str | None = None) -> None:
        """FILE_COPY (PostgreSQL 15+): a small database copied as files, not through the WAL
        (a third faster per test platform); an older server gets the default."""
        like = f' TEMPLATE "{template}"' if template else ""
        with self._admin() as conn:
            if conn.info.server_version >= 150000:
                conn.execute(f'CREATE DATABASE "{name}"{like} STRATEGY FILE_COPY')
            else:
                conn.execute(f'CREATE DATABASE "{name}"{like}')

    def rename_database(self, old: str, new: str) -> None:
        with self._admin() as conn:
            try:
                conn.execute(f'ALTER DATABASE "{old}" RENAME TO "{new}"')
            except psycopg.errors.DuplicateDatabase:  # another process built it meanwhile
                conn.execute(f'DROP DATABASE "{old}"')

    def has_database(self, name: str) -> bool:
        with self._admin() as conn:
            return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                                (name,)).fetchone() is not None


@contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    """MARAC_TEST_POSTGRES (host:port:user:password) if set, a container, or a local cluster."""
    configured = os.environ.get("MARAC_TEST_POSTGRES")
    if configured:
        host, port, user, password = configured.split(":", 3)
        yield PostgresServer(host, int(port), user, password)
        return
    if docker_available():
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer(POSTGRES_IMAGE, username="marac", password="marac") as container:
            yield PostgresServer(container.get_container_host_ip(),
                                 int(container.get_exposed_port(5432)), "marac", "marac")
        return
    from marac_devinfra.postgres import PASSWORD, ROLE, LocalPostgres
    from marac_platform.ports import free_port

    # Not pytest's tmp_path: the postgres OS user must be able to reach the folder.
    folder = Path(tempfile.mkdtemp(prefix="marac-test-pg-"))
    folder.chmod(0o755)
    cluster = LocalPostgres(data_dir=folder, port=free_port(), fast=True, progress=print)
    try:
        cluster.start()
        yield PostgresServer("127.0.0.1", cluster.port, ROLE, PASSWORD)
    finally:
        # Its data is thrown away, as the broker's is: no fast shutdown's wait.
        cluster.stop(discard=True)
        shutil.rmtree(folder, ignore_errors=True)


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"
