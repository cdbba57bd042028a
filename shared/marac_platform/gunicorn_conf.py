"""Gunicorn settings for every service's web process; the port and size come from the CLI."""

from __future__ import annotations

from typing import Any

from marac_platform import telemetry

worker_class = "gthread"
threads = 4
timeout = 30
graceful_timeout = 10
accesslog = None  # request spans and JSON logs carry what is needed, without query strings
errorlog = "-"
loglevel = "warning"


def worker_exit(_server: Any, _worker: Any) -> None:
    # Export the spans still queued, so a trace is complete when a process stops.
    telemetry.shutdown_tracing()
