"""Which events the referral service reacts to, and how: the one table to read."""

from __future__ import annotations

from marac_platform import events
from marac_platform.consumer import Handler
from marac_platform.events import Event
from marac_platform.payloads import (
    CaseErased,
    CaseHeard,
    CaseScheduled,
    RiskAssessed,
    TransferAccepted,
    TransferDeclined,
    TransferPacked,
)
from marac_platform.runtime import Runtime, UnitOfWork
from marac_platform.worker import Job
from services.referral import partners, service, transfers


def on_risk_assessed(uow: UnitOfWork, event: Event) -> None:
    service.on_assessed(uow, event.payload(RiskAssessed))


def on_case_scheduled(uow: UnitOfWork, event: Event) -> None:
    service.on_scheduled(uow, event.payload(CaseScheduled))


def on_case_heard(uow: UnitOfWork, event: Event) -> None:
    service.on_heard(uow, event.payload(CaseHeard))


def on_case_erased(uow: UnitOfWork, event: Event) -> None:
    # Our own event, back from Kafka: erasure (admin.py) shreds the key and the forms, this
    # drops the blind index and screening reasons it does not know of.
    service.on_case_erased(uow, event.payload(CaseErased))


def on_transfer_packed(uow: UnitOfWork, event: Event) -> None:
    # The actions service's part of the package: the package is complete; to an area served
    # here it is offered at once, to another deployment sent by the delivery job (once).
    transfers.on_packed(uow, event.payload(TransferPacked))


def on_transfer_accepted(uow: UnitOfWork, event: Event) -> None:
    transfers.on_answered(uow, event.payload(TransferAccepted))


def on_transfer_declined(uow: UnitOfWork, event: Event) -> None:
    transfers.on_answered(uow, event.payload(TransferDeclined))


HANDLERS: dict[str, Handler] = {
    events.RISK_ASSESSED: on_risk_assessed,
    events.CASE_SCHEDULED: on_case_scheduled,
    events.CASE_HEARD: on_case_heard,
    events.CASE_ERASED: on_case_erased,
    events.TRANSFER_PACKED: on_transfer_packed,
    events.TRANSFER_ACCEPTED: on_transfer_accepted,
    events.TRANSFER_DECLINED: on_transfer_declined,
}


def deliver_transfers(runtime: Runtime) -> None:
    # A package whose actions part never came goes without it (marked so), then is sent.
    transfers.packing_overdue(runtime)
    partners.deliver(runtime)


# Safe with several replicas: each transfer is taken with FOR UPDATE SKIP LOCKED on PostgreSQL,
# and a package or answer sent twice is the same message to the partner (by transfer id).
JOBS = [Job("deliver_transfers", 2.0, deliver_transfers)]
