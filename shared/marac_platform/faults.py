"""Test-only fault injection: `MARAC_FAULT=<point>:N` kills the process with SIGKILL (as an
OOM kill or a node loss would) the N-th time it passes `point` (N defaults to 1). Unset in
every deployment; the fault tests set it on the worker they mean to kill."""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections import Counter

FAULT_ENV = "MARAC_FAULT"

log = logging.getLogger(__name__)
_passed: Counter[str] = Counter()
_lock = threading.Lock()


def kill_at(point: str) -> None:
    """SIGKILL this process if MARAC_FAULT names `point` and this is its N-th passing."""
    name, _, count = os.environ.get(FAULT_ENV, "").partition(":")
    if name != point:
        return
    with _lock:
        _passed[point] += 1
        if _passed[point] < int(count or "1"):
            return
    log.warning("fault injected: process killed", extra={"reason_code": point,
                                                         "count": _passed[point]})
    os.kill(os.getpid(), signal.SIGKILL)
