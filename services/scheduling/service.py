"""The scheduling service's use cases: keep each area's meetings, and allocate accepted cases."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from marac_platform.areas import section
from marac_platform.db import utcnow
from marac_platform.runtime import Runtime, UnitOfWork
from services.scheduling import domain
from services.scheduling.models import Allocation, Meeting

SCHEDULED = "marac.case.scheduled.v1"
HORIZON_DAYS = 180


class CapacityTaken(Exception):
    """Another worker took the last place first: the event is retried with fresh counts."""


def configure(runtime: Runtime) -> None:
    runtime.config["calendars"] = {
        area.id: section(area, "scheduling", domain.CalendarConfigSchema(), runtime.areas.source)
        for area in runtime.areas.by_id.values()
    }


def calendar(runtime: Runtime, area_id: str) -> domain.CalendarConfig:
    calendars: Mapping[str, domain.CalendarConfig] = runtime.config["calendars"]
    return calendars[area_id]


def meeting_id(area_id: str, day: date) -> str:
    return f"{area_id}-{day.isoformat()}"


def ensure_meetings(uow: UnitOfWork, area_id: str, start: date, end: date) -> None:
    """Write the area's calendar dates between start and end as meeting rows, once."""
    config = calendar(uow.runtime, area_id)
    existing = set(uow.session.scalars(
        select(Meeting.marac_date).where(Meeting.area_id == area_id,
                                         Meeting.marac_date.between(start, end))))
    for occurrence in domain.meeting_dates(config, start, end):
        if occurrence.date in existing:
            continue
        uow.session.add(Meeting(
            id=meeting_id(area_id, occurrence.date), area_id=area_id,
            marac_date=occurrence.date, starts_at=occurrence.start, ends_at=occurrence.end,
            model=config.model, capacity=occurrence.capacity, booked=0, status="planned",
            ad_hoc=occurrence.ad_hoc, moved_from=occurrence.moved_from,
            caselist_due_at=domain.caselist_publish_at(config, occurrence),
        ))
    uow.session.flush()


def occurrence_of(meeting: Meeting) -> domain.MeetingOccurrence:
    return domain.MeetingOccurrence(
        date=meeting.marac_date, start=meeting.starts_at.astimezone(domain.LONDON),
        end=meeting.ends_at.astimezone(domain.LONDON), capacity=meeting.capacity,
        moved_from=meeting.moved_from, ad_hoc=meeting.ad_hoc)


def allocate_case(uow: UnitOfWork, accepted: Mapping[str, Any]) -> Allocation:
    """Give an accepted case the earliest MARAC date its area's rules allow."""
    case_id: str = accepted["case_id"]
    existing = uow.session.get(Allocation, case_id)
    if existing is not None:
        return existing  # accepted again after a resubmission: keep the date it has
    area_id: str = accepted["area_id"]
    received_at: datetime = accepted["received_at"]
    today = utcnow().date()
    ensure_meetings(uow, area_id, today, today + timedelta(days=HORIZON_DAYS))
    meetings = uow.session.scalars(
        select(Meeting).where(Meeting.area_id == area_id, Meeting.status == "planned",
                              Meeting.marac_date >= today).order_by(Meeting.marac_date)).all()
    by_id = {meeting_id(area_id, m.marac_date): m for m in meetings}
    loads = [domain.MeetingLoad(occurrence_of(m), m.booked) for m in meetings]
    config = calendar(uow.runtime, area_id)
    allocation = domain.allocate(config, received_at, loads, urgent=accepted["urgent"])
    meeting = by_id[meeting_id(area_id, allocation.meeting.date)]
    taken = uow.session.execute(
        update(Meeting).where(Meeting.id == meeting.id, Meeting.booked < Meeting.capacity)
        .values(booked=Meeting.booked + 1).execution_options(synchronize_session=False))
    if taken.rowcount != 1:  # type: ignore[attr-defined]
        raise CapacityTaken(meeting.id)
    record = Allocation(
        case_id=case_id, area_id=area_id, referral_id=accepted["referral_id"],
        meeting_id=meeting.id, slot_index=allocation.slot_index, received_at=received_at,
        allocated_at=utcnow(), target_date=allocation.target_date,
        beyond_target=allocation.beyond_target, urgent=accepted["urgent"], status="scheduled",
        reasons=list(allocation.reasons), referrer_agency=accepted["referrer_agency"],
        summary={key: accepted[key] for key in
                 ("yes_count", "band", "criteria_met", "repeat", "case_list_entry")},
    )
    uow.session.add(record)
    uow.publish(SCHEDULED, subject=case_id, area=area_id, data={
        "case_id": case_id, "referral_id": accepted["referral_id"], "area_id": area_id,
        "meeting_id": meeting.id, "marac_date": meeting.marac_date.isoformat(),
        "meeting_start": meeting.starts_at.isoformat(), "model": meeting.model,
        "slot_index": allocation.slot_index,
        "slot_start": allocation.slot_start.isoformat() if allocation.slot_start else None,
        "target_date": allocation.target_date.isoformat(),
        "beyond_target": allocation.beyond_target, "rescheduled": False,
        "referrer_agency": accepted["referrer_agency"],
    })
    return record
