"""Metrics: OpenTelemetry instruments, exported over OTLP (when an endpoint is set) and on a
Prometheus scrape endpoint per process (`MARAC_METRICS_PORT`).

Labels are bounded by design: topics, routes (templates, never paths), statuses, outcomes,
channels, job names, partitions. Never a case id, a person or anything a user typed.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource

log = logging.getLogger(__name__)
meter = metrics.get_meter("marac_platform")

# Created once at import: the API's proxy meter forwards to the provider set up later.
SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0]
HTTP_REQUESTS = meter.create_counter(
    "marac.http.requests", unit="{request}",
    description="HTTP requests answered, by method, route template and status.")
HTTP_DURATION = meter.create_histogram(
    "marac.http.duration", unit="s",
    description="Time to answer an HTTP request, by method, route template and status.",
    explicit_bucket_boundaries_advisory=SECONDS)
EVENTS_CONSUMED = meter.create_counter(
    "marac.events.consumed", unit="{event}",
    description="Events a consumer finished with, by topic and outcome (handled, duplicate, "
                "ignored, dead_lettered).")
HANDLER_DURATION = meter.create_histogram(
    "marac.handler.duration", unit="s",
    description="Time to handle one event (its transaction included), by topic.",
    explicit_bucket_boundaries_advisory=SECONDS)
EVENTS_PRODUCED = meter.create_counter(
    "marac.events.produced", unit="{event}",
    description="Events the outbox relay published, by topic and outcome (sent, failed).")
DELIVERIES = meter.create_counter(
    "marac.notify.deliveries", unit="{delivery}",
    description="Notify's delivery outcomes, by channel and outcome (sent, retry, failed, "
                "refused).")
JOB_RUNS = meter.create_counter(
    "marac.jobs.runs", unit="{run}", description="Timed job runs, by job and outcome.")
JOB_DURATION = meter.create_histogram(
    "marac.jobs.duration", unit="s", description="Time of one timed job run, by job.",
    explicit_bucket_boundaries_advisory=SECONDS)

_state: dict[str, Any] = {}


def setup_metrics(service: str, process: str) -> MeterProvider | None:
    """One MeterProvider per process: OTLP when an endpoint is set, Prometheus when
    `MARAC_METRICS_PORT` is; neither, no provider (the instruments cost nothing)."""
    if "provider" in _state:
        provider: MeterProvider = _state["provider"]
        return provider
    readers: list[MetricReader] = []
    if os.environ.get("MARAC_METRICS_PORT", "0") not in ("", "0"):
        from opentelemetry.exporter.prometheus import PrometheusMetricReader

        readers.append(PrometheusMetricReader())
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get(
            "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"):
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

        readers.append(PeriodicExportingMetricReader(OTLPMetricExporter()))
    if not readers:
        return None
    resource = Resource.create({
        "service.name": f"marac-{service}", "service.namespace": "marac",
        "marac.process": process,
        "service.instance.id": f"{os.uname().nodename}-{os.getpid()}",
    })
    provider = MeterProvider(resource=resource, metric_readers=readers)
    metrics.set_meter_provider(provider)
    _state["provider"] = provider
    return provider


def shutdown_metrics() -> None:
    provider = _state.pop("provider", None)
    if isinstance(provider, MeterProvider):
        provider.shutdown(timeout_millis=5000)


def observe(name: str, unit: str, description: str,
            read: Callable[[], Iterable[tuple[float, Mapping[str, str | int]]]]) -> None:
    """A gauge read when metrics are collected (e.g. an outbox backlog from the database);
    a failing read is logged and skipped, never raised into the exporter."""
    def callback(_options: CallbackOptions) -> Iterable[Observation]:
        try:
            return [Observation(value, dict(labels)) for value, labels in read()]
        except Exception as exc:
            log.warning("metric not read", extra={"reason_code": type(exc).__name__,
                                                  "path": name})
            return []

    meter.create_observable_gauge(name, callbacks=[callback], unit=unit, description=description)


class Heartbeats:
    """When each loop of a worker (consumer, relay, each timed job) last went round: a loop
    stuck longer than the limit makes the liveness check fail, and Kubernetes restarts it."""

    def __init__(self, limit_s: float) -> None:
        self.limit_s = limit_s
        self.last: dict[str, float] = {}
        self.lock = threading.Lock()

    def beat(self, loop: str) -> None:
        with self.lock:
            self.last[loop] = time.monotonic()

    def stalled(self) -> list[str]:
        now = time.monotonic()
        with self.lock:
            return sorted(loop for loop, at in self.last.items() if now - at > self.limit_s)


def serve(port: int, heartbeats: Heartbeats | None = None,
          ready: Callable[[], bool] | None = None) -> ThreadingHTTPServer:
    """The process's own small HTTP port: `/metrics` (Prometheus text), and for a worker
    `/livez` (every loop went round within its limit) and `/readyz`."""
    from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/metrics":
                self._answer(200, generate_latest(REGISTRY), CONTENT_TYPE_LATEST)
            elif self.path == "/livez" and heartbeats is not None:
                stalled = heartbeats.stalled()
                body = (b"stalled: " + ",".join(stalled).encode()) if stalled else b"ok"
                self._answer(503 if stalled else 200, body, "text/plain")
            elif self.path == "/readyz" and ready is not None:
                ok = ready()
                self._answer(200 if ok else 503, b"ready" if ok else b"not ready", "text/plain")
            else:
                self._answer(404, b"not found", "text/plain")

        def _answer(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: Any) -> None:
            pass  # probes every few seconds are not worth a log line

    # The same address as the web processes (MARAC_BIND_HOST: 0.0.0.0 in a pod, for probes).
    server = ThreadingHTTPServer((os.environ.get("MARAC_BIND_HOST", "127.0.0.1"), port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="metrics-port", daemon=True).start()
    return server
