"""OpenTelemetry and logging set-up for one process; ids in spans and logs, never personal data."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

_configured: dict[str, bool] = {}

# Log record attributes a caller may add with `extra=`; anything else is dropped, so a
# careless `extra={"victim": ...}` never reaches the log.
SAFE_EXTRA = frozenset(
    {
        "event_id",
        "event_type",
        "topic",
        "partition",
        "offset",
        "case_id",
        "referral_id",
        "transfer_id",
        "meeting_id",
        "area_id",
        "attempt",
        "status",
        "path",
        "method",
        "route",
        "reason_code",
        "count",
        "duration_ms",
        "agency_id",
        "notification_id",
        "kind",
        "port",
        "url",
    }
)


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "message": record.getMessage(),
        }
        span_context = trace.get_current_span().get_span_context()
        if span_context.is_valid:
            entry["trace_id"] = format(span_context.trace_id, "032x")
            entry["span_id"] = format(span_context.span_id, "016x")
        for key in SAFE_EXTRA:
            if key in record.__dict__:
                entry[key] = record.__dict__[key]
        if record.exc_info and record.exc_info[0] is not None:
            # The type only: exception messages may echo input.
            entry["error_type"] = record.exc_info[0].__name__
        return json.dumps(entry, default=str)


def setup_logging(service: str, level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("kafka", "urllib3", "werkzeug"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def exports_traces(env: Mapping[str, str] | None = None) -> bool:
    """Whether spans leave the process (an OTLP endpoint is set in `env`, by default this
    process's); without one they are built only for the trace ids the logs carry."""
    env = os.environ if env is None else env
    return bool(env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
                or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))


def setup_tracing(service: str, process: str) -> TracerProvider:
    """One TracerProvider per process; spans exported over OTLP/HTTP when an endpoint is set."""
    existing = trace.get_tracer_provider()
    if _configured.get("tracing") and isinstance(existing, TracerProvider):
        return existing
    resource = Resource.create(
        {
            "service.name": f"marac-{service}",
            "service.namespace": "marac",
            "marac.process": process,
            "service.instance.id": f"{os.uname().nodename}-{os.getpid()}",
        }
    )
    provider = TracerProvider(resource=resource)
    if exports_traces():
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    _configured["tracing"] = True
    return provider


def shutdown_tracing() -> None:
    provider = trace.get_tracer_provider()
    if isinstance(provider, TracerProvider):
        provider.force_flush(5000)
        provider.shutdown()


def tracer(name: str) -> trace.Tracer:
    return trace.get_tracer(name)


def inject_context() -> dict[str, str]:
    """The current W3C trace context (traceparent, tracestate) as a dict of headers."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


def extract_context(headers: Mapping[str, bytes | str]) -> otel_context.Context:
    carrier = {
        name: value.decode("utf-8", "replace") if isinstance(value, bytes) else value
        for name, value in headers.items()
        if name in ("traceparent", "tracestate")
    }
    return propagate.extract(carrier)


def current_trace_id() -> str | None:
    span_context = trace.get_current_span().get_span_context()
    return format(span_context.trace_id, "032x") if span_context.is_valid else None
