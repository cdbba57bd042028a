"""`marac web SERVICE`: one service's HTTP API (or a web front end, the console) under gunicorn."""

from __future__ import annotations

import argparse
import os
import sys

from marac_platform.preflight import Port, check_configuration, check_ports
from marac_platform.settings import SERVICES, WEB_APPS, service_port


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("web", help="serve one service's HTTP API (gunicorn)")
    parser.add_argument("service", choices=(*SERVICES, *WEB_APPS))
    parser.add_argument("--host", default=os.environ.get("MARAC_BIND_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=None, help="default: the service's port")
    parser.add_argument("--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", "1")))
    parser.set_defaults(func=run)


def web_port(service: str, host: str, port: int) -> Port:
    return Port(host, port, f"{service} web port",
                f"--port, MARAC_{service.upper()}_PORT or MARAC_PORT_OFFSET")


def run(args: argparse.Namespace) -> int:
    from marac_platform.cli import CommandError, spec_of

    specs = []
    if args.service in WEB_APPS:
        if args.service not in args.apps:
            raise CommandError(f"no declaration of the {args.service} web app was given")
        app_factory = args.apps[args.service].app_factory
    else:
        spec = spec_of(args, args.service)
        specs.append(spec)
        app_factory = spec.app_factory
    port = args.port or service_port(args.service)
    # Here, in one line, rather than as a traceback from inside gunicorn's worker.
    check_configuration(specs)
    check_ports([web_port(args.service, args.host, port)])
    argv = [
        sys.executable, "-m", "gunicorn",
        "--config", "python:marac_platform.gunicorn_conf",
        "--bind", f"{args.host}:{port}",
        "--workers", str(args.workers),
        "--name", f"marac-{args.service}-web",
        app_factory,
    ]
    os.environ["MARAC_SERVICE"] = args.service  # names the service in gunicorn's JSON log lines
    os.execv(sys.executable, argv)
    return 0  # not reached
