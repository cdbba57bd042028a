"""The SQLite relay wake-up: a datagram from the web process's commit ends the worker relay's wait."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from marac_platform import outbox_wake


def test_a_sqlite_file_has_a_wake_socket_other_databases_none(tmp_path: Path) -> None:
    first = outbox_wake.address(f"sqlite:///{tmp_path}/referral.db")
    assert first is not None and first.startswith("\0marac-outbox-")
    assert outbox_wake.address(f"sqlite:///{tmp_path}/./referral.db") == first
    assert outbox_wake.address(f"sqlite:///{tmp_path}/risk.db") != first
    assert outbox_wake.address("sqlite://") is None
    assert outbox_wake.address("postgresql+psycopg://u:p@127.0.0.1:5432/db") is None


def test_a_send_wakes_the_listener_and_one_without_listener_is_harmless(tmp_path: Path) -> None:
    target = outbox_wake.address(f"sqlite:///{tmp_path}/referral.db")
    assert target is not None
    sender = outbox_wake.WakeSender(target)
    sender.send()  # nobody listens yet: nothing happens
    stop, wake = threading.Event(), threading.Event()
    listener = threading.Thread(target=outbox_wake.listen, args=(target, stop, wake), daemon=True)
    listener.start()
    try:
        deadline = time.monotonic() + 10
        while not wake.is_set() and time.monotonic() < deadline:
            sender.send()  # until the listener has bound the name
            wake.wait(0.05)
        assert wake.is_set()
        second = threading.Event()  # a second worker of the same file cannot bind: it returns
        outbox_wake.listen(target, stop, second)
    finally:
        stop.set()
        listener.join(5)
    assert not listener.is_alive()
