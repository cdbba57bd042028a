"""Case lists: each date's list published exactly once (the timed job), addenda of cases placed
after it went out, and reading the documents sent, decrypted for the reader."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update

from marac_platform import events
from marac_platform.db import utcnow
from marac_platform.faults import FAULT_ENV
from marac_platform.keystore import KeyStore
from marac_platform.runtime import Runtime, UnitOfWork
from marac_platform.security import crypto
from services.scheduling import domain
from services.scheduling.common import find_meeting, for_each_meeting
from services.scheduling.config import SchedulingConfig
from services.scheduling.models import Allocation, CaseList, Meeting

log = logging.getLogger(__name__)

# Test-only fault injection (as the outbox relay's): the worker exits after claiming a case
# list and before its transaction commits, as a crash or a kill would.
FAULT_AFTER_CASELIST_CLAIM = "scheduling.after_caselist_claim"
FAULT_EXIT_CODE = 87

PLANNED = domain.MeetingStatus.PLANNED
SCHEDULED = domain.AllocationStatus.SCHEDULED


def fault(point: str) -> None:
    if os.environ.get(FAULT_ENV) == point:
        log.warning("fault injected: exiting", extra={"reason_code": point})
        os._exit(FAULT_EXIT_CODE)


@dataclass
class Addenda:
    """Cases placed after their meeting's list went out, published once per meeting at the end."""

    by_meeting: dict[str, tuple[Meeting, list[Allocation]]] = field(default_factory=dict)

    def add(self, meeting: Meeting, record: Allocation) -> None:
        self.by_meeting.setdefault(meeting.id, (meeting, []))[1].append(record)


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
                     records: Sequence[Allocation], now: datetime,
                     transferred_to: str | None = None) -> CaseList:
    data = {
        "meeting_id": meeting.id, "area_id": meeting.area_id,
        "marac_date": meeting.marac_date.isoformat(), "edition": edition,
        "cases": [case_list_case(r) | ({"transferred_to": transferred_to, "case_list_entry": {}}
                                       if transferred_to else {}) for r in records],
        "confidentiality_statement": uow.runtime.area(meeting.area_id).confidentiality_statement,
    }
    event_id = uow.publish(events.CASELIST_PUBLISHED, subject=meeting.id, area=meeting.area_id, data=data)
    document = CaseList(meeting_id=meeting.id, area_id=meeting.area_id, edition=edition,
                        marac_date=meeting.marac_date, published_at=now, event_id=event_id,
                        document=data)
    uow.session.add(document)
    if transferred_to is None:
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


def publish_transfer_notice(uow: UnitOfWork, meeting: Meeting, record: Allocation,
                            to_area: str, now: datetime) -> None:
    """An addendum saying a case its list named went to another area (no details of it)."""
    last = uow.session.scalar(
        select(func.max(CaseList.edition)).where(CaseList.meeting_id == meeting.id))
    _publish_edition(uow, meeting, (last or 0) + 1, [record], now, transferred_to=to_area)
    log.info("case-list addendum published: case transferred",
             extra={"meeting_id": meeting.id, "case_id": record.case_id})


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

    The conditional UPDATE claims the meeting (still planned, its list not yet out); the
    event goes to the outbox in the same transaction, so a crash before commit leaves it
    unclaimed and unpublished for the next try, and a second replica's UPDATE waits on the row
    lock then matches nothing.
    """
    claimed = uow.session.execute(
        update(Meeting)
        .where(Meeting.id == target_id, Meeting.status == PLANNED,
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
                                 Allocation.status == SCHEDULED)
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
            select(Meeting.id).where(Meeting.status == PLANNED,
                                     Meeting.caselist_published_at.is_(None),
                                     Meeting.caselist_due_at <= now)
            .order_by(Meeting.caselist_due_at).limit(limit)))
    return for_each_meeting(runtime, due, "scheduling publish case list",
                            lambda uow, target: publish_case_list(uow, target, now),
                            "case list not published; retried on the next run")
