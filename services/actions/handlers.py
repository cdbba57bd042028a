"""Which events the actions service reacts to, and how: the one table to read."""

from __future__ import annotations

from marac_platform import events
from marac_platform.consumer import Handler
from marac_platform.events import Event
from marac_platform.payloads import (
    CaseErased,
    CaseHeard,
    CaseListPublished,
    CaseRescheduled,
    CaseScheduled,
    MeetingCancelled,
    TransferCompleted,
    TransferRequested,
)
from marac_platform.runtime import Runtime, UnitOfWork
from marac_platform.worker import Job
from services.actions import research, research_reminders, service, smart, transfers, updates


def on_case_scheduled(uow: UnitOfWork, event: Event) -> None:
    scheduled = event.payload(CaseScheduled)
    service.remember_referrer(service.open_case_record(uow, scheduled), scheduled)


def on_case_heard(uow: UnitOfWork, event: Event) -> None:
    service.mark_heard(uow, event.payload(CaseHeard))
    updates.case_heard(uow, event.payload(CaseHeard))


def on_caselist_published(uow: UnitOfWork, event: Event) -> None:
    research.list_cases(uow, event.payload(CaseListPublished))


def on_case_rescheduled(uow: UnitOfWork, event: Event) -> None:
    research.case_moved(uow, event.payload(CaseRescheduled))


def on_meeting_cancelled(uow: UnitOfWork, event: Event) -> None:
    research.meeting_cancelled(uow, event.payload(MeetingCancelled))


def on_case_erased(uow: UnitOfWork, event: Event) -> None:
    service.erase_case(uow, event.payload(CaseErased))


def on_transfer_requested(uow: UnitOfWork, event: Event) -> None:
    transfers.pack(uow, event.payload(TransferRequested))


def on_transfer_completed(uow: UnitOfWork, event: Event) -> None:
    transfers.transfer_out(uow, event.payload(TransferCompleted))


HANDLERS: dict[str, Handler] = {
    events.CASE_SCHEDULED: on_case_scheduled,
    events.CASE_HEARD: on_case_heard,
    events.CASELIST_PUBLISHED: on_caselist_published,
    events.CASE_RESCHEDULED: on_case_rescheduled,
    events.MEETING_CANCELLED: on_meeting_cancelled,
    events.CASE_ERASED: on_case_erased,
    events.TRANSFER_REQUESTED: on_transfer_requested,
    events.TRANSFER_COMPLETED: on_transfer_completed,
}


def send_reminders(runtime: Runtime) -> None:
    smart.sweep_reminders(runtime)


def send_research_reminders(runtime: Runtime) -> None:
    research_reminders.sweep(runtime)


def compile_documents(runtime: Runtime) -> None:
    updates.compile_closed(runtime)


# Each is safe with several replicas: a reminder step is claimed by inserting its (action,
# step) key, a research reminder by a conditional UPDATE of its return, a document by one of
# its listing; the event is written to the outbox in the same transaction as the claim.
JOBS = [
    Job("action_reminders", 5.0, send_reminders),
    Job("research_reminders", 5.0, send_research_reminders),
    Job("compile_updates", 10.0, compile_documents),
]
