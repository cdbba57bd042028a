"""The one clock every rule reads: the wall clock in production, a shifted one in tests.

Rules never call `datetime.now()` or `date.today()`; they take `now` from here (or as an
argument from a caller that did). In-process tests freeze time with time-machine, which
this clock follows. Bearer tokens keep to the wall clock: their expiry is security, not a
rule of the MARAC process. Processes started by the end-to-end tests are shifted to a
chosen instant by `MARAC_CLOCK_START`, which is refused unless `MARAC_TEST_MODE=1`: a
deployment can never run on a clock someone set by accident.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

UK = ZoneInfo("Europe/London")  # every MARAC is in England or Wales

_offset = timedelta(0)
_started_from: datetime | None = None


def now() -> datetime:
    """The current instant, timezone-aware UTC."""
    return datetime.now(UTC) + _offset


def uk_today() -> date:
    """Today's date in the UK."""
    return now().astimezone(UK).date()


def start_at(instant: datetime | None) -> None:
    """Run this process's clock from `instant` onwards at real speed (None: the wall clock)."""
    global _offset, _started_from
    if instant == _started_from:
        return  # a second Runtime in the same process must not wind the clock back
    if instant is not None and instant.tzinfo is None:
        raise ValueError("the clock's start must carry a time zone")
    _offset = timedelta(0) if instant is None else instant - datetime.now(UTC)
    _started_from = instant
