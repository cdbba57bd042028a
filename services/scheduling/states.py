"""The statuses of a MARAC date and of a case's allocation, with one move table each: the one
place that says which status may follow which; and the kinds of change a case's history
records (all re-exported by `domain`)."""

from __future__ import annotations

from enum import StrEnum
from typing import Final

from marac_platform.states import MoveTable


class MeetingStatus(StrEnum):
    PLANNED = "planned"  # takes cases until it begins
    CANCELLED = "cancelled"  # by a coordinator, before it began; its cases went elsewhere
    HELD = "held"  # it ended (meeting model) or its closing date passed (co-ordination)


class AllocationStatus(StrEnum):
    WAITING = "waiting"  # no date could take it: listed as at risk
    SCHEDULED = "scheduled"
    # Only inside the transaction that records the deferral: the case then goes to the next
    # date that can take it (scheduled) or waits.
    DEFERRED = "deferred"
    HEARD = "heard"
    WITHDRAWN = "withdrawn"  # erased before it was heard


class Change(StrEnum):
    """What one entry of a case's history (allocation_changes.change) records."""

    SCHEDULED = "scheduled"  # given a date (accepted, or from the waiting list)
    RESCHEDULED = "rescheduled"  # to another date: displaced, its date cancelled, deferred
    MOVED = "moved"  # by a coordinator
    WAITING = "waiting"  # no date could take it
    HEARD = "heard"
    DEFERRED = "deferred"
    JOINED = "joined"  # another referral of the victim joined the case
    WITHDRAWN = "withdrawn"  # erased before it was heard


_M = MeetingStatus
_A = AllocationStatus

MEETING_MOVES: Final = MoveTable("meeting", {
    _M.PLANNED: frozenset({_M.CANCELLED, _M.HELD}),
    _M.CANCELLED: frozenset(),
    _M.HELD: frozenset(),
})

# Named "case" in refusals: the API addresses an allocation by its case id.
ALLOCATION_MOVES: Final = MoveTable("case", {
    # Still waiting is a move too: the reasons no date can take it change.
    _A.WAITING: frozenset({_A.SCHEDULED, _A.WAITING, _A.WITHDRAWN}),
    # Scheduled again: moved, displaced to another date, or its date cancelled.
    _A.SCHEDULED: frozenset({_A.SCHEDULED, _A.WAITING, _A.HEARD, _A.DEFERRED, _A.WITHDRAWN}),
    _A.DEFERRED: frozenset({_A.SCHEDULED, _A.WAITING}),
    _A.HEARD: frozenset({_A.WAITING}),  # a new referral of the case needs a hearing of its own
    _A.WITHDRAWN: frozenset(),
})
