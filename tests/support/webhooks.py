"""A real HTTP server on loopback receiving webhooks: it keeps every request (headers and body)
and answers 200, except to the first webhook (by `webhook-id`) it sees: that one gets the
failing statuses it is told to first, e.g. 503 then 500, then 200 like the rest."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int  # what the receiver answered


class WebhookReceiver:
    def __init__(self, first_fails_with: tuple[int, ...] = ()) -> None:
        self.received: list[Received] = []
        self.first_fails_with = list(first_fails_with)
        self.first_id: str | None = None
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                headers = {k.lower(): v for k, v in self.headers.items()}
                with receiver.lock:
                    status = receiver.answer(headers.get("webhook-id", ""))
                    receiver.received.append(Received(self.path, headers, body, status))
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def answer(self, webhook_id: str) -> int:
        if self.first_id is None:
            self.first_id = webhook_id
        if webhook_id == self.first_id and self.first_fails_with:
            return self.first_fails_with.pop(0)
        return 200

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/marac-hook"

    def accepted(self) -> list[Received]:
        with self.lock:
            return [r for r in self.received if 200 <= r.status < 300]

    def __enter__(self) -> WebhookReceiver:
        self.thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
