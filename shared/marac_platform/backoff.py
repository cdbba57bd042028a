"""Waiting out an outage (the Kafka broker, the database): capped exponential backoff, logged."""

from __future__ import annotations

import logging
import random
import threading

log = logging.getLogger(__name__)

FIRST_S = 0.5
CAP_S = 10.0


def reason_code(exc: BaseException) -> str:
    """The error's type only: client messages may echo addresses or values."""
    return type(exc).__name__


class Backoff:
    """Retry delays 0.5 s, 1 s, 2 s ... at most CAP_S; each wait is logged with its reason."""

    def __init__(self, what: str, first_s: float = FIRST_S, cap_s: float = CAP_S) -> None:
        self.what = what  # a fixed name (e.g. "kafka consumer"), never data
        self.first_s = first_s
        self.cap_s = cap_s
        self.failures = 0

    def next_delay(self) -> float:
        # A little jitter, so the replicas of a worker do not all retry in the same instant.
        base = min(self.cap_s, self.first_s * 2.0 ** min(self.failures, 30))
        return base * random.uniform(0.8, 1.0)

    def wait(self, stop: threading.Event, exc: BaseException) -> None:
        """Log the failure and wait before the next try (less if `stop` is set meanwhile)."""
        delay = self.next_delay()
        self.failures += 1
        log.warning(f"{self.what} unavailable; retrying",
                    extra={"reason_code": reason_code(exc), "attempt": self.failures,
                           "duration_ms": round(delay * 1000)})
        stop.wait(delay)

    def succeeded(self) -> None:
        if self.failures:
            log.info(f"{self.what} available again", extra={"attempt": self.failures})
            self.failures = 0
