"""`./dev run`'s local trace viewer: spans the real OTLP/HTTP exporter sends arrive, and the
trace id a response carries opens as a page of its spans."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from marac_devinfra.traces import TraceViewer

pytestmark = pytest.mark.integration


@pytest.fixture
def viewer() -> Iterator[TraceViewer]:
    running = TraceViewer(port=0).start()
    try:
        yield running
    finally:
        running.stop()


def get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.read().decode()


def test_an_exported_trace_opens_by_its_id(viewer: TraceViewer) -> None:
    resource = Resource.create({"service.name": "marac-risk", "marac.process": "web"})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{viewer.url}/v1/traces")))
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("POST /v1/referrals") as root:
        root.set_attribute("marac.case_id", "case-1<script>")
        with tracer.start_as_current_span("referral.submitted publish"):
            pass
    provider.shutdown()
    trace_id = format(root.get_span_context().trace_id, "032x")

    status, page = get(f"{viewer.url}/traces/{trace_id}")
    assert status == 200
    assert "POST /v1/referrals" in page and "referral.submitted publish" in page
    assert "marac-risk (web)" in page
    assert "case-1&lt;script&gt;" in page and "<script>" not in page  # every value escaped
    _, body = get(f"{viewer.url}/api/traces/{trace_id}")
    spans = json.loads(body)
    assert [span["name"] for span in spans] == ["POST /v1/referrals", "referral.submitted publish"]
    assert spans[1]["parent_span_id"] == spans[0]["span_id"]
    _, index = get(f"{viewer.url}/")
    assert f"/traces/{trace_id}" in index
    found = urllib.request.urlopen(f"{viewer.url}/find?id={trace_id.upper()}", timeout=10)
    assert found.url.endswith(f"/traces/{trace_id}")


def test_an_unknown_trace_says_so_and_other_signals_are_accepted(viewer: TraceViewer) -> None:
    _, page = get(f"{viewer.url}/traces/{'0' * 32}")
    assert "No spans of this trace have arrived" in page
    accepted = urllib.request.urlopen(urllib.request.Request(
        f"{viewer.url}/v1/metrics", data=b"\x00", method="POST"), timeout=10)
    assert accepted.status == 200
