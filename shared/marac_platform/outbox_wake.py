"""Waking another process's outbox relay on SQLite, where there is no LISTEN/NOTIFY: the web
process, having committed outbox rows, sends one datagram to a Unix socket the worker of the
same database listens on, so the web's events are relayed at once instead of at the next poll.

Linux abstract sockets (no file to clean up), named after the database file. Best effort both
ways: no listener, a full buffer or another platform just leaves the relay to its poll.
"""

from __future__ import annotations

import hashlib
import logging
import socket
import sys
import threading

from marac_platform.db import sqlite_path

log = logging.getLogger(__name__)


def address(database_url: str) -> str | None:
    """The wake socket of a SQLite database file; None for other databases or platforms."""
    if not sys.platform.startswith("linux"):
        return None
    path = sqlite_path(database_url)
    if path is None:
        return None
    return "\0marac-outbox-" + hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:24]


class WakeSender:
    """One non-blocking datagram socket per process, opened on first use."""

    def __init__(self, target: str | None) -> None:
        self.target = target
        self._socket: socket.socket | None = None
        self._lock = threading.Lock()

    def send(self) -> None:
        if self.target is None:
            return
        with self._lock:
            try:
                if self._socket is None:
                    self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                    self._socket.setblocking(False)
                self._socket.sendto(b"w", self.target)
            except OSError:
                pass  # no worker listening, or its buffer is full (so it is awake anyway)


def listen(target: str, stop: threading.Event, wake: threading.Event) -> None:
    """Set `wake` at every datagram until `stop`. A second worker of the same database cannot
    bind the name: it polls, as before."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        try:
            listener.bind(target)
        except OSError as exc:
            log.info("outbox wake socket taken; relaying by poll",
                     extra={"reason_code": type(exc).__name__})
            return
        listener.settimeout(1.0)
        while not stop.is_set():
            try:
                listener.recv(64)
            except TimeoutError:
                continue
            except OSError as exc:
                log.warning("outbox wake socket failed; relaying by poll",
                            extra={"reason_code": type(exc).__name__})
                return
            wake.set()
