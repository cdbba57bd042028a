"""Test-only fault injection for notify: the worker is killed after a send, before recording it.

`MARAC_FAULT=notify.after_send:N` kills the process (SIGKILL, as an OOM kill or a node loss
would) right after its N-th successful send, before the delivery is marked sent.
"""

from __future__ import annotations

import logging
import os
import signal
import threading

from marac_platform.outbox import FAULT_ENV

log = logging.getLogger(__name__)

AFTER_SEND = "notify.after_send"

_lock = threading.Lock()
_sends = 0


def _after_send_limit() -> int | None:
    name, _, count = os.environ.get(FAULT_ENV, "").partition(":")
    if name != AFTER_SEND:
        return None
    return int(count or "1")


def after_send() -> None:
    global _sends
    limit = _after_send_limit()
    if limit is None:
        return
    with _lock:
        _sends += 1
        if _sends < limit:
            return
    log.warning("fault injected: worker killed after a send", extra={"count": _sends})
    os.kill(os.getpid(), signal.SIGKILL)
