"""The scheduling service's use cases: each area's meetings, allocating accepted cases, moving
and cancelling, publishing case lists exactly once, and closing MARAC dates.

Capacity is the database's to guard: a place is taken only by a conditional UPDATE of the
meeting row (`booked < capacity`, with a CHECK behind it), whose row lock also serialises the
slot choice and the case-list claim for that meeting across every worker replica.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any

from opentelemetry import trace
from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as postgres_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from marac_platform import events
from marac_platform.db import utcnow
from marac_platform.keystore import KeyStore
from marac_platform.payloads import CaseErased, ReferralAccepted
from marac_platform.problems import Problem
from marac_platform.runtime import Runtime, UnitOfWork
from marac_platform.security import crypto
from services.scheduling import domain
from services.scheduling.config import SchedulingConfig
from services.scheduling.models import (
    Allocation,
    AllocationChange,
    AllocationReferral,
    CaseList,
    Meeting,
)

log = logging.getLogger(__name__)
tracer = trace.get_tracer("services.scheduling")


HORIZON_DAYS = 180
SYSTEM = "system"

# Test-only fault injection (as the outbox relay's): the worker exits after claiming a case
# list and before its transaction commits, as a crash or a kill would.
FAULT_ENV = "MARAC_FAULT"
FAULT_AFTER_CASELIST_CLAIM = "scheduling.after_caselist_claim"
FAULT_EXIT_CODE = 87

WAITING, SCHEDULED_STATUS, HEARD_STATUS = "waiting", "scheduled", "heard"
WITHDRAWN = "withdrawn"  # erased before it was heard
DISPLACED = "displaced"  # its place went to a case accepted earlier
JOINED = "joined"  # another referral of the victim joined the case
NEW_REFERRAL = "new_referral"  # a heard case's new referral needs a hearing of its own


class CapacityTaken(Exception):
    """Other workers took every place offered first: the event is retried with fresh counts."""


def calendar(runtime: Runtime, area_id: str) -> domain.CalendarConfig:
    return runtime.config_as(SchedulingConfig).calendars[area_id]


def meeting_id(area_id: str, day: date) -> str:
    return f"{area_id}-{day.isoformat()}"


def local_today(now: datetime | None = None) -> date:
    return domain.local_date(now or utcnow())


def fault(point: str) -> None:
    if os.environ.get(FAULT_ENV) == point:
        log.warning("fault injected: exiting", extra={"reason_code": point})
        os._exit(FAULT_EXIT_CODE)


# --- meetings -------------------------------------------------------------------------------


def _meeting_row(area_id: str, config: domain.CalendarConfig,
                 occurrence: domain.MeetingOccurrence) -> dict[str, Any]:
    return {
        "id": meeting_id(area_id, occurrence.date), "area_id": area_id,
        "marac_date": occurrence.date, "starts_at": occurrence.start, "ends_at": occurrence.end,
        "model": config.model, "capacity": occurrence.capacity, "booked": 0, "status": "planned",
        "ad_hoc": occurrence.ad_hoc, "moved_from": occurrence.moved_from,
        "caselist_due_at": domain.caselist_publish_at(config, occurrence),
    }


def _insert_missing(uow: UnitOfWork, rows: list[dict[str, Any]]) -> None:
    """Insert meeting rows, leaving any another worker wrote meanwhile (no error, no retry)."""
    if not rows:
        return
    if uow.runtime.db.is_postgres:
        uow.session.execute(postgres_insert(Meeting).values(rows).on_conflict_do_nothing())
    else:
        uow.session.execute(sqlite_insert(Meeting).values(rows).on_conflict_do_nothing())


def ensure_meetings(uow: UnitOfWork, area_id: str, start: date, end: date) -> None:
    """Write the area's calendar dates between start and end as meeting rows, once."""
    config = calendar(uow.runtime, area_id)
    existing = set(uow.session.scalars(
        select(Meeting.marac_date).where(Meeting.area_id == area_id,
                                         Meeting.marac_date.between(start, end))))
    _insert_missing(uow, [_meeting_row(area_id, config, occurrence)
                          for occurrence in domain.meeting_dates(config, start, end)
                          if occurrence.date not in existing])


def occurrence_of(meeting: Meeting) -> domain.MeetingOccurrence:
    return domain.MeetingOccurrence(
        date=meeting.marac_date, start=meeting.starts_at.astimezone(domain.LONDON),
        end=meeting.ends_at.astimezone(domain.LONDON), capacity=meeting.capacity,
        moved_from=meeting.moved_from, ad_hoc=meeting.ad_hoc)


def free_places(meeting: Meeting, now: datetime) -> int:
    """Places a case could still take: none once the date is cancelled, held or under way."""
    if meeting.status != "planned" or meeting.starts_at <= now:
        return 0
    return max(meeting.capacity - meeting.booked, 0)


def add_meeting(uow: UnitOfWork, area_id: str, day: date, capacity: int | None, actor: str,
                now: datetime | None = None) -> Meeting:
    """A coordinator adds an ad hoc MARAC date; cases waiting for a date are offered it."""
    now = now or utcnow()
    config = calendar(uow.runtime, area_id)

    def invalid(field_name: str, reason: str) -> Problem:
        return Problem(422, "Invalid input", reason, errors=[{"field": field_name, "reason": reason}])

    if not domain.is_working_day(config, day):
        raise invalid("marac_date", "Not a working day (a weekend, bank holiday or closure date).")
    start = domain.local_datetime(day, config.start_time)
    if start <= now:
        raise invalid("marac_date", "Must be in the future.")
    if capacity is not None and capacity > config.max_cases:
        raise invalid("capacity", f"At most {config.max_cases} cases fit in one of this area's dates.")
    ensure_meetings(uow, area_id, day, day)  # a calendar date not yet written counts as taken
    if uow.session.scalar(select(Meeting.id).where(Meeting.area_id == area_id,
                                                   Meeting.marac_date == day)) is not None:
        raise Problem(409, "Conflict", "The area already has a MARAC date (or a cancelled one) on that day.",
                      slug="meeting-exists")
    occurrence = domain.MeetingOccurrence(
        date=day, start=start, end=domain.add_minutes(start, config.length_minutes),
        capacity=capacity or config.max_cases, ad_hoc=True)
    meeting = Meeting(**_meeting_row(area_id, config, occurrence))
    uow.session.add(meeting)
    uow.session.flush()
    log.info("ad hoc meeting added", extra={"meeting_id": meeting.id, "area_id": area_id})
    allocate_waiting(uow, area_id, now)
    return meeting


def upcoming_meetings(uow: UnitOfWork, area_id: str, from_date: date | None, limit: int,
                      include_cancelled: bool, now: datetime | None = None) -> list[Meeting]:
    """An area's MARAC dates from `from_date`, or by default those not yet begun."""
    now = now or utcnow()
    start = from_date or local_today(now)
    ensure_meetings(uow, area_id, start, start + timedelta(days=120))
    statement = (select(Meeting).where(Meeting.area_id == area_id, Meeting.marac_date >= start)
                 .order_by(Meeting.marac_date).limit(limit))
    if from_date is None:
        statement = statement.where(Meeting.starts_at > now)  # today's, once begun, is not "next"
    if not include_cancelled:
        statement = statement.where(Meeting.status != "cancelled")
    return list(uow.session.scalars(statement).all())


def calendar_preview(uow: UnitOfWork, area_id: str, count: int,
                     now: datetime | None = None) -> list[domain.MeetingOccurrence]:
    """The next `count` dates from the calendar not yet begun, with coordinators' additions
    and cancellations."""
    now = now or utcnow()
    today = local_today(now)
    rows = uow.session.execute(
        select(Meeting.marac_date, Meeting.status, Meeting.ad_hoc)
        .where(Meeting.area_id == area_id, Meeting.marac_date >= today)).all()
    extra = [row.marac_date for row in rows if row.ad_hoc and row.status != "cancelled"]
    cancelled = [row.marac_date for row in rows if row.status == "cancelled"]
    dates = domain.next_dates(calendar(uow.runtime, area_id), today, count=count + 1,
                              extra_dates=extra, cancelled=cancelled)
    return [o for o in dates if o.start > now][:count]


# --- taking and giving back places ------------------------------------------------------------


@dataclass
class Placement:
    meeting: Meeting
    choice: domain.Allocation
    slot_index: int | None
    slot_start: datetime | None
    late: bool  # the meeting's case list is out already: the case goes on an addendum
    displaced: Allocation | None = None  # the case that gave this place up (accepted later)


@dataclass
class Addenda:
    """Cases placed after their meeting's list went out, published once per meeting at the end."""

    by_meeting: dict[str, tuple[Meeting, list[Allocation]]] = field(default_factory=dict)

    def add(self, meeting: Meeting, record: Allocation) -> None:
        self.by_meeting.setdefault(meeting.id, (meeting, []))[1].append(record)


def _take_place(uow: UnitOfWork, target: str) -> tuple[bool, datetime | None]:
    """One place in the meeting, or (False, None) when it is full or no longer planned.

    The UPDATE locks the meeting row until commit, so the slot chosen next and a concurrent
    case-list claim see this booking; RETURNING reads whether the list is already out.
    """
    row = uow.session.execute(
        update(Meeting)
        .where(Meeting.id == target, Meeting.status == "planned",
               Meeting.booked < Meeting.capacity)
        .values(booked=Meeting.booked + 1)
        .returning(Meeting.caselist_published_at)
        .execution_options(synchronize_session=False)).first()
    if row is None:
        return False, None
    published: datetime | None = row[0]
    return True, published


def _give_back_place(uow: UnitOfWork, source: str | None) -> None:
    if source is None:
        return
    uow.session.execute(
        update(Meeting).where(Meeting.id == source, Meeting.booked > 0)
        .values(booked=Meeting.booked - 1).execution_options(synchronize_session=False))


def _slot(uow: UnitOfWork, config: domain.CalendarConfig,
          meeting: Meeting) -> tuple[int | None, datetime | None]:
    if meeting.model != "meeting":
        return None, None
    used = uow.session.scalars(select(Allocation.slot_index).where(Allocation.meeting_id == meeting.id))
    index = domain.first_free_slot(used, meeting.capacity)
    if index is None:  # booked said there was room: the count and the slots disagree
        raise CapacityTaken(meeting.id)
    return index, domain.slot_start(config, occurrence_of(meeting), index)


def _open_meetings(uow: UnitOfWork, area_id: str, now: datetime) -> list[Meeting]:
    today = local_today(now)
    ensure_meetings(uow, area_id, today, today + timedelta(days=HORIZON_DAYS))
    return list(uow.session.scalars(
        select(Meeting).where(Meeting.area_id == area_id, Meeting.status == "planned",
                              Meeting.starts_at > now)
        .order_by(Meeting.starts_at)
        .execution_options(populate_existing=True)))


def _list_closed(meeting: Meeting, now: datetime) -> bool:
    return meeting.caselist_published_at is not None or meeting.caselist_due_at <= now


def seat_of(record: Allocation) -> domain.Seat:
    return domain.Seat(
        case_id=record.case_id, accepted_at=record.accepted_at or record.allocated_at,
        urgent=record.urgent,
        moved_by_coordinator=any(r.startswith("moved:") for r in record.reasons or ()))


def _places_to_yield(uow: UnitOfWork, meetings: Sequence[Meeting], newcomer: domain.Seat,
                     now: datetime) -> dict[str, int]:
    """Per meeting whose case list is not out, the places held by cases accepted after
    `newcomer` that would give way to it (a snapshot: `_displace` checks again under lock)."""
    open_ids = [m.id for m in meetings if not _list_closed(m, now)]
    if not open_ids:
        return {}
    holders: dict[str, list[domain.Seat]] = {}
    for record in uow.session.scalars(
            select(Allocation).where(Allocation.meeting_id.in_(open_ids),
                                     Allocation.status == SCHEDULED_STATUS)):
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
    if (meeting is None or meeting.status != "planned" or meeting.starts_at <= now
            or _list_closed(meeting, now)):
        return None
    query = (select(Allocation)
             .where(Allocation.meeting_id == target, Allocation.status == SCHEDULED_STATUS)
             .execution_options(populate_existing=True))
    if uow.runtime.db.is_postgres:
        query = query.with_for_update(skip_locked=True)  # being moved or erased: not a candidate
    holders = {record.case_id: record for record in uow.session.scalars(query)}
    chosen = domain.to_displace(newcomer, [seat_of(record) for record in holders.values()])
    if chosen is None:
        return None
    record = holders[chosen.case_id]
    _give_back_place(uow, target)
    record.previous_meeting_id = target
    _unassign(record, [], now)
    uow.session.flush()  # its slot is free before the newcomer takes one
    log.info("place given to a case accepted earlier",
             extra={"case_id": record.case_id, "meeting_id": target})
    return record


def _place(uow: UnitOfWork, config: domain.CalendarConfig, meetings: Sequence[Meeting],
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
                caselist_closed=_list_closed(m, now))
            for m in meetings
        ]
        choice = domain.allocate_open(config, received_at, now, offered, urgent=urgent)
        meeting = by_date[choice.meeting.date]
        taken, published = _take_place(uow, meeting.id)
        displaced = None
        if not taken and newcomer is not None:
            displaced = _displace(uow, meeting.id, newcomer, now)
            if displaced is not None:
                taken, published = _take_place(uow, meeting.id)
                if not taken:  # cannot be while this transaction holds the row lock
                    raise CapacityTaken(meeting.id)
        if not taken:
            full.add(meeting.id)
            continue
        index, start = _slot(uow, config, meeting)
        return Placement(meeting, choice, index, start, late=published is not None,
                         displaced=displaced)
    raise CapacityTaken(meetings[0].area_id if meetings else "-")


def _assign(record: Allocation, placement: Placement, now: datetime) -> None:
    record.meeting_id = placement.meeting.id
    record.marac_date = placement.meeting.marac_date
    record.slot_index = placement.slot_index
    record.slot_start = placement.slot_start
    record.beyond_target = placement.choice.beyond_target
    record.target_date = placement.choice.target_date
    record.reasons = list(placement.choice.reasons)
    record.status = SCHEDULED_STATUS
    record.caselist_edition = None
    record.updated_at = now


def _unassign(record: Allocation, reasons: Iterable[str], now: datetime) -> None:
    record.meeting_id = None
    record.marac_date = None
    record.slot_index = None
    record.slot_start = None
    record.caselist_edition = None
    record.status = WAITING
    record.reasons = list(reasons)
    record.updated_at = now


def _history(uow: UnitOfWork, record: Allocation, change: str, *, from_meeting: str | None,
             to_meeting: str | None, reason: str | None, actor: str, now: datetime) -> None:
    uow.session.add(AllocationChange(
        case_id=record.case_id, area_id=record.area_id, at=now, change=change,
        from_meeting_id=from_meeting, to_meeting_id=to_meeting, reason=reason, actor=actor))


def _when(meeting: Meeting, record: Allocation, referral: tuple[str, str]) -> dict[str, Any]:
    referral_id, referrer_agency = referral
    return {
        "case_id": record.case_id, "referral_id": referral_id, "area_id": record.area_id,
        "meeting_id": meeting.id, "marac_date": meeting.marac_date.isoformat(),
        "meeting_start": meeting.starts_at.isoformat(), "model": meeting.model,
        "slot_index": record.slot_index,
        "slot_start": record.slot_start.isoformat() if record.slot_start else None,
        "target_date": record.target_date.isoformat(), "beyond_target": record.beyond_target,
        "referrer_agency": referrer_agency,
    }


def referrals_of(uow: UnitOfWork, record: Allocation) -> list[tuple[str, str]]:
    """(referral id, referrer's agency) of every referral the case's hearing is for: the one it
    was allocated for, then those that joined the case, in the order they joined."""
    joined = uow.session.execute(
        select(AllocationReferral.referral_id, AllocationReferral.referrer_agency)
        .where(AllocationReferral.case_id == record.case_id)
        .order_by(AllocationReferral.joined_at, AllocationReferral.referral_id)).all()
    return [(record.referral_id, record.referrer_agency),
            *((row.referral_id, row.referrer_agency) for row in joined)]


def _announce(uow: UnitOfWork, meeting: Meeting, record: Allocation, *,
              previous: Meeting | None, cause: str | None, reason: str | None,
              referrals: Sequence[tuple[str, str]] | None = None) -> None:
    """case.scheduled for every consumer of dates; case.rescheduled when the date changed.

    One of each per referral of the case (by default all of them), so that each referral
    follows the date and each referrer is told.
    """
    for referral in referrals if referrals is not None else referrals_of(uow, record):
        data = _when(meeting, record, referral)
        uow.publish(events.CASE_SCHEDULED, subject=record.case_id, area=record.area_id,
                    data={**data, "rescheduled": previous is not None})
        if previous is not None:
            uow.publish(events.CASE_RESCHEDULED, subject=record.case_id, area=record.area_id, data={
                **data, "previous_meeting_id": previous.id,
                "previous_marac_date": previous.marac_date.isoformat(),
                "cause": cause, "reason": reason,
            })


# --- allocation -------------------------------------------------------------------------------


def allocate_case(uow: UnitOfWork, accepted: ReferralAccepted,
                  now: datetime | None = None) -> Allocation:
    """Give an accepted case the earliest MARAC date its area's rules allow, or park it as
    waiting (listed as at risk) when no date within the horizon can take it.

    Places go in order of acceptance: a case accepted after this one gives its place up and
    goes to its next date (case.rescheduled, cause `displaced`). A referral of a case that
    already has an allocation joins it (`join_case`).
    """
    case_id: str = accepted.case_id
    now = now or utcnow()
    existing = uow.session.get(Allocation, case_id)
    if existing is not None:
        return join_case(uow, existing, accepted, now)
    area_id: str = accepted.area_id
    received_at: datetime = accepted.received_at
    config = calendar(uow.runtime, area_id)
    record = Allocation(
        case_id=case_id, area_id=area_id, referral_id=accepted.referral_id,
        received_at=received_at, accepted_at=accepted.accepted_at, allocated_at=now,
        updated_at=now,
        target_date=domain.target_date_for(config, domain.local_date(received_at)),
        beyond_target=False, urgent=accepted.urgent, status=WAITING, reasons=[],
        referrer_agency=accepted.referrer_agency, summary=_summary(accepted),
    )
    uow.session.add(record)
    _schedule_new(uow, record, reason="urgent" if record.urgent else None, now=now)
    return record


def _summary(accepted: ReferralAccepted) -> dict[str, Any]:
    return {key: getattr(accepted, key) for key in
            ("yes_count", "band", "criteria_met", "repeat", "case_list_entry")}


def _schedule_new(uow: UnitOfWork, record: Allocation, *, reason: str | None,
                  now: datetime) -> None:
    """Place a newly accepted case (first come, first served), announce it, and place again
    the cases it displaced; or let it wait."""
    config = calendar(uow.runtime, record.area_id)
    addenda = Addenda()
    meetings = _open_meetings(uow, record.area_id, now)
    try:
        placement = _place(uow, config, meetings, record.received_at, record.urgent, now,
                           newcomer=seat_of(record))
    except domain.NoMeetingAvailable as exc:
        _unassign(record, exc.reasons, now)
        _history(uow, record, "waiting", from_meeting=None, to_meeting=None,
                 reason="no_meeting_available", actor=SYSTEM, now=now)
        log.warning("no MARAC date can take the case; it waits",
                    extra={"case_id": record.case_id, "area_id": record.area_id})
        return
    _assign(record, placement, now)
    _history(uow, record, "scheduled", from_meeting=None, to_meeting=placement.meeting.id,
             reason=reason, actor=SYSTEM, now=now)
    _announce(uow, placement.meeting, record, previous=None, cause=None, reason=None)
    if placement.late:
        addenda.add(placement.meeting, record)
    _place_displaced(uow, placement, now, addenda)
    publish_addenda(uow, addenda, now)


def _place_displaced(uow: UnitOfWork, placement: Placement, now: datetime,
                     addenda: Addenda) -> None:
    """A case that gave its place to one accepted earlier goes to the earliest other date that
    can take it, first come, first served again (which may displace a case accepted later
    still: each step goes to a case accepted later, so it ends), or waits."""
    displaced, left = placement.displaced, placement.meeting
    while displaced is not None:
        record = displaced
        config = calendar(uow.runtime, record.area_id)
        meetings = [m for m in _open_meetings(uow, record.area_id, now) if m.id != left.id]
        try:
            moved = _place(uow, config, meetings, record.received_at, record.urgent, now,
                           newcomer=seat_of(record))
        except domain.NoMeetingAvailable as exc:
            _unassign(record, domain.displaced_reasons(left.marac_date, exc.reasons), now)
            _history(uow, record, "waiting", from_meeting=left.id, to_meeting=None,
                     reason=DISPLACED, actor=SYSTEM, now=now)
            log.warning("displaced case: no other MARAC date can take it; it waits",
                        extra={"case_id": record.case_id, "area_id": record.area_id})
            return
        moved.choice = replace(moved.choice, reasons=domain.displaced_reasons(
            left.marac_date, moved.choice.reasons))
        _assign(record, moved, now)
        _history(uow, record, "rescheduled", from_meeting=left.id, to_meeting=moved.meeting.id,
                 reason=DISPLACED, actor=SYSTEM, now=now)
        _announce(uow, moved.meeting, record, previous=left, cause=DISPLACED, reason=None)
        if moved.late:
            addenda.add(moved.meeting, record)
        displaced, left = moved.displaced, moved.meeting


def join_case(uow: UnitOfWork, record: Allocation, accepted: ReferralAccepted,
              now: datetime) -> Allocation:
    """Another accepted referral of a case that already has an allocation (the victim's
    referral joined the open case): it is told the case's date, waits with the case, or, the
    case having been heard, gets a hearing of its own. The same referral accepted again
    (after a resubmission) keeps the date it has."""
    referral_id: str = accepted.referral_id
    known = uow.session.get(AllocationReferral, referral_id)
    if referral_id == record.referral_id or known is not None:
        return record
    action = domain.joining_referral(record.status)
    if action == domain.JOIN_NOTHING:
        return record
    if action == domain.JOIN_NEW_DATE:
        return _new_hearing(uow, record, accepted, now)
    uow.session.add(AllocationReferral(
        referral_id=referral_id, case_id=record.case_id, area_id=record.area_id,
        referrer_agency=accepted.referrer_agency, joined_at=now))
    _history(uow, record, JOINED, from_meeting=None, to_meeting=record.meeting_id, reason=None,
             actor=SYSTEM, now=now)
    log.info("referral joined the case's allocation",
             extra={"case_id": record.case_id, "referral_id": referral_id})
    meeting = uow.session.get(Meeting, record.meeting_id) if record.meeting_id else None
    if action == domain.JOIN_SAME_DATE and meeting is not None:
        _announce(uow, meeting, record, previous=None, cause=None, reason=None,
                  referrals=[(referral_id, accepted.referrer_agency)])
    return record


def _new_hearing(uow: UnitOfWork, record: Allocation, accepted: ReferralAccepted,
                 now: datetime) -> Allocation:
    """The case was heard; the new referral takes the case (its one allocation row) to a new
    date of its own, as a newly accepted case. The referrals heard before are done with."""
    config = calendar(uow.runtime, record.area_id)
    heard_at = record.meeting_id
    _give_back_place(uow, heard_at)  # as a deferral does: booked counts the rows pointing at it
    uow.session.execute(delete(AllocationReferral)
                        .where(AllocationReferral.case_id == record.case_id))
    received_at: datetime = accepted.received_at
    record.previous_meeting_id = heard_at or record.previous_meeting_id
    _unassign(record, [], now)
    record.referral_id = accepted.referral_id
    record.referrer_agency = accepted.referrer_agency
    record.received_at = received_at
    record.accepted_at = accepted.accepted_at
    record.allocated_at = now
    record.urgent = accepted.urgent
    record.target_date = domain.target_date_for(config, domain.local_date(received_at))
    record.beyond_target = False
    record.outcome_at = None
    record.summary = _summary(accepted)
    uow.session.flush()
    _schedule_new(uow, record, reason=NEW_REFERRAL, now=now)
    return record


def _reallocate(uow: UnitOfWork, record: Allocation, *, cause: str, reason: str | None,
                actor: str, now: datetime, addenda: Addenda) -> Meeting | None:
    """Put a case that left its date (cancelled, deferred) on the earliest date that can take it,
    or let it wait. The place it held is given back."""
    previous = uow.session.get(Meeting, record.meeting_id) if record.meeting_id else None
    _give_back_place(uow, record.meeting_id)
    if previous is not None:
        record.previous_meeting_id = previous.id
    config = calendar(uow.runtime, record.area_id)
    meetings = [m for m in _open_meetings(uow, record.area_id, now)
                if previous is None or m.id != previous.id]
    try:
        placement = _place(uow, config, meetings, record.received_at, record.urgent, now)
    except domain.NoMeetingAvailable as exc:
        _unassign(record, exc.reasons, now)
        _history(uow, record, "waiting", from_meeting=previous.id if previous else None,
                 to_meeting=None, reason=cause, actor=actor, now=now)
        return None
    _assign(record, placement, now)
    _history(uow, record, "rescheduled", from_meeting=previous.id if previous else None,
             to_meeting=placement.meeting.id, reason=cause, actor=actor, now=now)
    _announce(uow, placement.meeting, record, previous=previous, cause=cause, reason=reason)
    if placement.late:
        addenda.add(placement.meeting, record)
    return placement.meeting


def allocate_waiting(uow: UnitOfWork, area_id: str | None, now: datetime | None = None) -> int:
    """Offer the dates now open (an added meeting, the horizon moving on, a place freed) to
    cases waiting for one, oldest referral first; returns how many found a date."""
    now = now or utcnow()
    query = select(Allocation).where(Allocation.status == WAITING)
    if area_id is not None:
        query = query.where(Allocation.area_id == area_id)
    query = query.order_by(Allocation.urgent.desc(), Allocation.received_at)
    if uow.runtime.db.is_postgres:
        query = query.with_for_update(skip_locked=True)  # another replica has those in hand
    waiting = list(uow.session.scalars(query))
    placed = 0
    addenda = Addenda()
    for record in waiting:
        config = calendar(uow.runtime, record.area_id)
        try:
            placement = _place(uow, config, _open_meetings(uow, record.area_id, now),
                               record.received_at, record.urgent, now)
        except domain.NoMeetingAvailable:
            continue
        previous = (uow.session.get(Meeting, record.previous_meeting_id)
                    if record.previous_meeting_id else None)
        _assign(record, placement, now)
        _history(uow, record, "scheduled", from_meeting=None, to_meeting=placement.meeting.id,
                 reason="waiting_list", actor=SYSTEM, now=now)
        _announce(uow, placement.meeting, record, previous=previous, cause="waiting_list",
                  reason=None)
        if placement.late:
            addenda.add(placement.meeting, record)
        placed += 1
    publish_addenda(uow, addenda, now)
    return placed


def allocate_waiting_job(runtime: Runtime) -> None:
    # A timed job starts its own trace; the events it publishes continue it.
    with tracer.start_as_current_span("scheduling allocate waiting"), runtime.unit_of_work() as uow:
        placed = allocate_waiting(uow, None)
    if placed:
        log.info("waiting cases given a date", extra={"count": placed})


# --- coordinators' changes --------------------------------------------------------------------


def find_allocation(uow: UnitOfWork, case_id: str, *, lock: bool = False) -> Allocation:
    query = select(Allocation).where(Allocation.case_id == case_id).execution_options(
        populate_existing=True)
    if lock:
        query = query.with_for_update()
    found = uow.session.scalar(query)
    if found is None:
        raise Problem(404, "Not found", "No allocation for that case.")
    return found


def find_meeting(uow: UnitOfWork, wanted: str, *, materialize: bool = False) -> Meeting:
    """The meeting; with `materialize`, a calendar date not yet written (e.g. months ahead, as
    the calendar preview shows it) is written first so a coordinator can act on it."""
    found = uow.session.scalar(select(Meeting).where(Meeting.id == wanted))
    if found is None and materialize and _materialize(uow, wanted):
        found = uow.session.scalar(select(Meeting).where(Meeting.id == wanted))
    if found is None:
        raise Problem(404, "Not found", "No such meeting.")
    return found


def _materialize(uow: UnitOfWork, wanted: str) -> bool:
    area_id, separator, day_text = wanted[:-11], wanted[-11:-10], wanted[-10:]
    visible: frozenset[str] | None = uow.session.info.get("areas")
    if separator != "-" or area_id not in uow.runtime.areas.by_id or (
            visible is not None and area_id not in visible):
        return False
    try:
        day = date.fromisoformat(day_text)
    except ValueError:
        return False
    if meeting_id(area_id, day) != wanted:
        return False
    ensure_meetings(uow, area_id, day, day)
    return True


def move_case(uow: UnitOfWork, case_id: str, target_id: str, reason: str, actor: str,
              now: datetime | None = None) -> Allocation:
    """A coordinator moves a case (scheduled or waiting) to another open date of its area.

    The coordinator's decision overrides cut-off and notice; capacity still holds. Both meeting
    rows are locked in id order first, so two opposite moves cannot deadlock.
    """
    now = now or utcnow()
    record = find_allocation(uow, case_id, lock=True)
    if record.status not in (SCHEDULED_STATUS, WAITING):
        raise Problem(409, "Conflict", "The case has been heard; it can no longer be moved.",
                      slug="case-heard")
    if record.meeting_id == target_id:
        raise Problem(409, "Conflict", "The case is already on that date.", slug="same-meeting")
    if uow.session.scalar(select(Meeting.id).where(Meeting.id == target_id)) is None:
        _materialize(uow, target_id)  # a calendar date months ahead, not yet written
    ids = sorted({target_id, *([record.meeting_id] if record.meeting_id else [])})
    locked = {m.id: m for m in uow.session.scalars(
        select(Meeting).where(Meeting.id.in_(ids)).order_by(Meeting.id).with_for_update()
        .execution_options(populate_existing=True))}
    target = locked.get(target_id)
    if target is None or target.area_id != record.area_id:
        raise Problem(422, "Invalid input", "No such meeting in the case's area.",
                      errors=[{"field": "meeting_id", "reason": "Not a MARAC date of the case's area."}])
    if target.status != "planned" or target.starts_at <= now:
        raise Problem(409, "Conflict", "That date is cancelled, held or under way.",
                      slug="meeting-closed")
    previous = locked.get(record.meeting_id) if record.meeting_id else None
    if previous is not None and previous.starts_at <= now:
        raise Problem(409, "Conflict", "The case's date has begun: record it as heard or deferred.",
                      slug="meeting-under-way")
    taken, published = _take_place(uow, target.id)
    if not taken:
        raise Problem(409, "Conflict", "That date is full.", slug="meeting-full")
    config = calendar(uow.runtime, record.area_id)
    index, start = _slot(uow, config, target)
    _give_back_place(uow, record.meeting_id)
    received_on = domain.local_date(record.received_at)
    choice = domain.Allocation(
        meeting=occurrence_of(target), slot_index=index, slot_start=start,
        target_date=domain.target_date_for(config, received_on),
        beyond_target=target.marac_date > domain.target_date_for(config, received_on),
        reasons=(f"moved:{reason}",))
    was_waiting = record.status == WAITING
    if previous is not None:
        record.previous_meeting_id = previous.id
    _assign(record, Placement(target, choice, index, start, late=published is not None), now)
    _history(uow, record, "moved", from_meeting=previous.id if previous else None,
             to_meeting=target.id, reason=reason, actor=actor, now=now)
    earlier = previous
    if was_waiting and record.previous_meeting_id:
        earlier = uow.session.get(Meeting, record.previous_meeting_id)
    _announce(uow, target, record, previous=earlier, cause="moved", reason=reason)
    if published is not None:
        addenda = Addenda()
        addenda.add(target, record)
        publish_addenda(uow, addenda, now)
    return record


@dataclass(frozen=True)
class Cancellation:
    meeting: Meeting
    moved: list[Allocation]
    waiting: list[Allocation]


def cancel_meeting(uow: UnitOfWork, target_id: str, reason: str, actor: str,
                   now: datetime | None = None) -> Cancellation:
    """Cancel a date that has not begun: each of its cases goes to the earliest date that can
    take it (or waits), its referrer is told by case.scheduled, and agencies by
    meeting.cancelled."""
    now = now or utcnow()
    meeting = find_meeting(uow, target_id, materialize=True)
    claimed = uow.session.execute(
        update(Meeting)
        .where(Meeting.id == meeting.id, Meeting.status == "planned", Meeting.starts_at > now)
        .values(status="cancelled", cancelled_at=now, cancel_reason=reason)
        .execution_options(synchronize_session=False))
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        raise Problem(409, "Conflict", "Only a planned date that has not begun can be cancelled.",
                      slug="meeting-closed")
    uow.session.refresh(meeting)
    cases = list(uow.session.scalars(
        select(Allocation).where(Allocation.meeting_id == meeting.id,
                                 Allocation.status == SCHEDULED_STATUS)
        .order_by(Allocation.urgent.desc(), Allocation.received_at)))
    addenda = Addenda()
    moved: list[Allocation] = []
    waiting: list[Allocation] = []
    for record in cases:
        landed = _reallocate(uow, record, cause="meeting_cancelled", reason=reason, actor=actor,
                             now=now, addenda=addenda)
        (moved if landed is not None else waiting).append(record)
    uow.publish(events.MEETING_CANCELLED, subject=meeting.id, area=meeting.area_id, data={
        "meeting_id": meeting.id, "area_id": meeting.area_id,
        "marac_date": meeting.marac_date.isoformat(), "model": meeting.model, "reason": reason,
        "caselist_published": meeting.caselist_published_at is not None,
        "moved_case_ids": [r.case_id for r in moved],
        "waiting_case_ids": [r.case_id for r in waiting],
    })
    publish_addenda(uow, addenda, now)
    uow.session.flush()
    uow.session.refresh(meeting)
    log.info("meeting cancelled", extra={"meeting_id": meeting.id, "area_id": meeting.area_id,
                                         "count": len(cases), "reason_code": reason})
    return Cancellation(meeting, moved, waiting)


def _record_outcome(uow: UnitOfWork, record: Allocation, meeting: Meeting, outcome: str,
                    actor: str, now: datetime) -> bool:
    """case.heard (heard or deferred) once: the conditional UPDATE lets only one caller through."""
    changed = uow.session.execute(
        update(Allocation)
        .where(Allocation.case_id == record.case_id, Allocation.meeting_id == meeting.id,
               Allocation.status == SCHEDULED_STATUS)
        .values(status=HEARD_STATUS if outcome == "heard" else "deferred", outcome_at=now,
                updated_at=now))
    if changed.rowcount != 1:  # type: ignore[attr-defined]
        return False
    for referral_id, _agency in referrals_of(uow, record):  # every referral heard with the case
        uow.publish(events.CASE_HEARD, subject=record.case_id, area=record.area_id, data={
            "case_id": record.case_id, "referral_id": referral_id, "area_id": record.area_id,
            "meeting_id": meeting.id, "marac_date": meeting.marac_date.isoformat(),
            "outcome": outcome,
        })
    _history(uow, record, outcome, from_meeting=meeting.id, to_meeting=None, reason=None,
             actor=actor, now=now)
    return True


def record_outcome(uow: UnitOfWork, case_id: str, outcome: str, actor: str,
                   now: datetime | None = None) -> Allocation:
    """Meeting model: the coordinator records a case as heard, or deferred (it then goes to the
    earliest date that can take it)."""
    now = now or utcnow()
    record = find_allocation(uow, case_id, lock=True)
    if record.status != SCHEDULED_STATUS or record.meeting_id is None:
        raise Problem(409, "Conflict", "Only a scheduled case can be recorded as heard or deferred.",
                      slug="not-scheduled")
    meeting = find_meeting(uow, record.meeting_id)
    if meeting.model != "meeting":
        raise Problem(409, "Conflict",
                      "In the co-ordination model cases are heard at the closing date; move the "
                      "case to defer it.", slug="coordination-model")
    if meeting.starts_at > now:
        raise Problem(409, "Conflict", "The meeting has not begun yet.", slug="meeting-not-begun")
    if not _record_outcome(uow, record, meeting, outcome, actor, now):
        raise Problem(409, "Conflict", "The outcome was recorded already.", slug="outcome-recorded")
    uow.session.refresh(record)
    if outcome == "deferred":
        addenda = Addenda()
        _reallocate(uow, record, cause="deferred", reason=None, actor=actor, now=now, addenda=addenda)
        publish_addenda(uow, addenda, now)
    return record


# --- case lists -------------------------------------------------------------------------------


def case_list_case(record: Allocation) -> dict[str, Any]:
    summary = record.summary
    return {
        "case_id": record.case_id, "referral_id": record.referral_id,
        "yes_count": summary.get("yes_count", 0), "band": summary.get("band", ""),
        "criteria_met": list(summary.get("criteria_met", [])),
        "repeat": bool(summary.get("repeat", False)),
        "case_list_entry": dict(summary.get("case_list_entry") or {}),
    }


def _publish_edition(uow: UnitOfWork, meeting: Meeting, edition: int,
                     records: Sequence[Allocation], now: datetime) -> CaseList:
    data = {
        "meeting_id": meeting.id, "area_id": meeting.area_id,
        "marac_date": meeting.marac_date.isoformat(), "edition": edition,
        "cases": [case_list_case(r) for r in records],
        "confidentiality_statement": uow.runtime.area(meeting.area_id).confidentiality_statement,
    }
    event_id = uow.publish(events.CASELIST_PUBLISHED, subject=meeting.id, area=meeting.area_id, data=data)
    document = CaseList(meeting_id=meeting.id, area_id=meeting.area_id, edition=edition,
                        marac_date=meeting.marac_date, published_at=now, event_id=event_id,
                        document=data)
    uow.session.add(document)
    for record in records:
        record.caselist_edition = edition
    return document


def publish_addenda(uow: UnitOfWork, addenda: Addenda, now: datetime) -> None:
    """One addendum per meeting for the late cases; this transaction holds each meeting's row
    lock (it took the places), so editions are numbered without a race."""
    for meeting, records in addenda.by_meeting.values():
        last = uow.session.scalar(
            select(func.max(CaseList.edition)).where(CaseList.meeting_id == meeting.id))
        _publish_edition(uow, meeting, (last or 0) + 1, records, now)
        log.info("case-list addendum published", extra={"meeting_id": meeting.id,
                                                        "count": len(records)})


def keys(runtime: Runtime) -> KeyStore:
    """The key store, opened on first use: only reading case lists needs it."""
    return runtime.config_as(SchedulingConfig).keys()


def readable_case(store: KeyStore, case: Mapping[str, Any]) -> dict[str, Any]:
    """A case of a case-list document with its encrypted fields decrypted for the reader."""
    body = {key: value for key, value in case.items() if key not in ("case_list_entry", "erased")}
    if case.get("erased"):
        return {**body, "details": None, "details_status": "erased"}
    details: dict[str, Any] = {}
    try:
        for name, token in (case.get("case_list_entry") or {}).items():
            details[name] = store.decrypt(case["case_id"], f"case_list.{name}", token)
    except crypto.KeyErased:
        return {**body, "details": None, "details_status": "erased"}
    except crypto.KeyUnavailable:
        raise  # configuration, not data: the caller answers 503
    except crypto.CryptoError as exc:
        log.error("case-list entry unreadable", extra={"case_id": case["case_id"],
                                                       "reason_code": type(exc).__name__})
        return {**body, "details": None, "details_status": "unreadable"}
    return {**body, "details": details, "details_status": "available"}


def case_lists(uow: UnitOfWork, target_id: str) -> list[dict[str, Any]]:
    """A meeting's published case-list documents, edition order, readable by the caller."""
    find_meeting(uow, target_id)
    documents = uow.session.scalars(
        select(CaseList).where(CaseList.meeting_id == target_id).order_by(CaseList.edition)).all()
    if not documents:
        return []
    store = keys(uow.runtime)
    return [{**document.document, "marac_date": document.marac_date,
             "published_at": document.published_at,
             "cases": [readable_case(store, case) for case in document.document["cases"]]}
            for document in documents]


def publish_case_list(uow: UnitOfWork, target_id: str, now: datetime) -> bool:
    """Edition 0 of a meeting's case list, exactly once across replicas and restarts.

    The conditional UPDATE claims the meeting; the event goes to the outbox in the same
    transaction, so a crash before commit leaves it unclaimed and unpublished for the next try,
    and a second replica's UPDATE waits on the row lock then matches nothing.
    """
    claimed = uow.session.execute(
        update(Meeting)
        .where(Meeting.id == target_id, Meeting.status == "planned",
               Meeting.caselist_published_at.is_(None))
        .values(caselist_published_at=now)
        .execution_options(synchronize_session=False))
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        return False
    fault(FAULT_AFTER_CASELIST_CLAIM)
    meeting = uow.session.scalar(select(Meeting).where(Meeting.id == target_id)
                                 .execution_options(populate_existing=True))
    assert meeting is not None
    records = list(uow.session.scalars(
        select(Allocation).where(Allocation.meeting_id == target_id,
                                 Allocation.status == SCHEDULED_STATUS)
        .order_by(Allocation.slot_index, Allocation.allocated_at)))
    _publish_edition(uow, meeting, 0, records, now)
    log.info("case list published", extra={"meeting_id": target_id, "area_id": meeting.area_id,
                                           "count": len(records)})
    return True


def publish_due_case_lists(runtime: Runtime, now: datetime | None = None, limit: int = 50) -> int:
    """The timed job: every planned date whose case list is due and not yet out."""
    now = now or utcnow()
    with runtime.unit_of_work() as uow:
        due = list(uow.session.scalars(
            select(Meeting.id).where(Meeting.status == "planned",
                                     Meeting.caselist_published_at.is_(None),
                                     Meeting.caselist_due_at <= now)
            .order_by(Meeting.caselist_due_at).limit(limit)))
    published = 0
    for target in due:
        # One meeting's failure (logged) must not hold back the lists due after it.
        try:
            with tracer.start_as_current_span("scheduling publish case list",
                                              attributes={"marac.meeting_id": target}), \
                    runtime.unit_of_work() as uow:
                published += publish_case_list(uow, target, now)
        except Exception as exc:
            log.error("case list not published; retried on the next run",
                      extra={"meeting_id": target, "reason_code": type(exc).__name__})
    return published


# --- closing dates ----------------------------------------------------------------------------


def close_date(uow: UnitOfWork, target_id: str, now: datetime) -> int:
    """Mark a past date held, once. Co-ordination model: its closing date is its hearing, so
    each case on it is heard (case.heard); meeting model: coordinators record outcomes."""
    claimed = uow.session.execute(
        update(Meeting).where(Meeting.id == target_id, Meeting.status == "planned")
        .values(status="held", held_at=now).execution_options(synchronize_session=False))
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        return 0
    meeting = uow.session.scalar(select(Meeting).where(Meeting.id == target_id)
                                 .execution_options(populate_existing=True))
    assert meeting is not None
    if meeting.model != "coordination":
        return 0
    heard = 0
    for record in uow.session.scalars(
            select(Allocation).where(Allocation.meeting_id == target_id,
                                     Allocation.status == SCHEDULED_STATUS)
            .order_by(Allocation.slot_index, Allocation.allocated_at)).all():
        heard += _record_outcome(uow, record, meeting, "heard", SYSTEM, now)
    log.info("closing date passed: cases heard", extra={"meeting_id": target_id, "count": heard})
    return heard


def close_past_dates(runtime: Runtime, now: datetime | None = None, limit: int = 50) -> int:
    """The timed job: co-ordination dates at their closing time, meetings once they end."""
    now = now or utcnow()
    with runtime.unit_of_work() as uow:
        due = list(uow.session.scalars(
            select(Meeting.id).where(
                Meeting.status == "planned",
                ((Meeting.model == "coordination") & (Meeting.starts_at <= now))
                | ((Meeting.model == "meeting") & (Meeting.ends_at <= now)))
            .order_by(Meeting.starts_at).limit(limit)))
    heard = 0
    for target in due:
        try:
            with tracer.start_as_current_span("scheduling close date",
                                              attributes={"marac.meeting_id": target}), \
                    runtime.unit_of_work() as uow:
                heard += close_date(uow, target, now)
        except Exception as exc:
            log.error("date not closed; retried on the next run",
                      extra={"meeting_id": target, "reason_code": type(exc).__name__})
    return heard


# --- what coordinators look at ----------------------------------------------------------------


@dataclass(frozen=True)
class AtRisk:
    record: Allocation
    target_date: date
    days_over: int | None


def at_risk(uow: UnitOfWork, area_id: str, now: datetime | None = None) -> list[AtRisk]:
    """Cases whose date is after their target, that cannot now meet it, or that wait for a date."""
    config = calendar(uow.runtime, area_id)
    today = local_today(now)
    records = {r.case_id: r for r in uow.session.scalars(
        select(Allocation).where(Allocation.area_id == area_id,
                                 Allocation.status.in_((SCHEDULED_STATUS, WAITING))))}
    upcoming = [domain.CaseSchedule(r.case_id, domain.local_date(r.received_at), r.marac_date)
                for r in records.values()
                if r.status == SCHEDULED_STATUS and r.marac_date is not None and r.marac_date >= today]
    found = [AtRisk(records[risk.case_id], risk.target_date, risk.days_over)
             for risk in domain.at_risk_of_missing_target(config, upcoming, today)]
    # A waiting case has no date at all: always the coordinator's to solve.
    found += [AtRisk(r, r.target_date, None) for r in records.values() if r.status == WAITING]
    return sorted(found, key=lambda item: (item.target_date, item.record.case_id))


# --- erasure ----------------------------------------------------------------------------------


def erase_case(uow: UnitOfWork, erased: CaseErased, now: datetime | None = None) -> None:
    """Drop what this service holds of an erased case: its encrypted case-list entry (on the
    allocation and in the documents sent) and, if not yet heard, its place on a date."""
    now = now or utcnow()
    case_id: str = erased.case_id
    record = uow.session.scalar(select(Allocation).where(Allocation.case_id == case_id)
                                .with_for_update())
    if record is None:
        return
    meetings = set(uow.session.scalars(
        select(AllocationChange.to_meeting_id).where(AllocationChange.case_id == case_id,
                                                     AllocationChange.to_meeting_id.is_not(None))))
    if record.meeting_id:
        meetings.add(record.meeting_id)
    for document in uow.session.scalars(select(CaseList).where(CaseList.meeting_id.in_(meetings))):
        cases = [
            {**case, "case_list_entry": {}, "erased": True} if case["case_id"] == case_id else case
            for case in document.document["cases"]
        ]
        document.document = {**document.document, "cases": cases}
    record.summary = {**record.summary, "case_list_entry": {}}
    if record.status in (SCHEDULED_STATUS, WAITING):
        starts = uow.session.scalar(select(Meeting.starts_at).where(Meeting.id == record.meeting_id))
        if starts is None or starts > now:
            left = record.meeting_id
            _give_back_place(uow, left)
            _unassign(record, [], now)
            record.status = WITHDRAWN
            record.previous_meeting_id = left or record.previous_meeting_id
            _history(uow, record, WITHDRAWN, from_meeting=left, to_meeting=None,
                     reason=erased.reason, actor=SYSTEM, now=now)
    log.info("erased case dropped", extra={"case_id": case_id, "area_id": record.area_id})
