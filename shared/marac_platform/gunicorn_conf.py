"""Gunicorn settings for every service's web process; the port and size come from the CLI."""

from __future__ import annotations

import os
from typing import Any

from marac_platform import telemetry

# gthread, answering gunicorn's own refusals (a request line over 4094 bytes: 414) as problem+json.
worker_class = "marac_platform.web_worker.ProblemThreadWorker"
threads = 4
timeout = 30
graceful_timeout = 10
# Off: the app logs each request itself, with its route template instead of the path and query
# string as sent (marac_platform.http.log_request).
accesslog = None
errorlog = "-"
loglevel = "warning"

# Gunicorn's own lines in the same JSON shape as the services' logs.
_json = {"()": "marac_platform.telemetry.JsonFormatter",
         "service": os.environ.get("MARAC_SERVICE", "web")}
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": _json},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json",
                            "stream": "ext://sys.stderr"}},
    "root": {"handlers": ["stderr"], "level": "WARNING"},
    "loggers": {
        "gunicorn.error": {"handlers": ["stderr"], "level": "WARNING", "propagate": False},
        "gunicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
    },
}


def worker_exit(_server: Any, _worker: Any) -> None:
    # Export the spans still queued, so a trace is complete when a process stops.
    telemetry.shutdown_tracing()
