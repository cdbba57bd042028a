"""MARAC dates: listing an area's upcoming dates and agendas, the calendar preview, coordinators
adding and cancelling dates, and closing dates once past (the timed job)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select, update

from marac_platform import events
from marac_platform.db import utcnow
from marac_platform.errors import Conflict
from marac_platform.runtime import Runtime, UnitOfWork
from services.scheduling import domain
from services.scheduling.allocation import allocate_waiting, hear, reallocate
from services.scheduling.caselists import Addenda, publish_addenda
from services.scheduling.common import (
    SYSTEM,
    calendar,
    ensure_meetings,
    find_meeting,
    for_each_meeting,
    local_today,
    meeting_row,
)
from services.scheduling.models import Allocation, Meeting

log = logging.getLogger(__name__)

M = domain.MeetingStatus
SCHEDULED = domain.AllocationStatus.SCHEDULED


def free_places(meeting: Meeting, now: datetime) -> int:
    """Places a case could still take: none once the date is cancelled, held or under way."""
    return domain.free_places(meeting.status, meeting.starts_at, meeting.capacity, meeting.booked,
                              now)


# --- what coordinators and agencies read ------------------------------------------------------


def upcoming_meetings(uow: UnitOfWork, area_id: str, from_date: date | None, limit: int,
                      include_cancelled: bool, now: datetime | None = None) -> list[Meeting]:
    """An area's MARAC dates from `from_date`, or by default those not yet begun."""
    now = now or utcnow()
    start = from_date or local_today(now)
    ensure_meetings(uow, area_id, start, start + timedelta(days=domain.HORIZON_DAYS))
    statement = (select(Meeting).where(Meeting.area_id == area_id, Meeting.marac_date >= start)
                 .order_by(Meeting.marac_date).limit(limit))
    if from_date is None:
        statement = statement.where(Meeting.starts_at > now)  # today's, once begun, is not "next"
    if not include_cancelled:
        statement = statement.where(Meeting.status != M.CANCELLED)
    return list(uow.session.scalars(statement).all())


def agenda_cases(uow: UnitOfWork, meeting: Meeting) -> list[Allocation]:
    """The cases on a meeting's agenda, in slot order (then as they were placed)."""
    return list(uow.session.scalars(
        select(Allocation).where(Allocation.meeting_id == meeting.id)
        .order_by(Allocation.slot_index, Allocation.allocated_at)).all())


def calendar_preview(uow: UnitOfWork, area_id: str, count: int,
                     now: datetime | None = None) -> list[domain.MeetingOccurrence]:
    """The next `count` dates from the calendar not yet begun, with coordinators' additions
    and cancellations."""
    now = now or utcnow()
    rows = uow.session.execute(
        select(Meeting.marac_date, Meeting.status, Meeting.ad_hoc)
        .where(Meeting.area_id == area_id, Meeting.marac_date >= local_today(now))).all()
    added = [row.marac_date for row in rows if row.ad_hoc and row.status != M.CANCELLED]
    cancelled = [row.marac_date for row in rows if row.status == M.CANCELLED]
    return domain.calendar_preview(calendar(uow.runtime, area_id), now, count, added, cancelled)


# --- coordinators' changes --------------------------------------------------------------------


def add_meeting(uow: UnitOfWork, area_id: str, day: date, capacity: int | None, actor: str,
                now: datetime | None = None) -> Meeting:
    """A coordinator adds an ad hoc MARAC date; cases waiting for a date are offered it."""
    now = now or utcnow()
    config = calendar(uow.runtime, area_id)
    occurrence = domain.ad_hoc_meeting(config, day, capacity, now)
    ensure_meetings(uow, area_id, day, day)  # a calendar date not yet written counts as taken
    if uow.session.scalar(select(Meeting.id).where(Meeting.area_id == area_id,
                                                   Meeting.marac_date == day)) is not None:
        raise Conflict("The area already has a MARAC date (or a cancelled one) on that day.",
                       slug="meeting-exists")
    meeting = Meeting(**meeting_row(area_id, config, occurrence))
    uow.session.add(meeting)
    uow.session.flush()
    log.info("ad hoc meeting added", extra={"meeting_id": meeting.id, "area_id": area_id})
    allocate_waiting(uow, area_id, now)
    return meeting


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
        .where(Meeting.id == meeting.id,
               Meeting.status.in_(domain.MEETING_MOVES.sources(M.CANCELLED)),
               Meeting.starts_at > now)
        .values(status=M.CANCELLED.value, cancelled_at=now, cancel_reason=reason)
        .execution_options(synchronize_session=False))
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        uow.session.refresh(meeting)
        raise domain.cancel_refusal(meeting.status, meeting.starts_at, now)
    uow.session.refresh(meeting)
    cases = list(uow.session.scalars(
        select(Allocation).where(Allocation.meeting_id == meeting.id,
                                 Allocation.status == SCHEDULED)
        .order_by(Allocation.urgent.desc(), Allocation.received_at)))
    addenda = Addenda()
    moved: list[Allocation] = []
    waiting: list[Allocation] = []
    for record in cases:
        landed = reallocate(uow, record, cause="meeting_cancelled", reason=reason, actor=actor,
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


# --- closing dates ----------------------------------------------------------------------------


def close_date(uow: UnitOfWork, target_id: str, now: datetime) -> int:
    """Mark a past date held, once. Co-ordination model: its closing date is its hearing, so
    each case on it is heard (case.heard); meeting model: coordinators record outcomes."""
    claimed = uow.session.execute(
        update(Meeting).where(Meeting.id == target_id,
                              Meeting.status.in_(domain.MEETING_MOVES.sources(M.HELD)))
        .values(status=M.HELD.value, held_at=now).execution_options(synchronize_session=False))
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
                                     Allocation.status == SCHEDULED)
            .order_by(Allocation.slot_index, Allocation.allocated_at)).all():
        heard += hear(uow, record, meeting, domain.OUTCOME_HEARD, SYSTEM, now)
    log.info("closing date passed: cases heard", extra={"meeting_id": target_id, "count": heard})
    return heard


def close_past_dates(runtime: Runtime, now: datetime | None = None, limit: int = 50) -> int:
    """The timed job: co-ordination dates at their closing time, meetings once they end."""
    now = now or utcnow()
    with runtime.unit_of_work() as uow:
        due = list(uow.session.scalars(
            select(Meeting.id).where(
                Meeting.status.in_(domain.MEETING_MOVES.sources(M.HELD)),
                ((Meeting.model == "coordination") & (Meeting.starts_at <= now))
                | ((Meeting.model == "meeting") & (Meeting.ends_at <= now)))
            .order_by(Meeting.starts_at).limit(limit)))
    return for_each_meeting(runtime, due, "scheduling close date",
                            lambda uow, target: close_date(uow, target, now),
                            "date not closed; retried on the next run")
