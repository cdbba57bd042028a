"""A service's web process as deployed (`marac web`, gunicorn): what gunicorn itself answers
before Flask sees the request is problem+json too."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from marac_platform.ports import free_port
from marac_platform.security.tokens import ensure_dev_keypair, mint_token
from tests.conftest import REPO
from tests.support.kafka_tools import wait_for

pytestmark = pytest.mark.integration

PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The web process's data folder; its output goes to web.log there."""
    return tmp_path_factory.mktemp("web")


@pytest.fixture(scope="module")
def web(data_dir: Path) -> Iterator[int]:
    """The risk service under gunicorn on SQLite: these requests never reach a database."""
    port = free_port()
    env = {key: value for key, value in os.environ.items()
           if not key.endswith("DATABASE_URL") and key != "KAFKA_BOOTSTRAP_SERVERS"}
    env.update({"MARAC_DATA_DIR": str(data_dir), "MARAC_AREAS_FILE": str(REPO / "deploy" / "areas.yaml")})
    log = (data_dir / "web.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "services", "web", "risk", "--port", str(port)],
        env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    try:
        def up() -> bool:
            assert process.poll() is None, (data_dir / "web.log").read_text()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                    return bool(response.status == 200)
            except OSError:
                return False

        wait_for(up, timeout_s=60)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def raw(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
    return int(status_line.split(" ")[1]), headers, body


def test_a_url_over_the_request_line_limit_is_414_problem_json(web: int) -> None:
    url = f"http://127.0.0.1:{web}/v1/checklists?x={'a' * 5000}"
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(url, timeout=10)
    assert info.value.code == 414
    assert info.value.headers["Content-Type"] == PROBLEM
    body = json.loads(info.value.read())
    assert body["status"] == 414 and body["type"] == "about:blank" and body["title"]
    assert "aaaa" not in json.dumps(body)  # nothing of the request is echoed


def test_gunicorns_other_refusals_are_problem_json_too(web: int) -> None:
    status, headers, body = raw(web, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: "
                                + b"a" * 9000 + b"\r\n\r\n")
    assert (status, headers["content-type"]) == (431, PROBLEM)
    assert json.loads(body)["status"] == 431
    assert int(headers["content-length"]) == len(body)
    status, headers, body = raw(web, b"NOT HTTP AT ALL\r\n\r\n")
    assert (status, headers["content-type"], json.loads(body)["status"]) == (400, PROBLEM, 400)
    # What gunicorn lets through is Flask's to answer, as before.
    status, headers, _ = raw(web, b"GET /v1/checklists HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert (status, headers["content-type"]) == (401, PROBLEM)



def test_every_request_is_one_json_line_without_its_path_query_or_body(web: int, data_dir: Path) -> None:
    private_key, _ = ensure_dev_keypair(data_dir / "keys")
    token = mint_token(private_key.read_bytes(), subject="dev-coordinator", agency="idva",
                       role="coordinator", areas=["northshire"], audience="marac", issuer="marac-dev")
    secret = "Canary-Surname"  # what a careless client might put in a query string
    asked = urllib.request.Request(f"http://127.0.0.1:{web}/v1/checklists/dash-{secret}?name={secret}",
                                   headers={"Authorization": f"Bearer {token}"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(asked, timeout=10)
    trace_id = refused.value.headers["X-Trace-Id"]
    log = data_dir / "web.log"

    def request_lines() -> list[dict[str, object]]:
        entries = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
        return [entry for entry in entries if entry.get("logger") == "marac.request"]

    lines = wait_for(lambda: [e for e in request_lines() if e.get("trace_id") == trace_id], timeout_s=10)
    assert lines == [{**lines[0], "level": "INFO", "service": "risk", "message": "request",
                      "method": "GET", "route": "/v1/checklists/<version>",
                      "status": refused.value.code}]
    assert isinstance(lines[0]["duration_ms"], float)
    assert secret not in log.read_text()
