"""A local trace viewer for `./dev run`: an OTLP/HTTP receiver the processes export their spans
to, and a small page per trace (its spans as a tree, with services, timings and attributes).

Development only: it keeps the latest traces in memory (nothing on disk) and listens on
127.0.0.1. Spans carry ids and codes, never personal data (the platform's rule), and the page
escapes every value it shows.
"""

from __future__ import annotations

import gzip
import html
import json
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

DEFAULT_PORT = 16686  # Jaeger's UI port, as in docker-compose.yml
MAX_TRACES = 500
TRACE_ID = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True)
class Span:
    trace_id: str
    span_id: str
    parent_span_id: str
    service: str
    name: str
    kind: str
    start_ns: int
    end_ns: int
    status: str
    attributes: dict[str, Any] = field(default_factory=dict)

    @property
    def duration_ms(self) -> float:
        return (self.end_ns - self.start_ns) / 1e6


def _value(any_value: Any) -> Any:
    kind = any_value.WhichOneof("value")
    if kind is None:
        return None
    value = getattr(any_value, kind)
    if kind == "array_value":
        return [_value(v) for v in value.values]
    if kind == "kvlist_value":
        return {kv.key: _value(kv.value) for kv in value.values}
    return value


KINDS = {0: "unspecified", 1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}
STATUSES = {0: "unset", 1: "ok", 2: "error"}


def parse(body: bytes) -> list[Span]:
    """The spans of one OTLP/HTTP protobuf export request."""
    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    spans: list[Span] = []
    for resource_spans in request.resource_spans:
        resource = {kv.key: _value(kv.value) for kv in resource_spans.resource.attributes}
        service = str(resource.get("service.name", "?"))
        process = resource.get("marac.process")
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                spans.append(Span(
                    trace_id=span.trace_id.hex(), span_id=span.span_id.hex(),
                    parent_span_id=span.parent_span_id.hex(),
                    service=f"{service} ({process})" if process else service, name=span.name,
                    kind=KINDS.get(span.kind, str(span.kind)), start_ns=span.start_time_unix_nano,
                    end_ns=span.end_time_unix_nano, status=STATUSES.get(span.status.code, "?"),
                    attributes={kv.key: _value(kv.value) for kv in span.attributes}))
    return spans


class TraceStore:
    """The latest traces by id, oldest dropped first."""

    def __init__(self, limit: int = MAX_TRACES) -> None:
        self.limit = limit
        self._traces: OrderedDict[str, list[Span]] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, spans: list[Span]) -> None:
        with self._lock:
            for span in spans:
                self._traces.setdefault(span.trace_id, []).append(span)
                self._traces.move_to_end(span.trace_id)
            while len(self._traces) > self.limit:
                self._traces.popitem(last=False)

    def trace(self, trace_id: str) -> list[Span]:
        with self._lock:
            return sorted(self._traces.get(trace_id, []), key=lambda span: span.start_ns)

    def recent(self, count: int = 50) -> list[tuple[str, list[Span]]]:
        with self._lock:
            latest = list(self._traces.items())[-count:]
        return [(trace_id, sorted(spans, key=lambda s: s.start_ns)) for trace_id, spans in reversed(latest)]


STYLE = """body{font:14px system-ui,sans-serif;margin:2em}table{border-collapse:collapse;width:100%}
td,th{padding:3px 8px;border-bottom:1px solid #ddd;text-align:left;vertical-align:top}
.bar{background:#4a7fd4;height:10px;min-width:1px}.error .bar{background:#d44a4a}
code{font-size:12px}details summary{cursor:pointer;color:#555}"""


def _page(title: str, body: str) -> bytes:
    return (f"<!doctype html><meta charset=utf-8><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style><h1>{html.escape(title)}</h1>{body}").encode()


def _depths(spans: list[Span]) -> dict[str, int]:
    by_id = {span.span_id: span for span in spans}
    depths: dict[str, int] = {}

    def depth(span: Span) -> int:
        if span.span_id not in depths:
            parent = by_id.get(span.parent_span_id)
            depths[span.span_id] = 0  # guards against a cycle in bad input
            depths[span.span_id] = depth(parent) + 1 if parent is not None else 0
        return depths[span.span_id]

    for span in spans:
        depth(span)
    return depths


def trace_page(trace_id: str, spans: list[Span]) -> bytes:
    if not spans:
        return _page(f"trace {trace_id}", "<p>No spans of this trace have arrived (yet). Spans are "
                                          "exported in batches every few seconds: reload.</p>"
                                          "<p><a href='/'>recent traces</a></p>")
    start = min(span.start_ns for span in spans)
    total = max(max(span.end_ns for span in spans) - start, 1)
    depths = _depths(spans)
    rows = []
    for span in spans:
        left = 100 * (span.start_ns - start) / total
        width = max(100 * (span.end_ns - span.start_ns) / total, 0.2)
        attributes = "".join(
            f"<br><code>{html.escape(key)} = {html.escape(json.dumps(value, default=str))}</code>"
            for key, value in sorted(span.attributes.items()))
        rows.append(
            f"<tr class='{'error' if span.status == 'error' else ''}'>"
            f"<td style='padding-left:{8 + 18 * depths[span.span_id]}px'>{html.escape(span.name)}"
            f"<details><summary>{html.escape(span.kind)}, {html.escape(span.status)}</summary>"
            f"{attributes or '<br>no attributes'}</details></td>"
            f"<td>{html.escape(span.service)}</td><td>{span.duration_ms:.1f} ms</td>"
            f"<td style='width:30%'><div class=bar style='margin-left:{left:.2f}%;width:{width:.2f}%'>"
            f"</div></td></tr>")
    services = sorted({span.service for span in spans})
    body = (f"<p>{len(spans)} spans over {total / 1e6:.1f} ms in {html.escape(', '.join(services))}. "
            f"<a href='/'>recent traces</a> · <a href='/api/traces/{trace_id}'>JSON</a></p>"
            "<table><tr><th>span</th><th>service</th><th>duration</th><th>timeline</th></tr>"
            + "".join(rows) + "</table>")
    return _page(f"trace {trace_id}", body)


def index_page(recent: list[tuple[str, list[Span]]]) -> bytes:
    rows = []
    for trace_id, spans in recent:
        root = next((s for s in spans if not s.parent_span_id), spans[0])
        rows.append(f"<tr><td><a href='/traces/{trace_id}'><code>{trace_id}</code></a></td>"
                    f"<td>{html.escape(root.name)}</td><td>{html.escape(root.service)}</td>"
                    f"<td>{len(spans)}</td></tr>")
    form = ("<form action='/find'><input name=id size=40 placeholder='a trace id (X-Trace-Id)'>"
            " <button>open</button></form>")
    table = ("<table><tr><th>trace</th><th>first span</th><th>service</th><th>spans</th></tr>"
             + "".join(rows) + "</table>") if rows else "<p>No traces yet.</p>"
    return _page("recent traces", form + table)


class TraceViewer:
    """The receiver and the pages, on 127.0.0.1:`port` (0: any free port)."""

    def __init__(self, port: int = DEFAULT_PORT) -> None:
        self.store = TraceStore()
        store = self.store

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.path == "/v1/traces":
                    if self.headers.get("Content-Encoding") == "gzip":
                        body = gzip.decompress(body)
                    try:
                        store.add(parse(body))
                    except Exception:  # a malformed export: refuse it, keep serving
                        self._send(400, "text/plain", b"not an OTLP protobuf trace export")
                        return
                # Other signals (metrics, logs) are accepted and dropped: nothing to show here.
                self._send(200, "application/x-protobuf", b"")

            def do_GET(self) -> None:
                path, _, query = self.path.partition("?")
                if path == "/":
                    self._send(200, "text/html; charset=utf-8", index_page(store.recent()))
                elif path == "/find":
                    wanted = query.partition("id=")[2].strip().lower()
                    self.send_response(303)
                    self.send_header("Location", f"/traces/{wanted}" if TRACE_ID.match(wanted) else "/")
                    self.end_headers()
                elif (match := re.fullmatch(r"/traces/([0-9a-f]{32})", path)) is not None:
                    trace_id = match.group(1)
                    self._send(200, "text/html; charset=utf-8", trace_page(trace_id, store.trace(trace_id)))
                elif (match := re.fullmatch(r"/api/traces/([0-9a-f]{32})", path)) is not None:
                    spans = [{**span.__dict__, "duration_ms": span.duration_ms}
                             for span in store.trace(match.group(1))]
                    self._send(200, "application/json", json.dumps(spans, default=str).encode())
                else:
                    self._send(404, "text/plain", b"not found")

            def _send(self, status: int, content_type: str, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass  # every export would be a line

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, name="trace-viewer", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> TraceViewer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
