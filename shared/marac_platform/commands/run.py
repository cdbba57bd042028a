"""`marac run`: Kafka (unless one is configured), topics, migrations, and all five services."""

from __future__ import annotations

import argparse
import os
import signal
import time
from pathlib import Path
from types import FrameType

from marac_platform import kafka as platform_kafka
from marac_platform.commands.migrate import migrate_all
from marac_platform.launcher import Platform
from marac_platform.settings import SERVICES, kafka_settings, repo_root


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "run", help="start the whole platform locally",
        description="Start a local Apache Kafka (unless KAFKA_BOOTSTRAP_SERVERS is set), create "
                    "topics, migrate the databases (SQLite by default) and run web + worker of "
                    "every service. Ctrl-C stops everything.")
    parser.add_argument("--services", nargs="+", choices=SERVICES, default=list(SERVICES),
                        help="run only these services")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from marac_platform.devinfra.kafka import LocalKafka

    env = dict(os.environ)
    data_dir = env.setdefault("MARAC_DATA_DIR", str(repo_root() / ".data"))
    broker = None
    if not env.get("KAFKA_BOOTSTRAP_SERVERS"):
        broker = LocalKafka(data_dir=Path(data_dir) / "kafka",
                            progress=lambda line: print(line, flush=True))
        env["KAFKA_BOOTSTRAP_SERVERS"] = broker.start()
        os.environ["KAFKA_BOOTSTRAP_SERVERS"] = env["KAFKA_BOOTSTRAP_SERVERS"]
    else:
        print(f"using the Kafka cluster at {env['KAFKA_BOOTSTRAP_SERVERS']}")
    platform = Platform(env=env, log_dir=Path(data_dir) / "logs", services=args.services,
                        progress=lambda line: print(line, flush=True))
    stopping = {"now": False}

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        stopping["now"] = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        created, _ = platform_kafka.create_topics(kafka_settings(env))
        print(f"topics ready ({len(created)} created)")
        migrate_all(list(SERVICES), create_database=True, quiet=True)
        print("databases migrated")
        print("starting web and worker processes ...", flush=True)
        platform.start()
        print("\nThe MARAC platform is running:")
        for service in args.services:
            print(f"  {service:<11} {platform.url(service)}   (API docs: /openapi.json)")
        print(f"\n  Kafka       {env['KAFKA_BOOTSTRAP_SERVERS']}")
        print(f"  data folder {data_dir} (SQLite databases, keys, logs)")
        print("\nTry it:  marac demo\nA token: marac token mint --role coordinator "
              "--area northshire\nStop:    Ctrl-C", flush=True)
        while not stopping["now"]:
            platform.check_alive()
            time.sleep(0.5)
        return 0
    except RuntimeError as exc:
        print(f"marac run: {exc}")
        return 1
    finally:
        print("stopping ...", flush=True)
        platform.stop()
        if broker is not None:
            broker.stop()
        print("stopped")
