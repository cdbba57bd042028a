"""The actions service's use cases: open (or move) a case record when its case is scheduled."""

from __future__ import annotations

from sqlalchemy import select

from marac_platform import events
from marac_platform.db import utcnow
from marac_platform.errors import NotFound
from marac_platform.payloads import ActionCaseOpened, CaseHeard, CaseScheduled
from marac_platform.runtime import UnitOfWork
from services.actions import domain
from services.actions.models import CaseRecord


def open_case_record(uow: UnitOfWork, scheduled: CaseScheduled) -> CaseRecord:
    now = utcnow()
    record = uow.session.get(CaseRecord, scheduled.case_id)
    if record is not None:  # rescheduled: the record follows the case to its new date
        record.meeting_id = scheduled.meeting_id
        record.marac_date = scheduled.marac_date
        record.updated_at = now
        return record
    record = CaseRecord(
        case_id=scheduled.case_id, area_id=scheduled.area_id,
        referral_id=scheduled.referral_id, meeting_id=scheduled.meeting_id,
        marac_date=scheduled.marac_date, status=domain.RecordStatus.OPEN,
        opened_at=now, updated_at=now)
    uow.session.add(record)
    uow.publish(events.ACTION_CASE_OPENED, subject=record.case_id, area=record.area_id,
                data=ActionCaseOpened(case_id=record.case_id, referral_id=record.referral_id,
                                      area_id=record.area_id, meeting_id=record.meeting_id,
                                      marac_date=record.marac_date))
    return record


def find_record(uow: UnitOfWork, case_id: str) -> CaseRecord:
    """The case record, if the unit of work's areas see it."""
    found = uow.session.scalar(select(CaseRecord).where(CaseRecord.case_id == case_id))
    if found is None:
        raise NotFound("No such case.")
    return found


def mark_heard(uow: UnitOfWork, heard: CaseHeard) -> None:
    record = uow.session.get(CaseRecord, heard.case_id)
    if record is not None:
        record.status = domain.status_after_hearing(domain.RecordStatus(record.status),
                                                    heard.outcome)
        record.updated_at = utcnow()
