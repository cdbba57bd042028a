"""The research reminder sweep: each agency that has not sent its return on a listed case is
sent one `research.reminder` in the area's window before the closing instant, once per return
whatever the number of worker replicas."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from opentelemetry import trace
from sqlalchemy import Exists, exists, or_, select, update

from marac_platform import events, faults
from marac_platform.db import utcnow
from marac_platform.payloads import ResearchReminder
from marac_platform.runtime import Runtime, UnitOfWork
from services.actions import domain, research, service
from services.actions.config import ActionsServiceConfig
from services.actions.models import ListedCase, ResearchReturn

log = logging.getLogger(__name__)
tracer = trace.get_tracer("services.actions")

SWEEP_BATCH = 500
OUTSTANDING = [s.value for s in domain.OUTSTANDING_RETURNS]

# Test-only: `MARAC_FAULT=actions.after_research_reminder_claim:N` kills the worker right after
# its N-th claim, before that claim's transaction commits (marac_platform/faults.py).
FAULT_AFTER_CLAIM = "actions.after_research_reminder_claim"


def _still_listed() -> Exists:
    return exists().where(ListedCase.case_id == ResearchReturn.case_id,
                          ListedCase.meeting_id == ResearchReturn.meeting_id,
                          ListedCase.status == research.LISTED)


def remind(uow: UnitOfWork, return_id: str) -> bool:
    """Send one return's reminder, once: the conditional UPDATE claims it (a second replica
    waits for the first's row lock, then matches nothing) and the event is written in the same
    transaction, so a worker killed before commit leaves both for the next sweep."""
    now = utcnow()
    claimed = uow.session.execute(
        update(ResearchReturn).where(
            ResearchReturn.id == return_id, ResearchReturn.reminded_at.is_(None),
            ResearchReturn.status.in_(OUTSTANDING), ResearchReturn.deadline > now,
            _still_listed())
        .values(reminded_at=now).execution_options(synchronize_session=False))
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        return False
    faults.kill_at(FAULT_AFTER_CLAIM)
    owed = uow.session.scalar(select(ResearchReturn).where(ResearchReturn.id == return_id)
                              .execution_options(populate_existing=True))
    assert owed is not None
    uow.publish(events.RESEARCH_REMINDER, subject=owed.case_id, area=owed.area_id,
                data=ResearchReminder(return_id=owed.id, case_id=owed.case_id,
                                      area_id=owed.area_id, meeting_id=owed.meeting_id,
                                      agency_id=owed.agency_id, deadline=owed.deadline))
    return True


def due_reminders(runtime: Runtime, now: datetime) -> list[tuple[str, str]]:
    """(return id, case id) of each unsent return not yet reminded whose window is open."""
    # Each area's own window, so that one area's many returns never hold back another's.
    windows = [(ResearchReturn.area_id == area_id)
               & (ResearchReturn.deadline <= now + timedelta(hours=config.research_reminder_hours))
               for area_id, config in runtime.config_as(ActionsServiceConfig).areas.items()
               if config.research_reminder_hours > 0]
    if not windows:
        return []
    with runtime.unit_of_work() as uow:
        candidates = uow.session.execute(
            select(ResearchReturn.id, ResearchReturn.case_id, ResearchReturn.area_id,
                   ResearchReturn.deadline).where(
                ResearchReturn.reminded_at.is_(None), ResearchReturn.status.in_(OUTSTANDING),
                ResearchReturn.deadline > now, or_(*windows), _still_listed())
            .order_by(ResearchReturn.deadline, ResearchReturn.id).limit(SWEEP_BATCH)).all()
    return [(row.id, row.case_id) for row in candidates if domain.research_reminder_due(
        row.deadline, now, service.area_config(runtime, row.area_id).research_reminder_hours)]


def sweep(runtime: Runtime) -> int:
    """The timed job: every open window's reminders, once each, one transaction per return."""
    now = utcnow()
    due = due_reminders(runtime, now)
    if not due:
        return 0
    sent = 0
    with tracer.start_as_current_span("actions research reminders",
                                      attributes={"marac.count": len(due)}):
        for return_id, case_id in due:
            try:
                with runtime.unit_of_work() as uow:
                    sent += remind(uow, return_id)
            except Exception as exc:  # one return's failure must not hold back the others
                log.error("research reminder not sent; retried on the next sweep",
                          extra={"case_id": case_id, "reason_code": type(exc).__name__})
    if sent:
        log.info("research reminders sent", extra={"count": sent})
    return sent
