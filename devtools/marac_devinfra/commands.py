"""`marac kafka fetch|start|stop|status` and `marac postgres install|start|stop|status`: local
dev infra. marac_platform.cli adds these commands when this package is installed."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

from marac_devinfra import DevInfraError, ServiceStatus
from marac_devinfra.kafka import LocalKafka, ensure_kafka_jars
from marac_devinfra.postgres import LocalPostgres, ensure_postgres_installed
from marac_platform.cli import CommandError

# `status` exits 3 when the service is not running, as pg_ctl status and LSB init scripts do.
NOT_RUNNING = 3

Handler = Callable[[argparse.Namespace], int]


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _operator_errors(handler: Handler) -> Handler:
    """Turn DevInfraError into the CLI's one-line CommandError."""

    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except DevInfraError as exc:
            raise CommandError(str(exc)) from exc

    return run


def _status_exit(status: ServiceStatus) -> int:
    print(status.describe())
    return 0 if status.running else NOT_RUNNING


def _kafka(args: argparse.Namespace) -> LocalKafka:
    kafka = LocalKafka(progress=_progress)
    if args.data_dir is not None:
        kafka.data_dir = Path(args.data_dir).resolve()
    if getattr(args, "port", None) is not None:
        kafka.port = args.port
        kafka.controller_port = args.port + 1
    return kafka


def kafka_fetch(args: argparse.Namespace) -> int:
    libs = ensure_kafka_jars(_progress)
    print(f"Kafka jars in {libs}")
    return 0


def kafka_start(args: argparse.Namespace) -> int:
    configured = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "").strip()
    kafka = _kafka(args)
    # The local broker's own address exported beforehand (as `export KAFKA_BOOTSTRAP_SERVERS=
    # 127.0.0.1:9092` then `marac kafka start`) means this broker: it is started.
    if configured and configured not in local_addresses(kafka.port):
        print(
            f"KAFKA_BOOTSTRAP_SERVERS is set ({configured}): using that cluster, "
            "no local broker started (unset it to start one here)"
        )
        return 0
    address = kafka.start(timeout=args.timeout)
    print(f"Kafka broker ready: KAFKA_BOOTSTRAP_SERVERS={address}")
    return 0


def local_addresses(port: int) -> set[str]:
    return {f"{host}:{port}" for host in ("127.0.0.1", "localhost")}


def kafka_stop(args: argparse.Namespace) -> int:
    kafka = _kafka(args)
    if kafka.stop(timeout=args.timeout):
        print("Kafka broker stopped")
    else:
        print(f"Kafka broker was not running (data {kafka.data_dir})")
    return 0


def kafka_status(args: argparse.Namespace) -> int:
    configured = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "").strip()
    if configured:
        print(f"KAFKA_BOOTSTRAP_SERVERS is set: services use {configured}")
    return _status_exit(_kafka(args).status())


def _postgres(args: argparse.Namespace) -> LocalPostgres:
    pg = LocalPostgres(progress=_progress, fast=getattr(args, "fast", False))
    if args.data_dir is not None:
        pg.data_dir = Path(args.data_dir).resolve()
    if getattr(args, "port", None) is not None:
        pg.port = args.port
    return pg


def postgres_install(args: argparse.Namespace) -> int:
    bin_dir = ensure_postgres_installed(progress=_progress)
    print(f"PostgreSQL server binaries in {bin_dir}")
    return 0


def postgres_start(args: argparse.Namespace) -> int:
    pg = _postgres(args)
    address = pg.start(timeout=args.timeout)
    pg.create_databases(args.databases)
    print(f"PostgreSQL ready at {address} (superuser marac, password marac)")
    for name in args.databases:
        print(f"  {name}: {pg.url(name)}")
    return 0


def postgres_stop(args: argparse.Namespace) -> int:
    pg = _postgres(args)
    if pg.stop(timeout=args.timeout):
        print("PostgreSQL stopped")
    else:
        print(f"PostgreSQL was not running (data {pg.data_dir})")
    return 0


def postgres_status(args: argparse.Namespace) -> int:
    return _status_exit(_postgres(args).status())


def _data_dir_option(parser: argparse.ArgumentParser, default: str) -> None:
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help=f"folder for data, config, log and pid file (default: {default})",
    )


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    kafka = subparsers.add_parser(
        "kafka",
        help="local single-node Kafka broker for dev and tests",
        description="Fetch, start, stop and inspect a local Kafka broker (KRaft, 127.0.0.1).",
    )
    kafka_commands = kafka.add_subparsers(dest="kafka_command", metavar="ACTION")
    kafka_commands.required = True

    fetch = kafka_commands.add_parser(
        "fetch",
        help="download the broker jars from Maven Central (no-op when cached)",
        description="Download the pinned Kafka jars into the cache ($MARAC_CACHE_DIR or "
        "<repo>/.cache); needs Java 17+ and Maven, and nothing at all once cached.",
    )
    fetch.set_defaults(func=_operator_errors(kafka_fetch))

    start = kafka_commands.add_parser(
        "start",
        help="start the local broker in the background and wait until it answers",
        description="Start the local broker (fetching jars and formatting storage if "
        "needed). Does nothing when KAFKA_BOOTSTRAP_SERVERS is set or the broker runs.",
    )
    start.add_argument(
        "--port",
        type=int,
        default=None,
        help="client port; the controller uses port+1 (default: $MARAC_KAFKA_PORT or 9092)",
    )
    start.add_argument(
        "--timeout", type=float, default=120.0, help="seconds to wait for the broker"
    )
    _data_dir_option(start, "$MARAC_DATA_DIR/kafka or <repo>/.data/kafka")
    start.set_defaults(func=_operator_errors(kafka_start))

    stop = kafka_commands.add_parser(
        "stop",
        help="stop the local broker",
        description="Stop the local broker: SIGTERM, then SIGKILL after --timeout seconds.",
    )
    stop.add_argument("--timeout", type=float, default=30.0, help="seconds before SIGKILL")
    _data_dir_option(stop, "$MARAC_DATA_DIR/kafka or <repo>/.data/kafka")
    stop.set_defaults(func=_operator_errors(kafka_stop))

    status = kafka_commands.add_parser(
        "status",
        help="say whether the local broker runs (exit 3 if not)",
        description="Report the local broker's pid and address; exit 0 if it runs, 3 if not.",
    )
    _data_dir_option(status, "$MARAC_DATA_DIR/kafka or <repo>/.data/kafka")
    status.set_defaults(func=_operator_errors(kafka_status))

    postgres = subparsers.add_parser(
        "postgres",
        help="local PostgreSQL cluster for dev and tests",
        description="Start, stop and inspect a private PostgreSQL cluster on 127.0.0.1 "
        "(installed with apt-get when missing and running as root on Debian).",
    )
    pg_commands = postgres.add_subparsers(dest="postgres_command", metavar="ACTION")
    pg_commands.required = True

    pg_install = pg_commands.add_parser(
        "install",
        help="install the PostgreSQL server from Debian packages when missing",
        description="Find initdb and pg_ctl; when absent and running as root on Debian, "
        "apt-get install postgresql. No server is started.",
    )
    pg_install.set_defaults(func=_operator_errors(postgres_install))

    pg_start = pg_commands.add_parser(
        "start",
        help="start the local cluster (initdb on first use) and create databases",
        description="Start the local cluster, creating it on first use, with superuser "
        "marac (password marac); --database creates databases that do not exist yet.",
    )
    pg_start.add_argument(
        "--port",
        type=int,
        default=None,
        help="TCP port on 127.0.0.1 (default: $MARAC_PG_PORT or 5433)",
    )
    pg_start.add_argument(
        "--database",
        dest="databases",
        action="append",
        default=[],
        metavar="NAME",
        help="create this database if absent (repeatable)",
    )
    pg_start.add_argument(
        "--fast",
        action="store_true",
        help="fsync off and small shared_buffers: for throw-away test data",
    )
    pg_start.add_argument(
        "--timeout", type=float, default=60.0, help="seconds to wait for the server"
    )
    _data_dir_option(pg_start, "$MARAC_DATA_DIR/postgres or <repo>/.data/postgres")
    pg_start.set_defaults(func=_operator_errors(postgres_start))

    pg_stop = pg_commands.add_parser(
        "stop",
        help="stop the local cluster",
        description="Stop the local cluster (fast shutdown; immediate if that fails).",
    )
    pg_stop.add_argument("--timeout", type=float, default=60.0, help="seconds to wait")
    _data_dir_option(pg_stop, "$MARAC_DATA_DIR/postgres or <repo>/.data/postgres")
    pg_stop.set_defaults(func=_operator_errors(postgres_stop))

    pg_status = pg_commands.add_parser(
        "status",
        help="say whether the local cluster runs (exit 3 if not)",
        description="Report the local cluster's pid and address; exit 0 if it runs, 3 if not.",
    )
    _data_dir_option(pg_status, "$MARAC_DATA_DIR/postgres or <repo>/.data/postgres")
    pg_status.set_defaults(func=_operator_errors(postgres_status))
