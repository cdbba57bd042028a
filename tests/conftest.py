"""Shared fixtures: the real broker and database, and an isolated platform environment per test."""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
import time_machine

from marac_platform import clock
from marac_platform import kafka as platform_kafka
from marac_platform.keystore import close_keystores
from marac_platform.settings import SERVICES, kafka_settings, settings_for
from tests.support.clock import DEFAULT_INSTANT, PROCESS_ONLY, process_clock_env
from tests.support.infra import PostgresServer, kafka_server, postgres_server, unique

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    with kafka_server() as bootstrap:
        yield bootstrap


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    with postgres_server() as server:
        yield server


@dataclass
class PlatformEnv:
    """One isolated platform: its own databases, topics (by prefix), data folder and keys."""

    env: dict[str, str]
    postgres: PostgresServer
    prefix: str

    def database_url(self, service: str) -> str:
        return self.env["DATABASE_URL"].replace("{service}", service)


def make_platform_env(kafka_bootstrap: str, postgres: PostgresServer, data_dir: Path,
                      services: tuple[str, ...] = SERVICES,
                      clock_start: datetime = DEFAULT_INSTANT) -> PlatformEnv:
    """`env` starts every platform process it is given to with its clock at `clock_start`."""
    from marac_platform.commands.migrate import migrate_all
    from services.registry import SERVICES as DECLARED

    name = unique("t")
    for service in services:
        postgres.create_database(f"{name}_{service}", template=migrated_template(postgres, service))
    postgres.create_database(f"{name}_keystore")
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "DATABASE_URL": postgres.url(f"{name}_{{service}}"),
        "MARAC_TOPIC_PREFIX": f"{name}.",
        "MARAC_DATA_DIR": str(data_dir),
        "MARAC_AREAS_FILE": str(REPO / "deploy" / "areas.yaml"),
        "MARAC_CONSUMER_BACKOFF_S": "0.05",
        "MARAC_OUTBOX_POLL_S": "0.05",
        **process_clock_env(clock_start),
    }
    saved = dict(os.environ)
    os.environ.update(in_process(env))
    settings_for.cache_clear()
    try:
        migrate_all([DECLARED[name] for name in services], create_database=False, quiet=True)
        platform_kafka.create_topics(kafka_settings(env))
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return PlatformEnv(env=env, postgres=postgres, prefix=f"{name}.")


@functools.cache
def migrated_template(postgres: PostgresServer, service: str) -> str:
    """A database migrated to head once per server and migration set, which each test
    platform's database copies (migrate_all then finds it at head): running every migration
    for every test cost about a second a platform."""
    from marac_platform import migrations
    from services.registry import SERVICES as DECLARED

    spec = DECLARED[service]
    digest = hashlib.sha256()
    for path in sorted(Path(spec.migrations).rglob("*.py")):
        digest.update(path.read_bytes())
    name = f"template_{service}_{digest.hexdigest()[:12]}"
    if not postgres.has_database(name):
        building = unique(f"building_{service}_")
        postgres.create_database(building)
        migrations.upgrade(spec, postgres.url(building))
        postgres.rename_database(building, name)  # whole or not at all
    return name


def in_process(env: dict[str, str]) -> dict[str, str]:
    """`env` for this test process, which travels in time (time-machine) instead."""
    return {key: value for key, value in env.items() if key not in PROCESS_ONLY}


@pytest.fixture(autouse=True)
def wall_clock_after() -> Iterator[None]:
    """This process's clock back on the wall clock after every test: a Runtime built here from
    a platform's whole env (MARAC_CLOCK_START) shifts it, and the shift would otherwise follow
    into whichever test the same worker runs next."""
    yield
    clock.start_at(None)


@pytest.fixture
def clock_start() -> datetime:
    """The instant a test over the platform stands at; parametrize it to stand elsewhere."""
    return DEFAULT_INSTANT


@pytest.fixture
def platform_env(kafka_bootstrap: str, postgres: PostgresServer, tmp_path: Path,
                 monkeypatch: pytest.MonkeyPatch, clock_start: datetime) -> Iterator[PlatformEnv]:
    """A fresh platform, with this process's environment pointing at it, standing at
    `clock_start`: this process travels there and the processes it starts begin there."""
    with time_machine.travel(clock_start, tick=True):
        created = make_platform_env(kafka_bootstrap, postgres, tmp_path, clock_start=clock_start)
        for key, value in in_process(created.env).items():
            monkeypatch.setenv(key, value)
        settings_for.cache_clear()
        yield created
        settings_for.cache_clear()
        close_keystores()
        drop_topics(created)


def drop_topics(created: PlatformEnv) -> None:
    """Delete a finished platform's topics: hundreds of tests' 58 topics each on one broker
    slowed it to metadata timeouts on a busy machine. A broker that is gone is no matter."""
    try:
        platform_kafka.delete_topics(kafka_settings(created.env), created.prefix)
    except Exception as exc:  # the test's outcome stands; the broker's state is not its subject
        print(f"topics {created.prefix}* not deleted: {type(exc).__name__}")
