"""The scheduling service's use cases, one entry for the views, handlers and tests: start-up
configuration here, the use cases in the modules by job, re-exported.

- `meetings`: upcoming dates, agendas, the calendar preview, adding, cancelling, closing dates;
- `allocation` (on `places`, the capacity mechanics): placing accepted cases first come, first
  served, waiting cases, joining referrals, moves, outcomes, erasure, the at-risk list;
- `caselists`: publishing each date's case list once, addenda, reading the documents;
- `common`: the area's calendar, its dates written as meeting rows, lookups, the history.
"""

from __future__ import annotations

from services.scheduling.allocation import (
    AtRisk,
    allocate_case,
    allocate_waiting,
    allocate_waiting_job,
    allocation_history,
    at_risk,
    erase_case,
    join_case,
    move_case,
    record_outcome,
    referrals_of,
    transfer_out,
)
from services.scheduling.caselists import (
    FAULT_AFTER_CASELIST_CLAIM,
    FAULT_EXIT_CODE,
    case_lists,
    publish_case_list,
    publish_due_case_lists,
)
from services.scheduling.common import (
    SYSTEM,
    calendar,
    ensure_meetings,
    find_allocation,
    find_meeting,
    local_today,
)
from services.scheduling.meetings import (
    Cancellation,
    add_meeting,
    agenda_cases,
    calendar_preview,
    cancel_meeting,
    close_date,
    close_past_dates,
    free_places,
    upcoming_meetings,
)
from services.scheduling.places import CapacityTaken

__all__ = [
    "FAULT_AFTER_CASELIST_CLAIM",
    "FAULT_EXIT_CODE",
    "SYSTEM",
    "AtRisk",
    "Cancellation",
    "CapacityTaken",
    "add_meeting",
    "agenda_cases",
    "allocate_case",
    "allocate_waiting",
    "allocate_waiting_job",
    "allocation_history",
    "at_risk",
    "calendar",
    "calendar_preview",
    "cancel_meeting",
    "case_lists",
    "close_date",
    "close_past_dates",
    "ensure_meetings",
    "erase_case",
    "find_allocation",
    "find_meeting",
    "free_places",
    "join_case",
    "local_today",
    "move_case",
    "publish_case_list",
    "publish_due_case_lists",
    "record_outcome",
    "referrals_of",
    "transfer_out",
    "upcoming_meetings",
]


