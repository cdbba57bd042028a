"""The actions service's use cases: open (or move) a case record when its case is scheduled.

Research returns, SMART actions and the information-and-updates document have their own
modules (research.py, smart.py, updates.py); what they share (the areas' settings, the key
store, ids) is here.
"""

from __future__ import annotations

from sqlalchemy import select, update

from marac_platform import events
from marac_platform.db import utcnow
from marac_platform.errors import NotFound
from marac_platform.keystore import KeyStore
from marac_platform.payloads import ActionCaseOpened, CaseErased, CaseHeard, CaseScheduled
from marac_platform.runtime import Runtime, UnitOfWork
from services.actions import domain
from services.actions.config import ActionsServiceConfig
from services.actions.models import CaseRecord


def area_config(runtime: Runtime, area_id: str) -> domain.ActionsConfig:
    return runtime.config_as(ActionsServiceConfig).areas[area_id]


def keys(runtime: Runtime) -> KeyStore:
    return runtime.config_as(ActionsServiceConfig).keys


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


def remember_referrer(record: CaseRecord, scheduled: CaseScheduled) -> None:
    """The referrer's agency is sent the case's information-and-updates document. On the
    record `open_case_record` gave: read again, a record just added cost a flush and a query."""
    record.referrer_agency = scheduled.referrer_agency


def mark_heard(uow: UnitOfWork, heard: CaseHeard) -> None:
    record = uow.session.get(CaseRecord, heard.case_id)
    if record is not None:
        record.status = domain.status_after_hearing(domain.RecordStatus(record.status),
                                                    heard.outcome)
        record.updated_at = utcnow()


def erase_case(uow: UnitOfWork, erased: CaseErased) -> None:
    """The case's key is destroyed (so what agencies wrote is unreadable already); drop the
    ciphertext too, stop its reminders and owe nothing more on it."""
    from services.actions import research
    from services.actions.models import (
        Action,
        ChairRecord,
        ListedCase,
        ResearchReturn,
        UpdatesVersion,
    )

    case_id, now = erased.case_id, utcnow()
    for listing in uow.session.scalars(select(ListedCase).where(ListedCase.case_id == case_id)):
        if listing.status == research.LISTED:
            research._withdraw_listing(uow, listing, research.ERASED)
        listing.status = research.ERASED
    uow.session.execute(update(ResearchReturn).where(ResearchReturn.case_id == case_id)
                        .values(content=None))
    uow.session.execute(update(Action).where(Action.case_id == case_id)
                        .values(details=None, erased_at=now))
    uow.session.execute(update(ChairRecord).where(ChairRecord.case_id == case_id)
                        .values(details=None))
    uow.session.execute(update(UpdatesVersion).where(UpdatesVersion.case_id == case_id)
                        .values(content=None))
