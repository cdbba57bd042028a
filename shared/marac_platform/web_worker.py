"""Gunicorn's worker for every service's web process: gthread, with gunicorn's own refusals as
problem+json.

Gunicorn answers some requests before Flask sees them: a request line over
`limit_request_line` (414), headers over their limits (431), a malformed request (400). Its
answer is an HTML page; every other error of the platform is problem+json (RFC 9457), and
clients parse that. Gunicorn keeps deciding the status (its rules, its log line); this worker
only writes the answer in the platform's shape, without echoing any of the request.
"""

from __future__ import annotations

import http
import json
from typing import Any

from gunicorn import util
from gunicorn.workers.gthread import ThreadWorker

from marac_platform.problems import PROBLEM_TYPE, TITLES

DETAILS = {
    400: "The request is not well-formed HTTP.",
    414: "The request line (method, path and query string) is longer than this server accepts.",
    431: "The request's header fields are larger than this server accepts.",
}


class _Capture:
    """Stands in for the client's socket while gunicorn writes its error page."""

    def __init__(self) -> None:
        self.data = b""

    def gettimeout(self) -> float:
        return 0.0

    def sendall(self, data: bytes) -> None:
        self.data += data


def status_of(written: bytes) -> int:
    """The status of an HTTP/1.x response gunicorn wrote; 500 if it cannot be read."""
    parts = written.split(b"\r\n", 1)[0].split(b" ", 2)
    if len(parts) >= 2 and parts[1].isdigit() and 400 <= int(parts[1]) <= 599:
        return int(parts[1])
    return 500


def problem_bytes(status: int) -> bytes:
    """A whole HTTP/1.1 response: the problem+json body every service answers errors with."""
    try:
        phrase = http.HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    body: dict[str, Any] = {"type": "about:blank", "title": TITLES.get(status, phrase),
                            "status": status}
    if status in DETAILS:
        body["detail"] = DETAILS[status]
    content = json.dumps(body).encode()
    head = (f"HTTP/1.1 {status} {phrase}\r\nConnection: close\r\n"
            f"Content-Type: {PROBLEM_TYPE}\r\nContent-Length: {len(content)}\r\n\r\n")
    return head.encode("latin-1") + content


class ProblemThreadWorker(ThreadWorker):  # type: ignore[misc]
    """gunicorn's gthread worker; its error answers are problem+json."""

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        captured = _Capture()
        super().handle_error(req, captured, addr, exc)  # gunicorn picks the status and logs
        try:
            util.write_nonblock(client, problem_bytes(status_of(captured.data)))
        except Exception:
            self.log.debug("Failed to send error message.")
