"""Rules of the case record: its statuses and the one table of their moves. Plain Python."""

from __future__ import annotations

from enum import StrEnum
from typing import Final

from marac_platform.states import MoveTable

HEARD_OUTCOME: Final = "heard"  # of case.heard (the other is "deferred")


class RecordStatus(StrEnum):
    OPEN = "open"  # the case is scheduled (or rescheduled) for a MARAC
    HEARD = "heard"


RECORD_MOVES: Final = MoveTable("case record", {
    RecordStatus.OPEN: frozenset({RecordStatus.HEARD}),
    RecordStatus.HEARD: frozenset(),
})


def status_after_hearing(current: RecordStatus, outcome: str) -> RecordStatus:
    """A case record is marked heard once its MARAC hears it; a deferral changes nothing, nor
    does the same hearing told again."""
    if outcome != HEARD_OUTCOME or current is RecordStatus.HEARD:
        return current
    return RECORD_MOVES.move(current, RecordStatus.HEARD)
