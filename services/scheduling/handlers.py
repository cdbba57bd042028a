"""Which events the scheduling service reacts to, and its timed jobs: the one table to read."""

from __future__ import annotations

from marac_platform import events
from marac_platform.consumer import Handler
from marac_platform.events import Event
from marac_platform.payloads import CaseErased, ReferralAccepted, TransferCompleted
from marac_platform.runtime import Runtime, UnitOfWork
from marac_platform.worker import Job
from services.scheduling import service


def on_referral_accepted(uow: UnitOfWork, event: Event) -> None:
    service.allocate_case(uow, event.payload(ReferralAccepted))


def on_case_erased(uow: UnitOfWork, event: Event) -> None:
    service.erase_case(uow, event.payload(CaseErased))


def on_transfer_completed(uow: UnitOfWork, event: Event) -> None:
    service.transfer_out(uow, event.payload(TransferCompleted))


def publish_case_lists(runtime: Runtime) -> None:
    service.publish_due_case_lists(runtime)


def close_dates(runtime: Runtime) -> None:
    service.close_past_dates(runtime)


def allocate_waiting(runtime: Runtime) -> None:
    service.allocate_waiting_job(runtime)


HANDLERS: dict[str, Handler] = {
    events.REFERRAL_ACCEPTED: on_referral_accepted,
    events.CASE_ERASED: on_case_erased,
    events.TRANSFER_COMPLETED: on_transfer_completed,
}

# Each is safe with several replicas: a conditional UPDATE claims the meeting (case lists,
# closing) and the outbox row is written in the same transaction; waiting cases are taken
# with FOR UPDATE SKIP LOCKED.
JOBS = [
    Job("publish_case_lists", 2.0, publish_case_lists),
    Job("close_dates", 30.0, close_dates),
    Job("allocate_waiting", 60.0, allocate_waiting),
]
