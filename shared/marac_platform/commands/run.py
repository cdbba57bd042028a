"""`marac run`: Kafka (unless one is configured), topics, migrations, all five services and the
console (the web front end people sign in to).

The local broker comes from the development tools (marac_devinfra, devtools/): imported only
when it is needed, so `marac run` against a configured cluster works where they are absent.
"""

from __future__ import annotations

import argparse
import os
import signal
import time
from pathlib import Path
from types import FrameType
from typing import Any

from marac_platform import kafka as platform_kafka
from marac_platform.areas import Areas
from marac_platform.cli import CommandError
from marac_platform.commands.migrate import migrate_all
from marac_platform.commands.web import web_port
from marac_platform.launcher import Platform
from marac_platform.preflight import Port, check_configuration, check_ports
from marac_platform.settings import SERVICES, WEB_APPS, kafka_settings, repo_root, service_port
from marac_platform.telemetry import exports_traces

NO_DEV_TOOLS = (
    "KAFKA_BOOTSTRAP_SERVERS is not set and the development tools that start a local broker "
    "(marac_devinfra) are not installed: set KAFKA_BOOTSTRAP_SERVERS to your Kafka cluster, "
    "or install them with pip install -e '.[dev]' in a checkout"
)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "run", help="start the whole platform locally",
        description="Start a local Apache Kafka (unless KAFKA_BOOTSTRAP_SERVERS is set), create "
                    "topics, migrate the databases (SQLite by default) and run web + worker of "
                    "every service, then the console (web only; its URL is printed). Ctrl-C "
                    "stops everything.")
    parser.add_argument("--services", nargs="+", choices=(*SERVICES, *WEB_APPS),
                        default=[*SERVICES, *WEB_APPS], help="run only these services")
    parser.set_defaults(func=run)


# The local mail catcher's port without MARAC_SMTP_PORT (Mailpit's, as in docker-compose.yml).
MAIL_CATCHER_PORT = 1025


def mail_port(env: dict[str, str]) -> int:
    return int(env.get("MARAC_SMTP_PORT") or MAIL_CATCHER_PORT)


def start_mail_catcher(env: dict[str, str], folder: Path) -> Any:
    """Without MARAC_SMTP_HOST, a local SMTP server keeps notify's e-mails as files (Maildir)."""
    if env.get("MARAC_SMTP_HOST"):
        return None
    try:
        from aiosmtpd.controller import Controller
        from aiosmtpd.handlers import Mailbox
    except ImportError:
        return None  # installed without the dev extras: deliveries wait for an SMTP server
    port = mail_port(env)
    folder.parent.mkdir(parents=True, exist_ok=True)  # Maildir makes its own subfolders
    controller = Controller(Mailbox(folder), hostname="127.0.0.1", port=port)
    controller.start()
    env["MARAC_SMTP_HOST"], env["MARAC_SMTP_PORT"] = "127.0.0.1", str(port)
    env["MARAC_SMTP_SECURITY"] = "none"  # loopback only; a real relay gets STARTTLS
    return controller


def preflight(args: argparse.Namespace, env: dict[str, str], *, viewer: bool) -> Areas | None:
    """Everything checked before anything starts: settings, key files, the areas file as every
    service reads it, and the ports of the web processes, the mail catcher and the trace viewer."""
    areas = check_configuration([args.specs[name] for name in args.services if name in args.specs], env)
    host = env.get("MARAC_BIND_HOST") or "127.0.0.1"
    ports = [web_port(service, host, service_port(service, env)) for service in args.services]
    if not env.get("MARAC_SMTP_HOST"):
        ports.append(Port("127.0.0.1", mail_port(env), "local mail catcher (SMTP) port", "MARAC_SMTP_PORT"))
    if viewer:
        ports.append(Port("127.0.0.1", traces_port(env), "local trace viewer port", "MARAC_TRACES_PORT"))
    check_ports(ports)
    return areas


TRACES_PORT = 16686  # Jaeger's UI port, as in docker-compose.yml


def traces_port(env: dict[str, str]) -> int:
    return int(env.get("MARAC_TRACES_PORT") or TRACES_PORT)


def try_it(areas: Areas | None) -> str:
    """The banner's last lines: a token for an area this deployment serves."""
    area = min(areas.ids()) if areas else "AREA"
    return (f"\nTry it:  marac demo --area {area}\nA token: marac token mint --role coordinator "
            f"--area {area}\nStop:    Ctrl-C")


def local_sign_in(env: dict[str, str]) -> None:
    """Locally, with the services trusting the generated development key and no identity
    provider configured, the console offers its development sign-in (it refuses it otherwise)."""
    configured = ("MARAC_JWKS_URL", "MARAC_JWT_PUBLIC_KEY_FILE", "MARAC_OIDC_ISSUER")
    if not any(env.get(name) for name in configured):
        env.setdefault("MARAC_CONSOLE_DEV_SIGN_IN", "1")


def run(args: argparse.Namespace) -> int:
    env = dict(os.environ)
    data_dir = env.setdefault("MARAC_DATA_DIR", str(repo_root() / ".data"))
    local_sign_in(env)
    services = [name for name in args.services if name in SERVICES]
    apps = [name for name in args.services if name in WEB_APPS and name in args.apps]
    broker = None
    local = not env.get("KAFKA_BOOTSTRAP_SERVERS")
    if local:
        try:
            # The one import of the development tools in the runtime library, and a lazy one:
            # only this branch (`./dev run` with no cluster configured) needs them.
            from marac_devinfra import DevInfraError
            from marac_devinfra.kafka import LocalKafka
        except ModuleNotFoundError as exc:
            if exc.name != "marac_devinfra":
                raise
            raise CommandError(NO_DEV_TOOLS) from None
    viewer_kind: Any = None
    if not exports_traces(env):
        try:
            # The development tools' trace viewer, where they are installed (not in the image).
            from marac_devinfra.traces import TraceViewer as viewer_kind
        except ModuleNotFoundError as exc:
            if exc.name != "marac_devinfra":
                raise
    areas = preflight(args, env, viewer=viewer_kind is not None)  # before anything starts
    viewer = None
    if viewer_kind is not None:
        viewer = viewer_kind(traces_port(env)).start()
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = viewer.url  # every child exports its spans there
    if local:
        broker = LocalKafka(data_dir=Path(data_dir) / "kafka",
                            progress=lambda line: print(line, flush=True))
        try:
            # It checks its own two ports: MARAC_KAFKA_PORT and the controller's, the next one.
            env["KAFKA_BOOTSTRAP_SERVERS"] = broker.start()
        except DevInfraError as exc:
            raise CommandError(str(exc)) from None
        os.environ["KAFKA_BOOTSTRAP_SERVERS"] = env["KAFKA_BOOTSTRAP_SERVERS"]
    else:
        print(f"using the Kafka cluster at {env['KAFKA_BOOTSTRAP_SERVERS']}")
    mail = start_mail_catcher(env, Path(data_dir) / "mail")
    platform = Platform(env=env, log_dir=Path(data_dir) / "logs", services=services,
                        apps=apps, program=args.program, progress=lambda line: print(line, flush=True))
    stopping = {"now": False}

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        stopping["now"] = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        created, _ = platform_kafka.create_topics(kafka_settings(env))
        print(f"topics ready ({len(created)} created)")
        migrate_all(list(args.specs.values()), create_database=True, quiet=True)
        print("databases migrated")
        print("starting web and worker processes ...", flush=True)
        platform.start()
        print("\nThe MARAC platform is running:")
        for app in apps:
            sign_in = " (development sign-in)" if env.get("MARAC_CONSOLE_DEV_SIGN_IN") == "1" else ""
            print(f"  {app:<11} {platform.url(app)}   open it in a browser to sign in{sign_in}")
        for service in services:
            print(f"  {service:<11} {platform.url(service)}   (API reference: /api-docs)")
        print(f"\n  Kafka       {env['KAFKA_BOOTSTRAP_SERVERS']}")
        print(f"  data folder {data_dir} (SQLite databases, keys, logs)")
        if mail is not None:
            print(f"  e-mail      caught by a local SMTP server on 127.0.0.1:{env['MARAC_SMTP_PORT']}"
                  f", kept in {Path(data_dir) / 'mail'}")
        if viewer is not None:
            print(f"  traces      {viewer.url}  (a trace id, e.g. the one `marac demo` prints: "
                  f"{viewer.url}/traces/<trace id>)")
        elif exports_traces(env):
            target = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
            print(f"  traces      exported to {target}")
        print(try_it(areas), flush=True)
        while not stopping["now"]:
            platform.supervise()  # a child that exits is restarted, within limits
            time.sleep(0.5)
        return 0
    except RuntimeError as exc:
        print(f"marac run: {exc}")
        return 1
    finally:
        print("stopping ...", flush=True)
        platform.stop()
        if mail is not None:
            mail.stop()
        if viewer is not None:
            viewer.stop()
        if broker is not None:
            broker.stop()
        print("stopped")
