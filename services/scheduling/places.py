"""Taking and giving back places in MARAC dates: the capacity mechanics allocation is built on.

Capacity is the database's to guard: a place is taken only by a conditional UPDATE of the
meeting row (`booked < capacity`, with a CHECK behind it), whose row lock also serialises the
slot choice and the case-list claim for that meeting across every worker replica.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import bindparam, func, select, update

from marac_platform.runtime import UnitOfWork
from services.scheduling import domain
from services.scheduling.common import ensure_meetings, local_today, occurrence_of
from services.scheduling.models import Allocation, Meeting

log = logging.getLogger(__name__)

S = domain.AllocationStatus


class CapacityTaken(Exception):
    """Other workers took every place offered first: the event is retried with fresh counts."""


@dataclass
class Placement:
    meeting: Meeting
    choice: domain.Allocation  # with the slot the case holds in the meeting
    late: bool  # the meeting's case list is out already: the case goes on an addendum
    displaced: Allocation | None = None  # the case that gave this place up (accepted later)


# Run at every allocation: built once (building one, with its cache key, cost about as much
# as running it).
_TAKE = (update(Meeting)
         .where(Meeting.id == bindparam("meeting_id"),
                Meeting.status == domain.MeetingStatus.PLANNED, Meeting.booked < Meeting.capacity)
         .values(booked=Meeting.booked + 1)
         .returning(Meeting.caselist_published_at)
         .execution_options(synchronize_session=False))
_GIVE_BACK = (update(Meeting).where(Meeting.id == bindparam("meeting_id"), Meeting.booked > 0)
              .values(booked=Meeting.booked - 1).execution_options(synchronize_session=False))
_SLOTS_USED = select(Allocation.slot_index).where(Allocation.meeting_id == bindparam("meeting_id"))
_OPEN = (select(Meeting).where(Meeting.area_id == bindparam("area_id"),
                               Meeting.status == domain.MeetingStatus.PLANNED,
                               Meeting.starts_at > bindparam("now"))
         .order_by(Meeting.starts_at)
         .execution_options(populate_existing=True))
_MAY_YIELD = select(Allocation).where(
    Allocation.meeting_id.in_(bindparam("meeting_ids", expanding=True)),
    Allocation.status == S.SCHEDULED,
    func.coalesce(Allocation.accepted_at, Allocation.allocated_at) >= bindparam("accepted_at"))


def take_place(uow: UnitOfWork, target: str) -> tuple[bool, datetime | None]:
    """One place in the meeting, or (False, None) when it is full or no longer planned.

    The UPDATE locks the meeting row until commit, so the slot chosen next and a concurrent
    case-list claim see this booking; RETURNING reads whether the list is already out.
    """
    row = uow.session.execute(_TAKE, {"meeting_id": target}).first()
    if row is None:
        return False, None
    published: datetime | None = row[0]
    return True, published


def give_back_place(uow: UnitOfWork, source: str | None) -> None:
    if source is None:
        return
    uow.session.execute(_GIVE_BACK, {"meeting_id": source})


def slot(uow: UnitOfWork, config: domain.CalendarConfig,
         meeting: Meeting) -> tuple[int | None, datetime | None]:
    """The slot a case taking a place in the meeting holds: the first free one (meeting
    model); none in the co-ordination model."""
    if meeting.model != "meeting":
        return None, None
    used = uow.session.scalars(_SLOTS_USED, {"meeting_id": meeting.id})
    index = domain.first_free_slot(used, meeting.capacity)
    if index is None:  # booked said there was room: the count and the slots disagree
        raise CapacityTaken(meeting.id)
    return index, domain.slot_start(config, occurrence_of(meeting), index)


def open_meetings(uow: UnitOfWork, area_id: str, now: datetime) -> list[Meeting]:
    """The area's dates within the horizon that are planned and not begun, earliest first."""
    today = local_today(now)
    ensure_meetings(uow, area_id, today, today + timedelta(days=domain.HORIZON_DAYS))
    return list(uow.session.scalars(_OPEN, {"area_id": area_id, "now": now}))


def list_closed(meeting: Meeting, now: datetime) -> bool:
    return domain.caselist_closed(meeting.caselist_published_at, meeting.caselist_due_at, now)


def seat_of(record: Allocation) -> domain.Seat:
    return domain.Seat(
        case_id=record.case_id, accepted_at=record.accepted_at or record.allocated_at,
        urgent=record.urgent, moved_by_coordinator=domain.moved_by_coordinator(record.reasons or ()))


def assign(record: Allocation, placement: Placement, now: datetime) -> None:
    choice = placement.choice
    record.status = domain.ALLOCATION_MOVES.move(S(record.status), S.SCHEDULED).value
    record.meeting_id = placement.meeting.id
    record.marac_date = placement.meeting.marac_date
    record.slot_index = choice.slot_index
    record.slot_start = choice.slot_start
    record.beyond_target = choice.beyond_target
    record.target_date = choice.target_date
    record.reasons = list(choice.reasons)
    record.caselist_edition = None
    record.updated_at = now


def unassign(record: Allocation, reasons: Iterable[str], now: datetime,
             status: domain.AllocationStatus = S.WAITING) -> None:
    """The case holds no date any more: it waits (with why no date can take it), or is
    withdrawn."""
    record.status = domain.ALLOCATION_MOVES.move(S(record.status), status).value
    record.meeting_id = None
    record.marac_date = None
    record.slot_index = None
    record.slot_start = None
    record.caselist_edition = None
    record.reasons = list(reasons)
    record.updated_at = now


def _places_to_yield(uow: UnitOfWork, meetings: Sequence[Meeting], newcomer: domain.Seat,
                     now: datetime) -> dict[str, int]:
    """Per meeting whose case list is not out, the places held by cases accepted after
    `newcomer` that would give way to it (a snapshot: `_displace` checks again under lock)."""
    open_ids = [m.id for m in meetings if not list_closed(m, now)]
    if not open_ids:
        return {}
    holders: dict[str, list[domain.Seat]] = {}
    # Only a case accepted after the newcomer may give way (`domain.may_displace`): most
    # newcomers are the last accepted, and reading every case on the horizon grew with each.
    for record in uow.session.scalars(_MAY_YIELD, {"meeting_ids": open_ids,
                                                   "accepted_at": newcomer.accepted_at}):
        assert record.meeting_id is not None
        holders.setdefault(record.meeting_id, []).append(seat_of(record))
    return {meeting: domain.places_to_yield(newcomer, seats) for meeting, seats in holders.items()}


def _displace(uow: UnitOfWork, target: str, newcomer: domain.Seat,
              now: datetime) -> Allocation | None:
    """Free a place in the full meeting for `newcomer` by taking it from the case accepted last
    after it, if one may give way; None when none may.

    The meeting row is locked first, so every other booking into it waits, and the place
    given back is the one the newcomer then takes: `booked` never passes capacity.
    """
    meeting = uow.session.scalar(select(Meeting).where(Meeting.id == target).with_for_update()
                                 .execution_options(populate_existing=True))
    if (meeting is None or not domain.takes_cases(meeting.status, meeting.starts_at, now)
            or list_closed(meeting, now)):
        return None
    query = (select(Allocation)
             .where(Allocation.meeting_id == target, Allocation.status == S.SCHEDULED)
             .execution_options(populate_existing=True))
    if uow.runtime.db.is_postgres:
        query = query.with_for_update(skip_locked=True)  # being moved or erased: not a candidate
    holders = {record.case_id: record for record in uow.session.scalars(query)}
    chosen = domain.to_displace(newcomer, [seat_of(record) for record in holders.values()])
    if chosen is None:
        return None
    record = holders[chosen.case_id]
    give_back_place(uow, target)
    record.previous_meeting_id = target
    unassign(record, [], now)
    uow.session.flush()  # its slot is free before the newcomer takes one
    log.info("place given to a case accepted earlier",
             extra={"case_id": record.case_id, "meeting_id": target})
    return record


def place(uow: UnitOfWork, config: domain.CalendarConfig, meetings: Sequence[Meeting],
          received_at: datetime, urgent: bool, now: datetime,
          newcomer: domain.Seat | None = None) -> Placement:
    """The earliest date that can take the case, and a place in it.

    With `newcomer` (a newly accepted case), places go first come, first served by acceptance:
    a date is full for it only with cases accepted before it (or that may not give way); a
    place held by one accepted after it is taken (`Placement.displaced`, for the caller to
    place again). A place another worker took first counts that date as full and the choice
    is made again; raises NoMeetingAvailable when no date can take it.
    """
    by_date = {m.marac_date: m for m in meetings}
    full: set[str] = set()
    yielding = _places_to_yield(uow, meetings, newcomer, now) if newcomer is not None else {}
    for _ in range(len(meetings) + 1):
        offered = [
            domain.OpenMeeting(
                domain.MeetingLoad(occurrence_of(m), m.capacity if m.id in full
                                   else max(m.booked - yielding.get(m.id, 0), 0)),
                caselist_closed=list_closed(m, now))
            for m in meetings
        ]
        choice = domain.allocate_open(config, received_at, now, offered, urgent=urgent)
        meeting = by_date[choice.meeting.date]
        taken, published = take_place(uow, meeting.id)
        displaced = None
        if not taken and newcomer is not None:
            displaced = _displace(uow, meeting.id, newcomer, now)
            if displaced is not None:
                taken, published = take_place(uow, meeting.id)
                if not taken:  # cannot be while this transaction holds the row lock
                    raise CapacityTaken(meeting.id)
        if not taken:
            full.add(meeting.id)
            continue
        # The slot is the first free one, not `booked` (a case that moved away left a gap).
        index, start = slot(uow, config, meeting)
        return Placement(meeting, replace(choice, slot_index=index, slot_start=start),
                         late=published is not None, displaced=displaced)
    raise CapacityTaken(meetings[0].area_id if meetings else "-")
