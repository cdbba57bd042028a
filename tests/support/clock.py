"""Fixed instants that cross the calendar's edges, for suites whose rules read the clock.

Each date-dependent suite runs at these (or a named subset), never at "today": every
weekday (either side of a 10:00 meeting and a 17:00 cut-off), a Tuesday bank holiday, both
clock changes, the turn of the year and a leap day.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from marac_platform.clock import UK


def _uk(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UK)


EDGE_INSTANTS: dict[str, datetime] = {
    "mon": _uk("2026-11-30T09:00"),
    "tue-before-meeting": _uk("2026-12-01T08:30"),
    "tue-evening": _uk("2026-12-01T18:45"),  # that day's 10:00 meeting is over
    "wed": _uk("2026-12-02T12:00"),
    "thu-before-cutoff": _uk("2026-12-03T16:59"),
    "fri-after-cutoff": _uk("2026-12-04T17:01"),
    "sat": _uk("2026-12-05T12:00"),
    "sun-late": _uk("2026-12-06T23:30"),
    "tue-bank-holiday": _uk("2027-12-28T09:00"),  # Boxing Day observed, a meeting day
    "bst-ends": datetime(2026, 10, 25, 1, 30, tzinfo=UTC),  # 01:30 GMT, the second 01:30
    "bst-starts": datetime(2027, 3, 28, 1, 30, tzinfo=UTC),  # 02:30 BST, an hour skipped
    "new-years-eve": _uk("2026-12-31T17:30"),
    "leap-day": _uk("2028-02-29T10:30"),
}

# Where every other test over real processes stands: a Wednesday, nothing falling due.
DEFAULT_INSTANT = _uk("2026-12-02T11:00")

# For the slower suites over real Kafka and PostgreSQL: one of each kind of edge.
EDGE_SAMPLE = ("tue-evening", "fri-after-cutoff", "tue-bank-holiday", "bst-ends", "leap-day")


def process_clock_env(instant: datetime) -> dict[str, str]:
    """The environment that starts a platform process's clock at `instant` (test mode only)."""
    return {"MARAC_TEST_MODE": "1", "MARAC_CLOCK_START": instant.isoformat()}


# The test process itself travels (time-machine) rather than shift its platform clock.
PROCESS_ONLY = ("MARAC_CLOCK_START",)


def edge_params(names: tuple[str, ...] | None = None) -> list[object]:
    chosen = names or tuple(EDGE_INSTANTS)
    return [pytest.param(EDGE_INSTANTS[name], id=name) for name in chosen]
