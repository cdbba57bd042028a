"""Unit tests of the pure parts of marac_devinfra: generated config and command lines."""

from __future__ import annotations

import argparse
import base64
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from marac_devinfra import DevInfraError, ServiceStatus
from marac_devinfra import commands as infra
from marac_devinfra.kafka import (
    DEFAULT_HEAP,
    LocalKafka,
    broker_command,
    maven_fetch_command,
    new_cluster_id,
    parse_java_major,
    parse_pom_kafka_version,
    render_server_properties,
    storage_format_command,
)
from marac_devinfra.postgres import (
    LocalPostgres,
    initdb_command,
    pg_ctl_start_command,
    pg_ctl_stop_command,
    render_postgres_conf,
    run_as_prefix,
)

LIBS = Path("/cache/kafka-4.1.1/libs")


def properties(text: str) -> dict[str, str]:
    pairs = [line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#")]
    return {key: value for key, value in pairs}


def test_server_properties_single_node_kraft_on_loopback_only() -> None:
    props = properties(
        render_server_properties(port=19092, controller_port=19093, log_dirs=Path("/d/storage"))
    )
    assert props["process.roles"] == "broker,controller"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:19093"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:19092"
    assert props["controller.listener.names"] == "CONTROLLER"
    assert props["log.dirs"] == "/d/storage"
    assert props["auto.create.topics.enable"] == "false"
    assert props["num.partitions"] == "3"
    assert props["offsets.topic.replication.factor"] == "1"
    assert props["transaction.state.log.replication.factor"] == "1"
    assert props["transaction.state.log.min.isr"] == "1"
    assert props["group.initial.rebalance.delay.ms"] == "0"
    assert int(props["log.segment.bytes"]) <= 64 * 1024 * 1024
    every_address = ",".join(props[k] for k in ("listeners", "advertised.listeners"))
    assert "0.0.0.0" not in every_address and "localhost" not in every_address


@given(port=st.integers(min_value=1024, max_value=65534))
def test_server_properties_lines_are_unique_keys(port: int) -> None:
    text = render_server_properties(port=port, controller_port=port + 1, log_dirs=Path("/x"))
    keys = [line.split("=", 1)[0] for line in text.splitlines() if not line.startswith("#")]
    assert len(keys) == len(set(keys))
    assert f"PLAINTEXT://127.0.0.1:{port}," in text


@pytest.mark.parametrize(
    ("output", "major"),
    [
        ('openjdk version "17.0.15" 2025-04-15\nOpenJDK Runtime Environment', 17),
        ('openjdk version "21" 2023-09-19', 21),
        ('java version "1.8.0_402"', 8),
        ('openjdk version "11.0.22" 2024-01-16', 11),
        ('openjdk version "24-ea" 2025-03-18', 24),
        ("bash: java: command not found", None),
    ],
)
def test_parse_java_major(output: str, major: int | None) -> None:
    assert parse_java_major(output) == major


def test_pom_version_is_read_from_the_property() -> None:
    pom = """<project xmlns="http://maven.apache.org/POM/4.0.0">
      <properties><kafka.version>4.1.1</kafka.version></properties></project>"""
    assert parse_pom_kafka_version(pom) == "4.1.1"


def test_pom_without_a_pinned_version_is_refused() -> None:
    pom = """<project xmlns="http://maven.apache.org/POM/4.0.0">
      <properties><kafka.version>LATEST</kafka.version></properties></project>"""
    with pytest.raises(DevInfraError, match=r"kafka\.version"):
        parse_pom_kafka_version(pom)


def test_maven_command_copies_dependencies_quietly_in_batch_mode() -> None:
    command = maven_fetch_command("mvn", Path("/repo/deploy/kafka/pom.xml"), LIBS)
    assert command == [
        "mvn",
        "-q",
        "-B",
        "-f",
        "/repo/deploy/kafka/pom.xml",
        "dependency:copy-dependencies",
        f"-DoutputDirectory={LIBS}",
    ]


def test_storage_format_command() -> None:
    command = storage_format_command("java", LIBS, "abc", Path("/d/server.properties"))
    assert command[:4] == ["java", "-cp", f"{LIBS}/*", "kafka.tools.StorageTool"]
    assert command[4] == "format"
    assert command[command.index("-t") + 1] == "abc"
    assert command[command.index("-c") + 1] == "/d/server.properties"


def test_broker_command_heap_and_logging() -> None:
    command = broker_command(
        "java",
        LIBS,
        DEFAULT_HEAP,
        Path("/d/server.properties"),
        Path("/l/log4j2.properties"),
        Path("/d"),
    )
    assert command[:3] == ["java", "-Xmx512m", "-Xms256m"]
    assert "-Dkafka.logs.dir=/d" in command
    assert "-Dlog4j2.configurationFile=/l/log4j2.properties" in command
    assert command[-2:] == ["kafka.Kafka", "/d/server.properties"]
    assert command[command.index("-cp") + 1] == f"{LIBS}/*"


def test_cluster_id_is_a_base64url_uuid() -> None:
    for _ in range(200):
        cluster_id = new_cluster_id()
        assert len(cluster_id) == 22 and not cluster_id.startswith("-")
        assert len(base64.urlsafe_b64decode(cluster_id + "==")) == 16


def test_local_kafka_defaults_follow_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MARAC_KAFKA_PORT", "29092")
    monkeypatch.setenv("MARAC_KAFKA_HEAP", "-Xmx300m")
    kafka = LocalKafka(data_dir=Path("/tmp/k"))
    assert (kafka.port, kafka.controller_port, kafka.heap) == (29092, 29093, "-Xmx300m")
    assert kafka.bootstrap_servers == "127.0.0.1:29092"
    monkeypatch.delenv("MARAC_KAFKA_PORT")
    monkeypatch.delenv("MARAC_KAFKA_HEAP")
    kafka = LocalKafka(data_dir=Path("/tmp/k"), controller_port=40000)
    assert (kafka.port, kafka.controller_port, kafka.heap) == (9092, 40000, DEFAULT_HEAP)


def test_bad_port_in_environment_is_an_operator_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MARAC_PG_PORT", "five")
    with pytest.raises(DevInfraError, match="MARAC_PG_PORT"):
        LocalPostgres(data_dir=Path("/tmp/p"))


def test_postgres_conf_loopback_socket_in_data_dir_and_fast_flag() -> None:
    durable = render_postgres_conf(port=5433, socket_dir=Path("/d/run"), fast=False)
    fast = render_postgres_conf(port=5433, socket_dir=Path("/d/run"), fast=True)
    for text in (durable, fast):
        assert "listen_addresses = '127.0.0.1'" in text
        assert "port = 5433" in text
        assert "unix_socket_directories = '/d/run'" in text
    assert "fsync = off" in fast and "shared_buffers = '32MB'" in fast
    assert "fsync" not in durable


def test_server_commands_run_as_postgres_only_when_root() -> None:
    assert run_as_prefix(0) == ["runuser", "-u", "postgres", "--"]
    assert run_as_prefix(1000) == []
    bin_dir = Path("/usr/lib/postgresql/15/bin")
    initdb = initdb_command(run_as_prefix(0), bin_dir, Path("/d/pgdata"))
    assert initdb[:5] == ["runuser", "-u", "postgres", "--", str(bin_dir / "initdb")]
    assert "--auth-local=trust" in initdb and "--auth-host=scram-sha-256" in initdb
    start = pg_ctl_start_command([], bin_dir, Path("/d/pgdata"), Path("/d/postgres.log"), 60)
    assert start == [
        str(bin_dir / "pg_ctl"),
        "start",
        "-D",
        "/d/pgdata",
        "-l",
        "/d/postgres.log",
        "-w",
        "-t",
        "60",
    ]
    stop = pg_ctl_stop_command([], bin_dir, Path("/d/pgdata"), "fast", 30)
    assert stop[1:] == ["stop", "-D", "/d/pgdata", "-m", "fast", "-w", "-t", "30"]


def test_postgres_url() -> None:
    pg = LocalPostgres(data_dir=Path("/tmp/p"), port=5544)
    assert pg.url("referral") == "postgresql+psycopg://marac:marac@127.0.0.1:5544/referral"


def test_status_description() -> None:
    up = ServiceStatus("PostgreSQL", True, 42, "127.0.0.1:5433", Path("/d"), Path("/d/log"))
    down = ServiceStatus("PostgreSQL", False, None, "127.0.0.1:5433", Path("/d"), Path("/d/log"))
    assert "running (pid 42) at 127.0.0.1:5433" in up.describe()
    assert "not running" in down.describe()


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="marac")
    infra.register(root.add_subparsers(dest="command"))
    return root


@pytest.mark.parametrize(
    "argv",
    [
        ["kafka", "fetch"],
        ["kafka", "start", "--port", "19092"],
        ["kafka", "stop"],
        ["kafka", "status"],
        ["postgres", "start", "--database", "a", "--database", "b", "--fast"],
        ["postgres", "stop"],
        ["postgres", "status"],
    ],
)
def test_every_subcommand_has_a_handler(argv: list[str]) -> None:
    args = parser().parse_args(argv)
    assert callable(args.func)


def test_kafka_start_uses_configured_cluster(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "kafka.internal:9092")
    args = parser().parse_args(["kafka", "start"])
    assert args.func(args) == 0
    assert "kafka.internal:9092" in capsys.readouterr().out
