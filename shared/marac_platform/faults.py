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


def _reached(point: str) -> bool:
    name, _, count = os.environ.get(FAULT_ENV, "").partition(":")
    if name != point:
        return False
    with _lock:
        _passed[point] += 1
        return _passed[point] >= int(count or "1")


def kill_at(point: str) -> None:
    """SIGKILL this process if MARAC_FAULT names `point` and this is its N-th passing."""
    if not _reached(point):
        return
    log.warning("fault injected: process killed", extra={"reason_code": point,
                                                         "count": _passed[point]})
    os.kill(os.getpid(), signal.SIGKILL)


def hang_at(point: str) -> None:
    """Block this thread for good if MARAC_FAULT names `point` (its N-th passing): a loop
    stuck as a deadlock or a call without a timeout would leave it."""
    if not _reached(point):
        return
    log.warning("fault injected: thread hangs", extra={"reason_code": point})
    threading.Event().wait()
